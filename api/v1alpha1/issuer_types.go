package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// An Issuer is a certificate authority that Certificates in its own namespace can name in
// their issuerRef. Its credentials Secrets live in the same namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=cfissuer,categories=certflow
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IssuerSpec `json:"spec"`

	// +optional
	Status IssuerStatus `json:"status,omitempty"`
}

// IssuerList is a list of Issuers.
//
// +kubebuilder:object:root=true
type IssuerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Issuer `json:"items"`
}

// A ClusterIssuer is an Issuer that Certificates in any namespace can name. Its credentials
// Secrets live in the cluster resource namespace that certflow is configured with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cfclusterissuer,categories=certflow
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IssuerSpec `json:"spec"`

	// +optional
	Status IssuerStatus `json:"status,omitempty"`
}

// ClusterIssuerList is a list of ClusterIssuers.
//
// +kubebuilder:object:root=true
type ClusterIssuerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterIssuer `json:"items"`
}

// IssuerSpec configures an Issuer or ClusterIssuer: exactly one kind of authority.
//
// +kubebuilder:validation:XValidation:rule="(has(self.acme) ? 1 : 0) + (has(self.ca) ? 1 : 0) + (has(self.selfSigned) ? 1 : 0) + (has(self.vault) ? 1 : 0) == 1",message="exactly one of acme, ca, selfSigned or vault must be set"
type IssuerSpec struct {
	// An RFC 8555 (ACME) CA such as Let's Encrypt.
	// +optional
	ACME *ACMEIssuer `json:"acme,omitempty"`

	// A CA whose key pair is stored in a Secret, for internal PKIs.
	// +optional
	CA *CAIssuer `json:"ca,omitempty"`

	// Self-signs each certificate with its own private key.
	// +optional
	SelfSigned *SelfSignedIssuer `json:"selfSigned,omitempty"`

	// A HashiCorp Vault PKI backend.
	// +optional
	Vault *VaultIssuer `json:"vault,omitempty"`

	// Wait between failed issuance attempts of the Certificates this issuer signs, unless a
	// Certificate sets its own. certflow's own field.
	// +optional
	RetryBackoff *RetryBackoff `json:"retryBackoff,omitempty"`
}

// CAIssuer signs certificates with the CA key pair stored in a Secret.
type CAIssuer struct {
	// Name of the Secret holding the CA's tls.crt and tls.key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`

	// CRL distribution points to put into issued certificates. Unset: none.
	// +optional
	// +listType=atomic
	CRLDistributionPoints []string `json:"crlDistributionPoints,omitempty"`

	// OCSP servers to put into issued certificates (authority information access). Unset: none.
	// +optional
	// +listType=atomic
	OCSPServers []string `json:"ocspServers,omitempty"`

	// URLs of the CA's certificate to put into issued certificates (authority information
	// access). Unset: none.
	// +optional
	// +listType=atomic
	IssuingCertificateURLs []string `json:"issuingCertificateURLs,omitempty"`
}

// SelfSignedIssuer self-signs each certificate with the certificate's own private key.
type SelfSignedIssuer struct {
	// CRL distribution points to put into issued certificates. Unset: none.
	// +optional
	// +listType=atomic
	CRLDistributionPoints []string `json:"crlDistributionPoints,omitempty"`
}

// VaultIssuer signs certificates through a HashiCorp Vault PKI backend.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.caBundle) && has(self.caBundleSecretRef))",message="vault may set caBundle or caBundleSecretRef, not both"
type VaultIssuer struct {
	// How certflow authenticates to Vault.
	// +required
	Auth VaultAuth `json:"auth"`

	// Address of the Vault server, for example https://vault.example.com:8200.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="vault server must be an http or https URL such as https://vault.example.com:8200"
	Server string `json:"server"`

	// Path of the PKI backend's sign endpoint, for example my_pki_mount/sign/my-role-name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path"`

	// The Vault Enterprise namespace of the requests (header X-Vault-Namespace). Unset: none.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Namespace string `json:"namespace,omitempty"`

	// PEM CA bundle to verify the Vault server's certificate. Unset: caBundleSecretRef, or
	// the system roots.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// The Secret entry holding a PEM CA bundle to verify the Vault server's certificate; the
	// key defaults to ca.crt.
	// +optional
	CABundleSecretRef *SecretKeySelector `json:"caBundleSecretRef,omitempty"`
}

