package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ACMEIssuer obtains certificates from an RFC 8555 (ACME) CA, proving control of each name
// with the solvers below.
type ACMEIssuer struct {
	// URL of the CA's directory, for example https://acme-v02.api.letsencrypt.org/directory.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https'",message="acme server must be an https URL such as https://acme-v02.api.letsencrypt.org/directory"
	Server string `json:"server"`

	// Email of the ACME account, for the CA's notices. Optional, but strongly recommended.
	// +optional
	Email string `json:"email,omitempty"`

	// The Secret entry that holds the ACME account key (key tls.key when unset). certflow
	// makes the key and the Secret unless disableAccountKeyGeneration is true.
	// +required
	PrivateKey SecretKeySelector `json:"privateKeySecretRef"`

	// Binds the ACME account to an account the CA knows already, for CAs that require it.
	// +optional
	ExternalAccountBinding *ACMEExternalAccountBinding `json:"externalAccountBinding,omitempty"`

	// The chain to choose when the CA offers several: the first whose root-most certificate's
	// issuer common name is this value, for example "ISRG Root X1". No guarantee.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PreferredChain string `json:"preferredChain,omitempty"`

	// The certificate profile to ask the CA for, among those its directory lists (Let's
	// Encrypt: classic, tlsserver, shortlived).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Profile string `json:"profile,omitempty"`

	// INSECURE: do not verify the CA's TLS certificate. For development only; prefer caBundle.
	// The worker refuses it unless started with --acme-allow-skip-tls-verify.
	// +optional
	SkipTLSVerify bool `json:"skipTLSVerify,omitempty"`

	// PEM CA bundle to verify the CA's TLS certificate. Unset: the system roots.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// PEM roots the certificates this CA issues must chain to, for a private CA whose roots you
	// know: an issued chain that does not lead to one of them is refused and nothing is stored.
	// Unset: each certificate of the chain must only be signed by the next. certflow's own field.
	// +optional
	IssuingRoots []byte `json:"issuingRoots,omitempty"`

	// When true, certflow never makes an account key: privateKeySecretRef must hold one.
	// +optional
	DisableAccountKeyGeneration bool `json:"disableAccountKeyGeneration,omitempty"`

	// How to solve challenges, chosen per name by each solver's selector.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Solvers []ACMEChallengeSolver `json:"solvers,omitempty"`

	// The CA's limits, which certflow keeps to instead of discovering them by 429: it paces
	// the orders of this issuer's Certificates so that none exceeds a budget. Unset budgets
	// are the CA's own where certflow knows them. certflow's own field (cert-manager has none).
	// +optional
	RateLimits *RateLimits `json:"rateLimits,omitempty"`

	// The longest wait certflow accepts from the CA's Retry-After after a 429: a longer one
	// (a buggy or hostile answer) is cut to it, and the cut is reported. A Go duration; unset:
	// 168h, Let's Encrypt's longest window. certflow's own field.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="maxRetryAfter must be a Go duration such as 1h or 168h"
	MaxRetryAfter *metav1.Duration `json:"maxRetryAfter,omitempty"`
}

// ACMEExternalAccountBinding is an external account binding (RFC 8555 section 7.3.4).
type ACMEExternalAccountBinding struct {
	// The key ID the CA gave for the external account.
	// +required
	// +kubebuilder:validation:MinLength=1
	KeyID string `json:"keyID"`

	// The Secret entry holding the HMAC key, base64url-encoded without padding.
	// +required
	Key SecretKeySelector `json:"keySecretRef"`

	// Deprecated, as in cert-manager: the binding is always signed with HS256.
	// +optional
	KeyAlgorithm HMACKeyAlgorithm `json:"keyAlgorithm,omitempty"`
}

// HMACKeyAlgorithm is an HMAC algorithm for an external account binding.
// +kubebuilder:validation:Enum=HS256;HS384;HS512
type HMACKeyAlgorithm string

// HMAC algorithms.
const (
	HS256 HMACKeyAlgorithm = "HS256"
	HS384 HMACKeyAlgorithm = "HS384"
	HS512 HMACKeyAlgorithm = "HS512"
)

