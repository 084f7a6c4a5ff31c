package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/certflow/certflow/internal/metrics"

	legoacme "github.com/go-acme/lego/v5/acme"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/internal/pki"
)

// Finalize looks at the order first: a ready order gets the pending key's CSR, a
// processing one is polled (heartbeating) until valid, a valid one was
// finalized by an earlier attempt and is only downloaded. The chain
// (spec.acme.preferredChain when the CA offers it) must certify the CSR's
// key for the requested names. Finalize reads no Secret: run again after
// the Secret was stored (and the pending key deleted), it still succeeds.
func (a *Activities) Finalize(ctx context.Context, in activities.FinalizeInput) (activities.FinalizeResult, error) {
	res, err := a.finalize(ctx, in)
	if err != nil {
		return activities.FinalizeResult{}, classify(fmt.Errorf("acme: finalizing order %s for %s: %w", in.OrderURL, in.Certificate, err))
	}
	return res, nil
}

func (a *Activities) finalize(ctx context.Context, in activities.FinalizeInput) (activities.FinalizeResult, error) {
	if _, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer, Request: &in.Request}); err != nil {
		return activities.FinalizeResult{}, err
	}
	csr, err := csr(in.CSR, in.Request)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	s, err := a.open(ctx, in.Issuer, true)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	if !s.onCAHost(in.OrderURL) || !s.onCAHost(in.FinalizeURL) {
		return activities.FinalizeResult{}, activities.ConfigError("order %s or its finalize URL %s is not on the CA's host %s", in.OrderURL, in.FinalizeURL, s.spec.Server)
	}
	var order legoacme.ExtendedOrder
	err = s.retryWithFreshAccount(ctx, func() (err error) {
		order, err = s.core.Orders.Get(metrics.WithAction(ctx, metrics.ActionGetOrder), in.OrderURL)
		return err
	})
	if err != nil {
		return activities.FinalizeResult{}, fmt.Errorf("reading order: %w", err)
	}
	sent, fresh := false, true
	err = s.poll(ctx, func() (bool, string, error) {
		if !fresh {
			if order, err = s.core.Orders.Get(metrics.WithAction(ctx, metrics.ActionGetOrder), in.OrderURL); err != nil {
				return false, "", fmt.Errorf("reading order: %w", err)
			}
		}
		fresh = false
		switch order.Status {
		case legoacme.StatusValid:
			return true, "", nil
		case legoacme.StatusReady:
			if sent {
				return false, in.OrderURL, nil
			}
			sent = true
			finalizeURL := order.Finalize
			if finalizeURL == "" {
				finalizeURL = in.FinalizeURL
			}
			updated, err := s.core.Orders.UpdateForCSR(metrics.WithAction(ctx, metrics.ActionCreateOrderCert), finalizeURL, csr.Raw)
			if err != nil {
				return false, "", fmt.Errorf("sending CSR: %w", err)
			}
			order.Status, order.Certificate = updated.Status, updated.Certificate
			return updated.Status == legoacme.StatusValid, in.OrderURL, nil
		case legoacme.StatusProcessing:
			return false, in.OrderURL, nil
		case legoacme.StatusInvalid:
			detail := "no reason given"
			if order.Error != nil {
				detail = problem(order.Error)
			}
			return false, "", temporal.NewNonRetryableApplicationError("the order is invalid: "+detail, activities.ErrTypeACMEPermanent, nil)
		}
		return false, "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("the order is %s: "+
			"it can be finalized only when all its authorizations are valid", order.Status), activities.ErrTypeACMEPermanent, nil)
	})
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	chain, err := s.download(ctx, order.Certificate)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	if err := leadsToRoots(chain, s.spec.IssuingRoots); err != nil {
		return activities.FinalizeResult{}, err
	}
	return describe(chain, csr.PublicKey, in.Request)
}

// leadsToRoots checks that the chain leads to one of the PEM roots the
// issuer names (spec.acme.issuingRoots); none named checks nothing.
func leadsToRoots(chain []*x509.Certificate, rootsPEM []byte) error {
	if len(rootsPEM) == 0 {
		return nil
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootsPEM) {
		return activities.ConfigError("spec.acme.issuingRoots holds no PEM certificate")
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the issued certificate does not chain to spec.acme.issuingRoots: %v; nothing was stored", err), activities.ErrTypeACMEPermanent, nil)
	}
	return nil
}

// csr parses EnsurePendingKey's request, which must ask for exactly the
// request's names.
func csr(raw []byte, req activities.Request) (*x509.CertificateRequest, error) {
	c, err := x509.ParseCertificateRequest(raw)
	if err != nil {
		return nil, activities.ConfigError("the order's CSR: %v", err)
	}
	var names, want []string
	for _, n := range c.DNSNames {
		names = append(names, canonical(n))
	}
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	for _, n := range req.Identifiers() {
		want = append(want, canonical(n))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the CSR asks for %v, the request for %v", names, want), activities.ErrTypeMismatch, nil)
	}
	return c, nil
}

// describe checks the chain against the pending key (its public half), the
// request and itself, and returns what the workflow stores: public data only.
func describe(chain []*x509.Certificate, key crypto.PublicKey, req activities.Request) (activities.FinalizeResult, error) {
	leaf := chain[0]
	want, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return activities.FinalizeResult{}, fmt.Errorf("encoding pending public key: %w", err)
	}
	got, err := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if err != nil || !bytes.Equal(got, want) {
		return activities.FinalizeResult{}, temporal.NewNonRetryableApplicationError(
			"the issued certificate is not for the pending key", activities.ErrTypeACMEPermanent, nil)
	}
	for _, id := range req.Identifiers() {
		if leaf.VerifyHostname(id) != nil && !slices.Contains(leaf.DNSNames, id) {
			return activities.FinalizeResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("the issued certificate does not name %s", id), activities.ErrTypeACMEPermanent, nil)
		}
	}
	// A chain is stored for servers to send as it is: each certificate must
	// be signed by the next.
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return activities.FinalizeResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the CA's chain does not hold together: certificate %d (%s) is not signed by certificate %d (%s): %v",
				i+1, chain[i].Subject.CommonName, i+2, chain[i+1].Subject.CommonName, err), activities.ErrTypeACMEPermanent, nil)
		}
	}
	res := activities.FinalizeResult{ChainPEM: string(pki.EncodeChain(chain)), Issued: activities.IssuedFrom(leaf)}
	if top := chain[len(chain)-1]; len(chain) > 1 && selfSigned(top) {
		res.CAPEM = string(pki.EncodeChain([]*x509.Certificate{top}))
	}
	return res, nil
}

// canonical writes a name as the CSR compares it: an IP address in its
// canonical form, a DNS name in lower case.
func canonical(name string) string {
	if ip := net.ParseIP(name); ip != nil {
		return ip.String()
	}
	return strings.ToLower(name)
}
