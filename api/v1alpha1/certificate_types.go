package v1alpha1

import (
	"maps"

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
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
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

	// Name constraints of a CA certificate (isCA): the names the certificates it signs may
	// and may not have. Only the ca and selfSigned issuers apply them.
	// +optional
	NameConstraints *NameConstraints `json:"nameConstraints,omitempty"`

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

	// Keystores to write into the Secret next to tls.crt and tls.key: PKCS#12
	// (keystore.p12, truststore.p12) and JKS (keystore.jks, truststore.jks).
	// +optional
	Keystores *CertificateKeystores `json:"keystores,omitempty"`
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
//
// The rules refuse at admission what the API server would refuse when certflow writes the
// Secret, after the CA has issued: the Secret could not be stored. Keys under certflow.dev/
// are certflow's own and refused too: a certflow.dev/pending-key label would hide the Secret
// from the controller, a certflow.dev/certificate-name label would hand it to another
// Certificate.
//
// Its deepcopy is written by hand (below): controller-gen's object generator cannot copy a
// map whose values are an alias (SecretTemplateLabelValue says why they are).
//
// +kubebuilder:object:generate=false
type CertificateSecretTemplate struct {
	// Annotations to put on the Secret. Keys are qualified names, as for labels (the prefix
	// may have capitals); at most 64 of them, whose keys and values together hold at most
	// 192 KiB, leaving room for certflow's own annotations within the API server's 256 KiB.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k.lowerAscii()).hasValue())",message="each secretTemplate annotation key must be a name of at most 63 letters, digits, dashes, underscores and dots that begins and ends with a letter or digit, optionally after a DNS subdomain prefix and a slash, such as note or example.com/note",messageExpression="'secretTemplate annotation key \"' + self.filter(k, format.qualifiedName().validate(k.lowerAscii()).hasValue())[0] + '\" is not valid: an annotation key is a name of at most 63 letters, digits, dashes, underscores and dots that begins and ends with a letter or digit, optionally after a DNS subdomain prefix and a slash, such as note or example.com/note'"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('certflow.dev/'))",message="secretTemplate annotation keys must not begin with certflow.dev/: certflow writes those annotations itself",messageExpression="'secretTemplate annotation key \"' + self.filter(k, k.startsWith('certflow.dev/'))[0] + '\" is not allowed: keys under certflow.dev/ are reserved for certflow, which writes them itself'"
	// +kubebuilder:validation:XValidation:rule="self.map(k, size(k) + size(bytes(self[k]))).sum() <= 196608",message="secretTemplate annotations may hold at most 192 KiB of keys and values together: the API server allows a Secret 256 KiB of annotations, and certflow needs room for its own"
	Annotations map[string]SecretTemplateAnnotationValue `json:"annotations,omitempty"`

	// Labels to put on the Secret. Keys are qualified names: a name of at most 63
	// characters, optionally after a DNS subdomain prefix and a slash (example.com/team);
	// values have at most 63 characters. At most 64 labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="each secretTemplate label key must be a name of at most 63 letters, digits, dashes, underscores and dots that begins and ends with a letter or digit, optionally after a lowercase DNS subdomain prefix and a slash, such as team or example.com/team",messageExpression="'secretTemplate label key \"' + self.filter(k, format.qualifiedName().validate(k).hasValue())[0] + '\" is not valid: a label key is a name of at most 63 letters, digits, dashes, underscores and dots that begins and ends with a letter or digit, optionally after a lowercase DNS subdomain prefix and a slash, such as team or example.com/team'"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('certflow.dev/'))",message="secretTemplate label keys must not begin with certflow.dev/: certflow sets those labels itself, and certflow.dev/pending-key would hide the Secret from the controller",messageExpression="'secretTemplate label key \"' + self.filter(k, k.startsWith('certflow.dev/'))[0] + '\" is not allowed: keys under certflow.dev/ are reserved for certflow (certflow.dev/pending-key would hide the Secret from the controller)'"
	Labels map[string]SecretTemplateLabelValue `json:"labels,omitempty"`
}

// DeepCopyInto copies the template into out.
func (in *CertificateSecretTemplate) DeepCopyInto(out *CertificateSecretTemplate) {
	*out = *in
	out.Annotations = maps.Clone(in.Annotations)
	out.Labels = maps.Clone(in.Labels)
}

// DeepCopy copies the template into a new one.
func (in *CertificateSecretTemplate) DeepCopy() *CertificateSecretTemplate {
	if in == nil {
		return nil
	}
	out := new(CertificateSecretTemplate)
	in.DeepCopyInto(out)
	return out
}

// The values of secretTemplate's maps are aliases of string, so that the maps stay
// map[string]string in Go, with markers that bound each value: the API server prices a rule
// on a map by how long its values may be, and refuses a CRD whose rules on unbounded values
// could cost too much.

// SecretTemplateLabelValue is the value of a secretTemplate label: empty or at most 63
// letters, digits, dashes, underscores and dots that begin and end with a letter or digit.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="!format.labelValue().validate(self).hasValue()",message="a label value must be empty or at most 63 letters, digits, dashes, underscores and dots that begin and end with a letter or digit"
type SecretTemplateLabelValue = string

// SecretTemplateAnnotationValue is the value of a secretTemplate annotation: any text, within
// the 192 KiB that the annotations may hold together.
// +kubebuilder:validation:MaxLength=196608
type SecretTemplateAnnotationValue = string

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

// NameConstraints are the X.509 name constraints of a CA certificate (RFC 5280 section
// 4.2.1.10), as cert-manager's.
type NameConstraints struct {
	// Mark the extension critical.
	// +optional
	Critical bool `json:"critical,omitempty"`

	// Names the signed certificates may have.
	// +optional
	Permitted *NameConstraintItem `json:"permitted,omitempty"`

	// Names the signed certificates may not have.
	// +optional
	Excluded *NameConstraintItem `json:"excluded,omitempty"`
}

// NameConstraintItem lists names by kind.
type NameConstraintItem struct {
	// DNS domains ("example.com" covers its subdomains).
	// +optional
	// +listType=atomic
	DNSDomains []string `json:"dnsDomains,omitempty"`

	// IP ranges in CIDR notation.
	// +optional
	// +listType=atomic
	IPRanges []string `json:"ipRanges,omitempty"`

	// Email addresses or domains.
	// +optional
	// +listType=atomic
	EmailAddresses []string `json:"emailAddresses,omitempty"`

	// URI domains.
	// +optional
	// +listType=atomic
	URIDomains []string `json:"uriDomains,omitempty"`
}