// ACMEChallengeSolver says how to solve the challenges of the names its selector picks:
// exactly one of http01, dns01 or dnsPersist01.
//
// +kubebuilder:validation:XValidation:rule="(has(self.http01) ? 1 : 0) + (has(self.dns01) ? 1 : 0) + (has(self.dnsPersist01) ? 1 : 0) == 1",message="each solver must set exactly one of http01, dns01 or dnsPersist01"
// +kubebuilder:validation:XValidation:rule="!has(self.waitInsteadOfSelfCheck) || (duration(self.waitInsteadOfSelfCheck) >= duration('0s') && duration(self.waitInsteadOfSelfCheck) <= duration('45m'))",message="waitInsteadOfSelfCheck must be between 0s and 45m",fieldPath=".waitInsteadOfSelfCheck"
// +kubebuilder:validation:XValidation:rule="!has(self.selfCheckTimeout) || (duration(self.selfCheckTimeout) > duration('0s') && duration(self.selfCheckTimeout) <= duration('45m'))",message="selfCheckTimeout must be more than 0s and at most 45m",fieldPath=".selfCheckTimeout"
type ACMEChallengeSolver struct {
	// Which names this solver is for. Unset: every name, at the lowest priority.
	// +optional
	Selector *CertificateDNSNameSelector `json:"selector,omitempty"`

	// Solve with HTTP-01 (not possible for wildcard names).
	// +optional
	HTTP01 *ACMEChallengeSolverHTTP01 `json:"http01,omitempty"`

	// Solve with DNS-01.
	// +optional
	DNS01 *ACMEChallengeSolverDNS01 `json:"dns01,omitempty"`

	// Solve with dns-persist-01 (draft-ietf-acme-dns-persist), at a CA that offers it: one
	// standing TXT record at _validation-persist.<name> that names the CA and the ACME
	// account, made through this DNS provider at the first issuance and kept (certflow
	// never removes it), so later issuances and renewals need no DNS change. Covers the
	// name's wildcard too (policy=wildcard) when the name is asked for as one.
	// +optional
	DNSPersist01 *ACMEChallengeSolverDNS01 `json:"dnsPersist01,omitempty"`

	// Skip the self-check (waiting until every authoritative nameserver of the zone
	// serves the response) and wait this long after presenting instead, then ask the CA
	// to validate: for split-horizon DNS, where certflow cannot reach the servers the CA
	// asks. 0s asks at once and leaves the waiting to the CA's own retries. At most 45m.
	// +optional
	WaitInsteadOfSelfCheck *metav1.Duration `json:"waitInsteadOfSelfCheck,omitempty"`

	// How long the self-check waits for the responses before the attempt fails, naming
	// the servers that still lack one and what they answered; 10m when unset, at most 45m
	// (the wait runs in at most five activity attempts of ten minutes).
	// +optional
	SelfCheckTimeout *metav1.Duration `json:"selfCheckTimeout,omitempty"`
}

// CertificateDNSNameSelector picks the names a solver is for, as in cert-manager: by the
// Certificate's labels, by exact name (which wins over a zone), and by DNS zone (the most
// specific zone wins). An empty selector picks everything.
type CertificateDNSNameSelector struct {
	// Labels the Certificate must have.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// Names this solver is for.
	// +optional
	// +listType=atomic
	DNSNames []string `json:"dnsNames,omitempty"`

	// Zones whose names (and subdomains) this solver is for.
	// +optional
	// +listType=atomic
	DNSZones []string `json:"dnsZones,omitempty"`
}

// ACMEChallengeSolverHTTP01 solves HTTP-01 challenges by routing
// /.well-known/acme-challenge/ to certflow's solver: exactly one of ingress or
// gatewayHTTPRoute.
//
// +kubebuilder:validation:XValidation:rule="has(self.ingress) != has(self.gatewayHTTPRoute)",message="an http01 solver must set exactly one of ingress or gatewayHTTPRoute"
type ACMEChallengeSolverHTTP01 struct {
	// Route challenges with an Ingress.
	// +optional
	Ingress *ACMEChallengeSolverHTTP01Ingress `json:"ingress,omitempty"`

	// Route challenges with a Gateway API HTTPRoute.
	// +optional
	GatewayHTTPRoute *ACMEChallengeSolverHTTP01GatewayHTTPRoute `json:"gatewayHTTPRoute,omitempty"`
}

