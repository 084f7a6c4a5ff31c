package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"

	"github.com/go-acme/lego/v5/acme/api"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

// maxChainLength bounds what a CA may send: a leaf, intermediates and a root.
const maxChainLength = 8

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
		raw, err := s.core.Certificates.Get(ctx, certURL, true)
		if err != nil {
			return nil, fmt.Errorf("downloading certificate %s: %w", certURL, err)
		}
		return parseChain(certURL, raw.Cert)
	}
	all, err := s.core.Certificates.GetAll(ctx, certURL, true)
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

// parseChain reads the PEM certificates the CA sent, leaf first.
func parseChain(from string, data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if len(chain) == maxChainLength {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("certificate %s: more than %d certificates in the chain", from, maxChainLength), activities.ErrTypeACMEPermanent, nil)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("certificate %s: %v", from, err), activities.ErrTypeACMEPermanent, nil)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("certificate %s: no PEM certificate in the answer", from), activities.ErrTypeACMEPermanent, nil)
	}
	return chain, nil
}

func encodeChain(chain []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// issued is what the workflow keeps of a leaf: dates, serial and ARI ID.
func issued(leaf *x509.Certificate) activities.Issued {
	out := activities.Issued{NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Serial: leaf.SerialNumber.Text(16)}
	if len(leaf.AuthorityKeyId) > 0 {
		if id, err := api.MakeARICertID(leaf); err == nil {
			out.ARICertID = id
		}
	}
	return out
}
