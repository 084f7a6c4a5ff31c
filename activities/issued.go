package activities

import (
	"crypto/x509"
	"encoding/base64"
)

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
