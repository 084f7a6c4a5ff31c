package vault

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/pki"
)

// defaultDuration is a certificate's life when its Certificate sets none:
// cert-manager's default, which it always sends Vault as the ttl.
const defaultDuration = 90 * 24 * time.Hour

// signPath is the issuer's path as the client's Logical API takes it: the
// path below /v1/.
func signPath(path string) string {
	return strings.TrimPrefix(strings.Trim(path, "/"), "v1/")
}

// signParameters are the body of the sign request, as cert-manager sends
// it: the CSR (PEM), its common name and names (comma-separated), the
// Certificate's duration as the ttl, and exclude_cn_from_sans, so that the
// names are the CSR's and no more.
func signParameters(csr *x509.CertificateRequest, csrPEM []byte, duration time.Duration) map[string]any {
	if duration <= 0 {
		duration = defaultDuration
	}
	ips := make([]string, len(csr.IPAddresses))
	for i, ip := range csr.IPAddresses {
		ips[i] = ip.String()
	}
	uris := make([]string, len(csr.URIs))
	for i, u := range csr.URIs {
		uris[i] = u.String()
	}
	return map[string]any{
		"csr":                  string(csrPEM),
		"common_name":          csr.Subject.CommonName,
		"alt_names":            strings.Join(csr.DNSNames, ","),
		"ip_sans":              strings.Join(ips, ","),
		"uri_sans":             strings.Join(uris, ","),
		"ttl":                  duration.String(),
		"exclude_cn_from_sans": "true",
	}
}

// chainOf is the certificate of a sign response with its chain: data
// holds certificate and ca_chain (each PEM; Vault 1.11 and later put the
// root into ca_chain) or, from older Vaults, issuing_ca. Each certificate
// must have signed the one before it; a certificate given twice is kept
// once.
func chainOf(data map[string]any) ([]*x509.Certificate, error) {
	leafPEM, _ := data["certificate"].(string)
	if leafPEM == "" {
		return nil, errors.New("the answer holds no certificate")
	}
	pems := []string{leafPEM}
	if list, ok := data["ca_chain"].([]any); ok && len(list) > 0 {
		for _, c := range list {
			s, ok := c.(string)
			if !ok {
				return nil, errors.New("ca_chain is not a list of PEM certificates")
			}
			pems = append(pems, s)
		}
	} else if ca, _ := data["issuing_ca"].(string); ca != "" {
		pems = append(pems, ca)
	}
	certs, err := pki.ParseChain([]byte(strings.Join(pems, "\n")))
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, c := range certs {
		if len(chain) > 0 && chain[len(chain)-1].Equal(c) {
			continue
		}
		if len(chain) > 0 {
			if err := chain[len(chain)-1].CheckSignatureFrom(c); err != nil {
				return nil, fmt.Errorf("%q is not signed by %q, the next certificate of the chain: %w", chain[len(chain)-1].Subject, c.Subject, err)
			}
		}
		chain = append(chain, c)
	}
	if len(chain) == 1 {
		return nil, errors.New("the answer holds neither ca_chain nor issuing_ca")
	}
	return chain, nil
}
