package v1alpha1

// CertificatePrivateKey holds the private key options of a Certificate, as in cert-manager.
// The allowed sizes depend on the algorithm, and an unset algorithm means RSA.
//
// +kubebuilder:validation:XValidation:rule="(has(self.algorithm) && self.algorithm != 'RSA') || !has(self.size) || self.size == 0 || self.size in [2048, 3072, 4096, 8192]",message="an RSA private key size must be 2048, 3072, 4096 or 8192",fieldPath=".size"
// +kubebuilder:validation:XValidation:rule="!has(self.algorithm) || self.algorithm != 'ECDSA' || !has(self.size) || self.size == 0 || self.size in [256, 384, 521]",message="an ECDSA private key size must be 256, 384 or 521",fieldPath=".size"
// +kubebuilder:validation:XValidation:rule="!has(self.algorithm) || self.algorithm != 'Ed25519' || !has(self.size) || self.size == 0",message="an Ed25519 private key has a fixed size: leave size unset",fieldPath=".size"
type CertificatePrivateKey struct {
	// When to make a new private key: Always (the default, as in cert-manager 1.18 and
	// later) makes a new key for every issuance; Never keeps the key already in the Secret
	// across renewals.
	// +optional
	RotationPolicy PrivateKeyRotationPolicy `json:"rotationPolicy,omitempty"`

	// How the key is encoded in tls.key: PKCS1 (the default; Ed25519 keys always use PKCS8)
	// or PKCS8.
	// +optional
	Encoding PrivateKeyEncoding `json:"encoding,omitempty"`

	// Key algorithm: RSA (the default), ECDSA or Ed25519.
	// +optional
	Algorithm PrivateKeyAlgorithm `json:"algorithm,omitempty"`

	// Key size in bits. RSA: 2048 (the default), 3072, 4096 or 8192. ECDSA: 256 (the
	// default), 384 or 521. Ed25519: leave unset.
	// +optional
	Size int `json:"size,omitempty"`
}

// PrivateKeyAlgorithm is a private key algorithm.
// +kubebuilder:validation:Enum=RSA;ECDSA;Ed25519
type PrivateKeyAlgorithm string

// Private key algorithms.
const (
	RSAKeyAlgorithm     PrivateKeyAlgorithm = "RSA"
	ECDSAKeyAlgorithm   PrivateKeyAlgorithm = "ECDSA"
	Ed25519KeyAlgorithm PrivateKeyAlgorithm = "Ed25519"
)

// PrivateKeyEncoding is the PEM encoding of a private key.
// +kubebuilder:validation:Enum=PKCS1;PKCS8
type PrivateKeyEncoding string

// Private key encodings.
const (
	// PKCS1 gives PEM blocks of type "RSA PRIVATE KEY" or "EC PRIVATE KEY".
	PKCS1 PrivateKeyEncoding = "PKCS1"
	// PKCS8 gives PEM blocks of type "PRIVATE KEY".
	PKCS8 PrivateKeyEncoding = "PKCS8"
)

// PrivateKeyRotationPolicy says when a new private key is made.
// +kubebuilder:validation:Enum=Never;Always
type PrivateKeyRotationPolicy string

// Rotation policies.
const (
	RotationPolicyNever  PrivateKeyRotationPolicy = "Never"
	RotationPolicyAlways PrivateKeyRotationPolicy = "Always"
)

// KeyUsage is a key usage or extended key usage, spelled as in cert-manager
// (RFC 5280 sections 4.2.1.3 and 4.2.1.12).
// +kubebuilder:validation:Enum="signing";"digital signature";"content commitment";"key encipherment";"key agreement";"data encipherment";"cert sign";"crl sign";"encipher only";"decipher only";"any";"server auth";"client auth";"code signing";"email protection";"s/mime";"ipsec end system";"ipsec tunnel";"ipsec user";"timestamping";"ocsp signing";"microsoft sgc";"netscape sgc"
type KeyUsage string

// Key usages.
const (
	UsageSigning           KeyUsage = "signing"
	UsageDigitalSignature  KeyUsage = "digital signature"
	UsageContentCommitment KeyUsage = "content commitment"
	UsageKeyEncipherment   KeyUsage = "key encipherment"
	UsageKeyAgreement      KeyUsage = "key agreement"
	UsageDataEncipherment  KeyUsage = "data encipherment"
	UsageCertSign          KeyUsage = "cert sign"
	UsageCRLSign           KeyUsage = "crl sign"
	UsageEncipherOnly      KeyUsage = "encipher only"
	UsageDecipherOnly      KeyUsage = "decipher only"
	UsageAny               KeyUsage = "any"
	UsageServerAuth        KeyUsage = "server auth"
	UsageClientAuth        KeyUsage = "client auth"
	UsageCodeSigning       KeyUsage = "code signing"
	UsageEmailProtection   KeyUsage = "email protection"
	UsageSMIME             KeyUsage = "s/mime"
	UsageIPsecEndSystem    KeyUsage = "ipsec end system"
	UsageIPsecTunnel       KeyUsage = "ipsec tunnel"
	UsageIPsecUser         KeyUsage = "ipsec user"
	UsageTimestamping      KeyUsage = "timestamping"
	UsageOCSPSigning       KeyUsage = "ocsp signing"
	UsageMicrosoftSGC      KeyUsage = "microsoft sgc"
	UsageNetscapeSGC       KeyUsage = "netscape sgc"
)

// DefaultKeyUsages are the usages of a Certificate that sets none.
func DefaultKeyUsages() []KeyUsage {
	return []KeyUsage{UsageDigitalSignature, UsageKeyEncipherment}
}