// ACMEChallengeSolverHTTP01Ingress routes HTTP-01 challenges with an Ingress: a new one of an
// ingress class, or routes added to an existing Ingress (name).
//
// +kubebuilder:validation:XValidation:rule="(has(self.class) ? 1 : 0) + (has(self.ingressClassName) ? 1 : 0) + (has(self.name) ? 1 : 0) <= 1",message="an http01 ingress may set only one of class, ingressClassName or name"
type ACMEChallengeSolverHTTP01Ingress struct {
	// Service type of the solver Service: NodePort (the default) or ClusterIP.
	// +optional
	// +kubebuilder:validation:Enum=NodePort;ClusterIP
	ServiceType string `json:"serviceType,omitempty"`

	// spec.ingressClassName of the Ingress certflow creates. The recommended way.
	// +optional
	IngressClassName *string `json:"ingressClassName,omitempty"`

	// The kubernetes.io/ingress.class annotation of the Ingress certflow creates.
	// +optional
	Class *string `json:"class,omitempty"`

	// An existing Ingress to add the challenge routes to, instead of creating one.
	// +optional
	Name string `json:"name,omitempty"`

	// Labels and annotations for the Ingresses certflow creates.
	// +optional
	IngressTemplate *ACMEChallengeSolverHTTP01IngressTemplate `json:"ingressTemplate,omitempty"`

	// Accepted so cert-manager manifests apply: certflow starts no solver pod (one
	// responder serves every challenge), so only the labels and annotations are
	// used, on the solver Service.
	// +optional
	PodTemplate *ACMEChallengeSolverHTTP01IngressPodTemplate `json:"podTemplate,omitempty"`
}

// ACMEChallengeSolverHTTP01IngressTemplate is the metadata of the challenge Ingresses.
type ACMEChallengeSolverHTTP01IngressTemplate struct {
	// Labels and annotations added to the Ingress.
	// +optional
	Metadata ObjectMetaTemplate `json:"metadata,omitzero"`
}

// ACMEChallengeSolverHTTP01IngressPodTemplate is cert-manager's solver pod template. Its
// labels and annotations go on the solver Service; its spec is accepted and unused.
type ACMEChallengeSolverHTTP01IngressPodTemplate struct {
	// Labels and annotations added to the solver Service.
	// +optional
	Metadata ObjectMetaTemplate `json:"metadata,omitzero"`

	// cert-manager's pod spec fields (nodeSelector, tolerations, ...): no pod runs.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Spec *apiextensionsv1.JSON `json:"spec,omitempty"`
}

// ObjectMetaTemplate is the labels and annotations of an object certflow creates.
type ObjectMetaTemplate struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ACMEChallengeSolverHTTP01GatewayHTTPRoute routes HTTP-01 challenges with an HTTPRoute
// attached to the given parents (usually a Gateway listener on port 80).
type ACMEChallengeSolverHTTP01GatewayHTTPRoute struct {
	// Service type of the solver Service: NodePort (the default) or ClusterIP.
	// +optional
	// +kubebuilder:validation:Enum=NodePort;ClusterIP
	ServiceType string `json:"serviceType,omitempty"`

	// Labels for the HTTPRoutes certflow creates.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// The parents (Gateways) the HTTPRoute attaches to.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	ParentRefs []ParentReference `json:"parentRefs,omitempty"`

	// Accepted so cert-manager manifests apply: only its labels and annotations
	// are used, on the solver Service.
	// +optional
	PodTemplate *ACMEChallengeSolverHTTP01IngressPodTemplate `json:"podTemplate,omitempty"`
}

// ParentReference is the part of Gateway API's ParentReference that an HTTP-01 route needs.
type ParentReference struct {
	// Group of the parent; gateway.networking.k8s.io when unset.
	// +optional
	Group *string `json:"group,omitempty"`

	// Kind of the parent; Gateway when unset.
	// +optional
	Kind *string `json:"kind,omitempty"`

	// Namespace of the parent; the route's namespace when unset.
	// +optional
	Namespace *string `json:"namespace,omitempty"`

	// Name of the parent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// A listener of the parent, by name.
	// +optional
	SectionName *string `json:"sectionName,omitempty"`

	// A listener of the parent, by port.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`
}
