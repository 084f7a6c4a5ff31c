package v1alpha1

// ObjectReference points at an issuer: an Issuer in the Certificate's namespace or a
// ClusterIssuer. It is cert-manager's issuerRef with the same fields. Group cert-manager.io is
// accepted and means certflow's issuer of that kind and name, so that a cert-manager manifest
// ports by changing apiVersion alone; any other group (an external issuer) is refused rather
// than left unserved.
//
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind in ['Issuer', 'ClusterIssuer']",message="issuerRef.kind must be Issuer or ClusterIssuer",fieldPath=".kind"
// +kubebuilder:validation:XValidation:rule="!has(self.group) || size(self.group) == 0 || self.group in ['certflow.dev', 'cert-manager.io']",message="issuerRef.group must be certflow.dev (or cert-manager.io, read as certflow.dev) or unset: certflow serves only its own Issuer and ClusterIssuer",fieldPath=".group"
type ObjectReference struct {
	// Name of the issuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind of the issuer: Issuer (the default) or ClusterIssuer.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind,omitempty"`

	// Group of the issuer: certflow.dev (the default); cert-manager.io is read as certflow.dev.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// LocalObjectReference names an object in the same namespace as the referrer (for a
// ClusterIssuer: the cluster resource namespace certflow is configured with).
type LocalObjectReference struct {
	// Name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeySelector selects one entry of a Secret. As in cert-manager, the Secret lives in the
// Issuer's namespace, or for a ClusterIssuer in the cluster resource namespace.
type SecretKeySelector struct {
	// The name of the Secret.
	LocalObjectReference `json:",inline"`

	// The key of the entry in the Secret's data. Some fields have a default key and let it
	// be omitted; where they do not, it is required.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}
