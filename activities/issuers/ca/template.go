package ca

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// backdate is how far before now a certificate becomes valid, for clocks
// that run a little behind.
const backdate = time.Minute

// template is the certificate to sign for csr: the CSR's subject, names
// and key; the request's duration, usages, isCA and name constraints.
func template(csr *x509.CertificateRequest, req activities.Request, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("making a serial number: %w", err)
	}
	duration := req.Duration
	if duration <= 0 {
		duration = DefaultDuration
	}
	keyUsage, extKeyUsage, err := usages(req.Usages, req.IsCA)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("reading the CSR's public key: %w", err)
	}
	ski := sha1.Sum(pub) // RFC 5280 section 4.2.1.2, method 1 (over the whole key: Go's choice too)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               csr.Subject,
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		URIs:                  csr.URIs,
		EmailAddresses:        csr.EmailAddresses,
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(duration),
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  req.IsCA,
		SubjectKeyId:          ski[:],
	}
	if nc := req.NameConstraints; nc != nil {
		if !req.IsCA {
			return nil, fmt.Errorf("nameConstraints are for CA certificates (isCA: true)")
		}
		if err := constrain(tmpl, nc); err != nil {
			return nil, err
		}
	}
	return tmpl, nil
}

// withURLs adds an issuer's CRL distribution points and authority
// information access URLs.
func withURLs(tmpl *x509.Certificate, crl, ocsp, issuing []string) {
	tmpl.CRLDistributionPoints = crl
	tmpl.OCSPServer = ocsp
	tmpl.IssuingCertificateURL = issuing
}

// The key usages and extended key usages of cert-manager's names.
var (
	keyUsages = map[string]x509.KeyUsage{
		"signing": x509.KeyUsageDigitalSignature, "digital signature": x509.KeyUsageDigitalSignature,
		"content commitment": x509.KeyUsageContentCommitment, "key encipherment": x509.KeyUsageKeyEncipherment,
		"key agreement": x509.KeyUsageKeyAgreement, "data encipherment": x509.KeyUsageDataEncipherment,
		"cert sign": x509.KeyUsageCertSign, "crl sign": x509.KeyUsageCRLSign,
		"encipher only": x509.KeyUsageEncipherOnly, "decipher only": x509.KeyUsageDecipherOnly,
	}
	extKeyUsages = map[string]x509.ExtKeyUsage{
		"any": x509.ExtKeyUsageAny, "server auth": x509.ExtKeyUsageServerAuth, "client auth": x509.ExtKeyUsageClientAuth,
		"code signing": x509.ExtKeyUsageCodeSigning, "email protection": x509.ExtKeyUsageEmailProtection,
		"s/mime": x509.ExtKeyUsageEmailProtection, "ipsec end system": x509.ExtKeyUsageIPSECEndSystem,
		"ipsec tunnel": x509.ExtKeyUsageIPSECTunnel, "ipsec user": x509.ExtKeyUsageIPSECUser,
		"timestamping": x509.ExtKeyUsageTimeStamping, "ocsp signing": x509.ExtKeyUsageOCSPSigning,
		"microsoft sgc": x509.ExtKeyUsageMicrosoftServerGatedCrypto, "netscape sgc": x509.ExtKeyUsageNetscapeServerGatedCrypto,
	}
)

// usages maps the request's usages, "digital signature" and "key
// encipherment" when it names none, as cert-manager does; a CA certificate
// always has "cert sign".
func usages(names []string, isCA bool) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	if len(names) == 0 {
		names = []string{"digital signature", "key encipherment"}
	}
	var ku x509.KeyUsage
	var eku []x509.ExtKeyUsage
	for _, n := range names {
		if u, ok := keyUsages[strings.ToLower(n)]; ok {
			ku |= u
			continue
		}
		if u, ok := extKeyUsages[strings.ToLower(n)]; ok {
			eku = append(eku, u)
			continue
		}
		return 0, nil, fmt.Errorf("unknown usage %q", n)
	}
	if isCA {
		ku |= x509.KeyUsageCertSign
	}
	return ku, eku, nil
}

// constrain sets the name constraints of a CA certificate.
func constrain(tmpl *x509.Certificate, nc *certflowv1.NameConstraints) error {
	tmpl.PermittedDNSDomainsCritical = nc.Critical
	if p := nc.Permitted; p != nil {
		ranges, err := ipRanges(p.IPRanges)
		if err != nil {
			return err
		}
		tmpl.PermittedDNSDomains, tmpl.PermittedIPRanges = p.DNSDomains, ranges
		tmpl.PermittedEmailAddresses, tmpl.PermittedURIDomains = p.EmailAddresses, p.URIDomains
	}
	if e := nc.Excluded; e != nil {
		ranges, err := ipRanges(e.IPRanges)
		if err != nil {
			return err
		}
		tmpl.ExcludedDNSDomains, tmpl.ExcludedIPRanges = e.DNSDomains, ranges
		tmpl.ExcludedEmailAddresses, tmpl.ExcludedURIDomains = e.EmailAddresses, e.URIDomains
	}
	return nil
}

func ipRanges(cidrs []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("nameConstraints: %q is not a CIDR range", c)
		}
		out = append(out, n)
	}
	return out, nil
}
