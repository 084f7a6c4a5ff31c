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

// The key usages and extended key usages of the API's names (cert-manager's).
var (
	keyUsages = map[certflowv1.KeyUsage]x509.KeyUsage{
		certflowv1.UsageSigning: x509.KeyUsageDigitalSignature, certflowv1.UsageDigitalSignature: x509.KeyUsageDigitalSignature,
		certflowv1.UsageContentCommitment: x509.KeyUsageContentCommitment, certflowv1.UsageKeyEncipherment: x509.KeyUsageKeyEncipherment,
		certflowv1.UsageKeyAgreement: x509.KeyUsageKeyAgreement, certflowv1.UsageDataEncipherment: x509.KeyUsageDataEncipherment,
		certflowv1.UsageCertSign: x509.KeyUsageCertSign, certflowv1.UsageCRLSign: x509.KeyUsageCRLSign,
		certflowv1.UsageEncipherOnly: x509.KeyUsageEncipherOnly, certflowv1.UsageDecipherOnly: x509.KeyUsageDecipherOnly,
	}
	extKeyUsages = map[certflowv1.KeyUsage]x509.ExtKeyUsage{
		certflowv1.UsageAny: x509.ExtKeyUsageAny, certflowv1.UsageServerAuth: x509.ExtKeyUsageServerAuth,
		certflowv1.UsageClientAuth: x509.ExtKeyUsageClientAuth, certflowv1.UsageCodeSigning: x509.ExtKeyUsageCodeSigning,
		certflowv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection, certflowv1.UsageSMIME: x509.ExtKeyUsageEmailProtection,
		certflowv1.UsageIPsecEndSystem: x509.ExtKeyUsageIPSECEndSystem, certflowv1.UsageIPsecTunnel: x509.ExtKeyUsageIPSECTunnel,
		certflowv1.UsageIPsecUser: x509.ExtKeyUsageIPSECUser, certflowv1.UsageTimestamping: x509.ExtKeyUsageTimeStamping,
		certflowv1.UsageOCSPSigning: x509.ExtKeyUsageOCSPSigning, certflowv1.UsageMicrosoftSGC: x509.ExtKeyUsageMicrosoftServerGatedCrypto,
		certflowv1.UsageNetscapeSGC: x509.ExtKeyUsageNetscapeServerGatedCrypto,
	}
)

// usages maps the request's usages, the API's defaults when it names none
// (certflowv1.DefaultKeyUsages, as cert-manager's); a CA certificate
// always has "cert sign".
func usages(names []string, isCA bool) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	requested := certflowv1.DefaultKeyUsages()
	if len(names) > 0 {
		requested = requested[:0]
		for _, n := range names {
			requested = append(requested, certflowv1.KeyUsage(strings.ToLower(n)))
		}
	}
	var ku x509.KeyUsage
	var eku []x509.ExtKeyUsage
	for _, u := range requested {
		if k, ok := keyUsages[u]; ok {
			ku |= k
			continue
		}
		if e, ok := extKeyUsages[u]; ok {
			eku = append(eku, e)
			continue
		}
		return 0, nil, fmt.Errorf("unknown usage %q", u)
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