// VaultAuth is how certflow authenticates to Vault: exactly one method.
//
// +kubebuilder:validation:XValidation:rule="(has(self.tokenSecretRef) ? 1 : 0) + (has(self.appRole) ? 1 : 0) + (has(self.kubernetes) ? 1 : 0) == 1",message="vault auth must set exactly one of tokenSecretRef, appRole or kubernetes"
type VaultAuth struct {
	// A Vault token stored in a Secret; the key defaults to token.
	// +optional
	TokenSecretRef *SecretKeySelector `json:"tokenSecretRef,omitempty"`

	// The AppRole auth method, with the secret ID stored in a Secret.
	// +optional
	AppRole *VaultAppRole `json:"appRole,omitempty"`

	// The Kubernetes auth method, with a ServiceAccount token stored in a Secret or requested
	// for a ServiceAccount.
	// +optional
	Kubernetes *VaultKubernetesAuth `json:"kubernetes,omitempty"`
}

// VaultAppRole authenticates with Vault's AppRole method.
type VaultAppRole struct {
	// Where the AppRole method is mounted, for example approle.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path"`

	// The role ID.
	// +required
	// +kubebuilder:validation:MinLength=1
	RoleID string `json:"roleId"`

	// The Secret entry holding the secret ID.
	// +required
	SecretRef SecretKeySelector `json:"secretRef"`
}

// VaultKubernetesAuth authenticates with Vault's Kubernetes method, with the token of a
// Secret or one requested for a ServiceAccount: exactly one.
//
// +kubebuilder:validation:XValidation:rule="(has(self.secretRef) ? 1 : 0) + (has(self.serviceAccountRef) ? 1 : 0) == 1",message="vault kubernetes auth must set exactly one of secretRef or serviceAccountRef"
type VaultKubernetesAuth struct {
	// Vault path of the Kubernetes method; /v1/auth/kubernetes when unset.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"mountPath,omitempty"`

	// The Secret entry holding a ServiceAccount token; the key defaults to token.
	// +optional
	SecretRef *SecretKeySelector `json:"secretRef,omitempty"`

	// A ServiceAccount of the issuer's namespace (a ClusterIssuer: the cluster resource
	// namespace) whose short-lived token certflow requests with the TokenRequest API.
	// +optional
	ServiceAccountRef *ServiceAccountRef `json:"serviceAccountRef,omitempty"`

	// The Vault role to assume.
	// +required
	// +kubebuilder:validation:MinLength=1
	Role string `json:"role"`
}

// IssuerStatus is what certflow found when it checked the issuer.
type IssuerStatus struct {
	// Condition Ready: True when the issuer can issue (for ACME: the account is registered).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// The ACME account, for an ACME issuer.
	// +optional
	ACME *ACMEIssuerStatus `json:"acme,omitempty"`
}

// ACMEIssuerStatus describes the registered ACME account.
type ACMEIssuerStatus struct {
	// The account URL, which identifies the account at the CA.
	// +optional
	URI string `json:"uri,omitempty"`

	// The email the account was last registered or updated with.
	// +optional
	LastRegisteredEmail string `json:"lastRegisteredEmail,omitempty"`

	// A hash of the account key the account was registered with, to notice a changed key.
	// +optional
	LastPrivateKeyHash string `json:"lastPrivateKeyHash,omitempty"`
}

// Reasons of Issuer conditions (Ready).
const (
	ReasonAccountRegistered         = "AccountRegistered"         // ACME account registered or found
	ReasonAccountRegistrationFailed = "AccountRegistrationFailed" // the CA refused or could not be reached
	ReasonKeyPairVerified           = "KeyPairVerified"           // CA issuer: the Secret holds a usable CA key pair
	ReasonSecretNotFound            = "SecretNotFound"            // a referenced Secret or key is missing
	ReasonIsReady                   = "IsReady"                   // selfSigned and other issuers with nothing to check
	ReasonVaultVerified             = "VaultVerified"             // Vault issuer: the login works and Vault answers
)
