package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Certificate asks certflow to keep an up-to-date X.509 certificate and its private key in
// the Secret named by spec.secretName, issued by spec.issuerRef and renewed before it expires.
// Each Certificate is driven by one durable Temporal workflow, certificate/<namespace>/<name>;
// status tells where that workflow is.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=cfcert;cfcerts,categories=certflow
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretName`
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.spec.issuerRef.name`
// +kubebuilder:printcolumn:name="NotAfter",type=string,JSONPath=`.status.notAfter`
// +kubebuilder:printcolumn:name="Step",type=string,JSONPath=`.status.step`,priority=1
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// The certificate wanted.
	// +required
	Spec CertificateSpec `json:"spec"`

	// Where issuance stands. Written by certflow.
	// +optional
	Status CertificateStatus `json:"status,omitempty"`
}

// CertificateList is a list of Certificates.
//
// +kubebuilder:object:root=true
type CertificateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Certificate `json:"items"`
}

// CertificateSpec is the certificate wanted. As in cert-manager, these are requested
// attributes: an issuer may ignore or change some of them (an ACME CA sets its own lifetime).
//
// +kubebuilder:validation:XValidation:rule="(has(self.commonName) && size(self.commonName) > 0) || (has(self.dnsNames) && size(self.dnsNames) > 0) || (has(self.ipAddresses) && size(self.ipAddresses) > 0) || (has(self.uris) && size(self.uris) > 0) || (has(self.emailAddresses) && size(self.emailAddresses) > 0)",message="at least one of commonName, dnsNames, ipAddresses, uris or emailAddresses must be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.renewBefore) && has(self.renewBeforePercentage))",message="renewBefore and renewBeforePercentage cannot both be set: choose one",fieldPath=".renewBeforePercentage"
// +kubebuilder:validation:XValidation:rule="!has(self.renewBefore) || !self.renewBefore.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (has(self.duration) && !self.duration.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')) || duration(self.renewBefore) < (has(self.duration) ? duration(self.duration) : duration('2160h'))",message="renewBefore must be shorter than duration (which is 2160h when unset)",fieldPath=".renewBefore"
type CertificateSpec struct {
	// The rules that compare durations (here and on the type) first check that the values
	// parse, so that a malformed value gets its own message from the field's format rule
	// rather than a CEL evaluation error. The pattern is what Go's time.ParseDuration accepts,
	// less signs and leading dots.

	// Requested X.509 subject attributes other than the common name.
	// +optional
	Subject *X509Subject `json:"subject,omitempty"`

	// Requested common name. TLS clients ignore it when any subject alternative name is set;
	// at most 64 characters, the X.509 limit.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	CommonName string `json:"commonName,omitempty"`

	// Requested lifetime, a Go duration (for example 2160h). Defaults to 90 days (2160h);
	// at least 1h. ACME CAs may ignore it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="duration must be a Go duration such as 2160h or 1h30m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1h')",message="duration must be at least 1h"
	Duration *metav1.Duration `json:"duration,omitempty"`

	// How long before the certificate expires certflow renews it, a Go duration (for example
	// 720h). Defaults to a third of the issued certificate's lifetime; at least 5m; shorter
	// than duration. Cannot be set together with renewBeforePercentage.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="renewBefore must be a Go duration such as 720h or 1h30m"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('5m')",message="renewBefore must be at least 5m"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`

	// Like renewBefore, as a percentage of the issued certificate's lifetime: 25 renews when a
	// quarter of the lifetime remains. Between 1 and 99. Cannot be set together with renewBefore.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 99",message="renewBeforePercentage must be between 1 and 99"
	RenewBeforePercentage *int32 `json:"renewBeforePercentage,omitempty"`

	// Requested DNS subject alternative names. A wildcard is allowed only as the whole
	// leftmost label: *.example.com.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^([*][.])?([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?[.])*[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$')",message="each dnsNames entry must be a DNS name such as www.example.com; a wildcard is allowed only as the whole leftmost label, as in *.example.com"
	DNSNames []string `json:"dnsNames,omitempty"`

	// Requested IP address subject alternative names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="each ipAddresses entry must be an IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::1"
	IPAddresses []string `json:"ipAddresses,omitempty"`

	// Requested URI subject alternative names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=2048
	// +kubebuilder:validation:items:XValidation:rule="isURL(self) && size(url(self).getScheme()) > 0",message="each uris entry must be an absolute URI such as spiffe://cluster.local/ns/default/sa/web"
	URIs []string `json:"uris,omitempty"`

	// Requested email subject alternative names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=254
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[^@ ]+@[^@ ]+$')",message="each emailAddresses entry must be an email address such as ops@example.com"
	EmailAddresses []string `json:"emailAddresses,omitempty"`

	// Name of the Secret, in the Certificate's namespace, that certflow creates and keeps
	// up to date with tls.crt, tls.key and (when the issuer provides one) ca.crt.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="secretName must be a valid Secret name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	SecretName string `json:"secretName"`

	// Labels and annotations copied onto the Secret.
	// +optional
	SecretTemplate *CertificateSecretTemplate `json:"secretTemplate,omitempty"`

	// The issuer that signs the certificate: an Issuer in the Certificate's namespace or a
	// ClusterIssuer. Its name is required.
	// +required
	IssuerRef ObjectReference `json:"issuerRef"`

	// Requested basic constraints isCA value. When true, `cert sign` is added to the usages.
	// +optional
	IsCA bool `json:"isCA,omitempty"`

	// Requested key usages and extended key usages. Defaults to `digital signature` and
	// `key encipherment`.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Usages []KeyUsage `json:"usages,omitempty"`

	// Private key options: algorithm and size, encoding and rotation policy.
	// +optional
	PrivateKey *CertificatePrivateKey `json:"privateKey,omitempty"`

	// How many past revisions to keep a record of; at least 1. Unset keeps all.
	// +optional
	// +kubebuilder:validation:Minimum=1
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// Further issuers to try, in order, when the issuer in issuerRef fails permanently (the CA
	// refuses the names, the account, the configuration) or stays rate limited longer than
	// fallbackAfter. The next renewal starts again with issuerRef. certflow's own field.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	FallbackIssuerRefs []ObjectReference `json:"fallbackIssuerRefs,omitempty"`

	// How long a rate limit may hold an issuance before certflow tries the next issuer in
	// fallbackIssuerRefs, a Go duration; default 1h. certflow's own field.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="fallbackAfter must be a Go duration such as 1h or 30m"
	FallbackAfter *metav1.Duration `json:"fallbackAfter,omitempty"`

	// Wait between failed issuance attempts of this Certificate; overrides the issuer's
	// retryBackoff. certflow's own field.
	// +optional
	RetryBackoff *RetryBackoff `json:"retryBackoff,omitempty"`

	// Extra formats of the key and chain to write into the Secret.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2
	AdditionalOutputFormats []CertificateAdditionalOutputFormat `json:"additionalOutputFormats,omitempty"`
}

