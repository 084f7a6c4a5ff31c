package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/certflow/certflow/internal/metrics"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// download fetches the certificate chain (leaf first). With
// spec.acme.preferredChain it also fetches the alternates the CA links to
// and takes the first chain, the default one before the alternates in URL
// order, whose top certificate was issued by (or is) that common name; when
// none is, the default chain.
func (s *session) download(ctx context.Context, certURL string) ([]*x509.Certificate, error) {
	if certURL == "" {
		return nil, temporal.NewNonRetryableApplicationError("the valid order has no certificate URL", activities.ErrTypeACMEPermanent, nil)
	}
	if s.spec.PreferredChain == "" {
		raw, err := s.core.Certificates.Get(metrics.WithAction(ctx, metrics.ActionFetchCert), certURL, true)
		if err != nil {
			return nil, fmt.Errorf("downloading certificate %s: %w", certURL, err)
		}
		return parseChain(certURL, raw.Cert)
	}
	all, err := s.core.Certificates.GetAll(metrics.WithAction(ctx, metrics.ActionListCertAlternates), certURL, true)
	if err != nil {
		return nil, fmt.Errorf("downloading certificate %s and its alternates: %w", certURL, err)
	}
	urls := make([]string, 0, len(all))
	for u := range all {
		if u != certURL {
			urls = append(urls, u)
		}
	}
	slices.Sort(urls)
	urls = append([]string{certURL}, urls...)
	var chains [][]*x509.Certificate
	for _, u := range urls {
		chain, err := parseChain(u, all[u].Cert)
		if err != nil {
			return nil, err
		}
		top := chain[len(chain)-1]
		if top.Issuer.CommonName == s.spec.PreferredChain || top.Subject.CommonName == s.spec.PreferredChain {
			return chain, nil
		}
		chains = append(chains, chain)
	}
	return chains[0], nil
}

// parseChain reads the PEM certificates the CA sent, leaf first; a chain
// that does not parse is the CA's error, not one a retry mends.
func parseChain(from string, data []byte) ([]*x509.Certificate, error) {
	chain, err := pki.ParseChain(data)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("certificate %s: %v", from, err), activities.ErrTypeACMEPermanent, nil)
	}
	return chain, nil
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
