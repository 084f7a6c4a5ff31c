package activities

import (
	"crypto/x509"
	"encoding/base64"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// KeySpec is a Certificate's spec.privateKey.
type KeySpec struct {
	Algorithm      string // RSA, ECDSA, Ed25519; empty is RSA
	Size           int    // 0 is the algorithm's default
	Encoding       string // PKCS1 (default) or PKCS8
	RotationPolicy string // Always (default) or Never
}

// Request is the certificate a Certificate asks for: the public part of its spec.
type Request struct {
	CommonName     string
	DNSNames       []string
	IPAddresses    []string
	URIs           []string
	EmailAddresses []string
	Duration       time.Duration // 0: the issuer decides
	IsCA           bool
	Usages         []string
	// NameConstraints of a CA certificate, applied by the ca and
	// selfSigned issuers.
	NameConstraints *certflowv1.NameConstraints `json:",omitempty"`
	PrivateKey      KeySpec

	SecretName        string
	SecretLabels      map[string]string
	SecretAnnotations map[string]string
	// AdditionalOutputFormats: DER, CombinedPEM.
	AdditionalOutputFormats []string
	// Keystores to write next to tls.crt and tls.key; nil when none.
	Keystores *Keystores
}

// Keystores are the keystores of a Certificate's spec.keystores that it
// asks to create. They say where each password is, never what it is: a
// password in a workflow's input would be in its history. StoreSecret and
// InspectSecret read the passwords from the API server when they write.
type Keystores struct {
	PKCS12 *Keystore // keystore.p12, truststore.p12
	JKS    *Keystore // keystore.jks, truststore.jks
}

// Keystore is one keystore to create, as the spec says it (no defaults).
type Keystore struct {
	// Profile of a PKCS#12 keystore: LegacyRC2, LegacyDES, Modern2023 or
	// Modern2026; empty is Modern2023.
	Profile string
	// Alias of a JKS keystore's key entry; empty is "certificate".
	Alias string
	// PasswordSecret and PasswordKey name the entry of a Secret in the
	// Certificate's namespace that holds the password.
	PasswordSecret string
	PasswordKey    string
	// PasswordInline says that the password is written in the Certificate
	// (spec.keystores.*.password): the activity reads the Certificate again.
	PasswordInline bool
}

// Identifiers are the names an ACME order covers: DNS names and IP addresses,
// plus the common name when no SAN repeats it, deduplicated, in request order.
func (r Request) Identifiers() []string {
	var ids []string
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			ids = append(ids, v)
		}
	}
	add(r.CommonName)
	for _, n := range r.DNSNames {
		add(n)
	}
	for _, ip := range r.IPAddresses {
		add(ip)
	}
	return ids
}

// Issued describes a certificate that is stored or about to be: public data only.
type Issued struct {
	NotBefore time.Time
	NotAfter  time.Time
	Serial    string // hex
	// ARICertID is the RFC 9773 identifier (base64url(AKI).base64url(serial)),
	// empty when the certificate has no AKI.
	ARICertID string
}

// IssuedFrom returns the public facts of a leaf certificate. The serial is
// lower-case hex without leading zeros.
func IssuedFrom(leaf *x509.Certificate) Issued {
	return Issued{
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		Serial:    leaf.SerialNumber.Text(16),
		ARICertID: ariCertID(leaf),
	}
}

// ariCertID is the RFC 9773 certificate identifier: base64url of the AKI's
// keyIdentifier, ".", base64url of the serial's DER content octets (a
// leading zero byte when the high bit is set, since the serial is positive);
// unpadded. Empty when the certificate has no AKI.
func ariCertID(leaf *x509.Certificate) string {
	if len(leaf.AuthorityKeyId) == 0 {
		return ""
	}
	serial := leaf.SerialNumber.Bytes()
	if len(serial) == 0 || serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	return base64.RawURLEncoding.EncodeToString(leaf.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(serial)
}

// CertificateSpec is a Certificate's spec as the workflow sees it: its own
// type, not the CRD's, so CRD changes do not break running histories.
// InspectSecret reads it from the API server at the start of every cycle.
type CertificateSpec struct {
	// Generation of the Certificate the spec was read from.
	Generation            int64
	Issuer                IssuerRef
	Request               Request
	RenewBefore           time.Duration
	RenewBeforePercentage int
	// FallbackIssuers are tried in order when Issuer fails permanently or
	// stays rate limited longer than FallbackAfter (default 1h).
	FallbackIssuers []IssuerRef
	FallbackAfter   time.Duration
	// Backoff between failed attempts: the Certificate's spec.retryBackoff,
	// else its issuer's; zero fields take the defaults.
	Backoff Backoff
}

// Backoff is the wait between failed issuance attempts: Initial after the
// first, doubling, at most Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}