// X509Subject is the requested subject, apart from the common name.
type X509Subject struct {
	// +optional
	Organizations []string `json:"organizations,omitempty"`
	// +optional
	Countries []string `json:"countries,omitempty"`
	// +optional
	OrganizationalUnits []string `json:"organizationalUnits,omitempty"`
	// +optional
	Localities []string `json:"localities,omitempty"`
	// +optional
	Provinces []string `json:"provinces,omitempty"`
	// +optional
	StreetAddresses []string `json:"streetAddresses,omitempty"`
	// +optional
	PostalCodes []string `json:"postalCodes,omitempty"`
	// +optional
	SerialNumber string `json:"serialNumber,omitempty"`
}

// CertificateSecretTemplate holds labels and annotations that certflow copies onto the
// Certificate's Secret, alongside (never over) its own.
type CertificateSecretTemplate struct {
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// CertificateAdditionalOutputFormat names one extra format written into the Secret.
type CertificateAdditionalOutputFormat struct {
	// DER writes key.der (the private key, DER); CombinedPEM writes tls-combined.pem (the
	// key followed by the chain, PEM).
	// +required
	Type CertificateOutputFormatType `json:"type"`
}

// CertificateOutputFormatType is an additional output format: DER or CombinedPEM.
// +kubebuilder:validation:Enum=DER;CombinedPEM
type CertificateOutputFormatType string

// Additional output formats and the Secret keys they write.
const (
	CertificateOutputFormatDER         CertificateOutputFormatType = "DER"
	CertificateOutputFormatCombinedPEM CertificateOutputFormatType = "CombinedPEM"

	CertificateOutputFormatDERKey         = "key.der"
	CertificateOutputFormatCombinedPEMKey = "tls-combined.pem"
)
