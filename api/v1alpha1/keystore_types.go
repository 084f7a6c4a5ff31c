package v1alpha1

import "slices"

// CertificateKeystores asks for keystores in the Certificate's Secret, next to tls.crt and
// tls.key, for applications (Java, mostly) that read PKCS#12 or JKS files rather than PEM.
// The field names are cert-manager's (spec.keystores).
type CertificateKeystores struct {
	// JKS writes keystore.jks (the key and chain) and, when the issuer provides a CA
	// certificate (ca.crt), truststore.jks.
	// +optional
	JKS *JKSKeystore `json:"jks,omitempty"`

	// PKCS12 writes keystore.p12 (the key and chain) and, when the issuer provides a CA
	// certificate (ca.crt), truststore.p12.
	// +optional
	PKCS12 *PKCS12Keystore `json:"pkcs12,omitempty"`
}

// JKSKeystore is a JKS keystore in the Certificate's Secret. When create is true, exactly one
// of password and passwordSecretRef gives its password.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.password) && has(self.passwordSecretRef))",message="keystores.jks: password and passwordSecretRef are mutually exclusive: set one"
// +kubebuilder:validation:XValidation:rule="!self.create || has(self.password) || has(self.passwordSecretRef)",message="keystores.jks: create is true, so set exactly one of password and passwordSecretRef"
type JKSKeystore struct {
	// Create writes keystore.jks, and truststore.jks when the issuer provides a CA
	// certificate, both encrypted with the password. false removes them.
	// +required
	Create bool `json:"create"`

	// Alias of the key entry in the keystore; default certificate.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Alias *string `json:"alias,omitempty"`

	// PasswordSecretRef names the Secret, in the Certificate's namespace, and its key that
	// hold the password. Mutually exclusive with password.
	// +optional
	PasswordSecretRef *KeystorePasswordSecretRef `json:"passwordSecretRef,omitempty"`

	// Password is the password itself, written in the Certificate. Mutually exclusive with
	// passwordSecretRef. Anyone who can read the Certificate can read it: prefer
	// passwordSecretRef.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Password *string `json:"password,omitempty"`
}

// PKCS12Keystore is a PKCS#12 keystore in the Certificate's Secret. When create is true,
// exactly one of password and passwordSecretRef gives its password.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.password) && has(self.passwordSecretRef))",message="keystores.pkcs12: password and passwordSecretRef are mutually exclusive: set one"
// +kubebuilder:validation:XValidation:rule="!self.create || has(self.password) || has(self.passwordSecretRef)",message="keystores.pkcs12: create is true, so set exactly one of password and passwordSecretRef"
type PKCS12Keystore struct {
	// Create writes keystore.p12, and truststore.p12 when the issuer provides a CA
	// certificate, both encrypted with the password. false removes them.
	// +required
	Create bool `json:"create"`

	// Profile is the encryption and MAC of the file. Modern2023 (certflow's default: AES-256
	// and PBKDF2 with HMAC-SHA-256; OpenSSL 1.1.1 and Java 12 on read it), LegacyDES (3DES
	// and SHA-1, for old readers), LegacyRC2 (RC2-40, which OpenSSL 3 and Java 20 refuse by
	// default; cert-manager's default) or Modern2026 (PBMAC1: OpenSSL 3.4 and Java 26 on).
	// +optional
	Profile PKCS12Profile `json:"profile,omitempty"`

	// PasswordSecretRef names the Secret, in the Certificate's namespace, and its key that
	// hold the password. Mutually exclusive with password.
	// +optional
	PasswordSecretRef *KeystorePasswordSecretRef `json:"passwordSecretRef,omitempty"`

	// Password is the password itself, written in the Certificate. Mutually exclusive with
	// passwordSecretRef. Anyone who can read the Certificate can read it: prefer
	// passwordSecretRef.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Password *string `json:"password,omitempty"`
}

// KeystorePasswordSecretRef is an entry of a Secret in the Certificate's namespace that
// holds a keystore's password. Unlike an issuer's SecretKeySelector, the key is required.
type KeystorePasswordSecretRef struct {
	// The name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// The key of the entry in the Secret's data that holds the password.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// PKCS12Profile is how a PKCS#12 file is encrypted: LegacyRC2, LegacyDES, Modern2023 or
// Modern2026 (go-pkcs12's encoders of the same names).
// +kubebuilder:validation:Enum=LegacyRC2;LegacyDES;Modern2023;Modern2026
type PKCS12Profile string

// PKCS#12 profiles. An unset profile is Modern2023 in certflow; cert-manager's default is
// LegacyRC2, which current OpenSSL and Java refuse to read without legacy settings.
const (
	PKCS12ProfileLegacyRC2  PKCS12Profile = "LegacyRC2"
	PKCS12ProfileLegacyDES  PKCS12Profile = "LegacyDES"
	PKCS12ProfileModern2023 PKCS12Profile = "Modern2023"
	PKCS12ProfileModern2026 PKCS12Profile = "Modern2026"

	DefaultPKCS12Profile = PKCS12ProfileModern2023
	DefaultJKSAlias      = "certificate"
)

// Keys of the keystores in the Certificate's Secret, cert-manager's names.
const (
	PKCS12SecretKey     = "keystore.p12"
	PKCS12TruststoreKey = "truststore.p12"
	JKSSecretKey        = "keystore.jks"
	JKSTruststoreKey    = "truststore.jks"
)

// ReasonKeystorePassword is the reason of the conditions of a Certificate whose keystore
// password cannot be read: its Secret or the key in it is missing or empty.
const ReasonKeystorePassword = "KeystorePasswordNotFound"

// PasswordSecretNames are the Secrets that hold the keystores' passwords,
// in the Certificate's namespace, sorted, each once.
func (k *CertificateKeystores) PasswordSecretNames() []string {
	var names []string
	if k == nil {
		return nil
	}
	if k.JKS != nil && k.JKS.PasswordSecretRef != nil {
		names = append(names, k.JKS.PasswordSecretRef.Name)
	}
	if k.PKCS12 != nil && k.PKCS12.PasswordSecretRef != nil {
		names = append(names, k.PKCS12.PasswordSecretRef.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
