package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/url"
	"slices"

	legoacme "github.com/go-acme/lego/v5/acme"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// Finalize looks at the order first: a ready order gets BeginOrder's CSR, a
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
	s, err := a.open(ctx, in.Issuer, true)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	csr, err := a.csr(ctx, in)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	var order legoacme.ExtendedOrder
	err = s.retryWithFreshAccount(ctx, func() (err error) {
		order, err = s.core.Orders.Get(ctx, in.OrderURL)
		return err
	})
	if err != nil {
		return activities.FinalizeResult{}, fmt.Errorf("reading order: %w", err)
	}
	sent, fresh := false, true
	err = s.poll(ctx, func() (bool, string, error) {
		if !fresh {
			if order, err = s.core.Orders.Get(ctx, in.OrderURL); err != nil {
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
			updated, err := s.core.Orders.UpdateForCSR(ctx, finalizeURL, csr.Raw)
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
	return describe(chain, csr.PublicKey, in.Request)
}

// csr is the request to send: BeginOrder's, or one made from the pending
// key for an Order begun before BeginOrder made it.
func (a *Activities) csr(ctx context.Context, in activities.FinalizeInput) (*x509.CertificateRequest, error) {
	raw := in.CSR
	if len(raw) == 0 {
		key, err := a.readPendingKey(ctx, in)
		if err != nil {
			return nil, err
		}
		if raw, err = makeCSR(in.Request, key); err != nil {
			return nil, err
		}
	}
	csr, err := x509.ParseCertificateRequest(raw)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the order's CSR: "+err.Error(), activities.ErrTypeConfig, nil)
	}
	return csr, nil
}

// readPendingKey reads the key of this issuance; the Secret must still be
// the one that recorded this order.
func (a *Activities) readPendingKey(ctx context.Context, in activities.FinalizeInput) (crypto.Signer, error) {
	nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.PendingKeySecret}
	var secret corev1.Secret
	err := a.Kube.Get(ctx, nn, &secret)
	if apierrors.IsNotFound(err) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("pending key Secret %s is gone", nn), activities.ErrTypeSecretConflict, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pending key Secret %s: %w", nn, err)
	}
	if got := secret.Annotations[activities.AnnotationOrderURL]; got != in.OrderURL {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"pending key Secret %s belongs to order %q, not to this one", nn, got), activities.ErrTypeSecretConflict, nil)
	}
	key, err := pki.ParseKey(secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("pending key Secret %s: %v", nn, err), activities.ErrTypeSecretConflict, nil)
	}
	return key, nil
}

// makeCSR asks for exactly the order's identifiers (the common name is one
// of them) plus the request's URIs and email addresses.
func makeCSR(req activities.Request, key crypto.Signer) ([]byte, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: req.CommonName}, EmailAddresses: req.EmailAddresses}
	for _, id := range req.Identifiers() {
		if ip := net.ParseIP(id); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, id)
		}
	}
	for _, u := range req.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("uri %q: %v", u, err), activities.ErrTypeConfig, nil)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("making CSR: "+err.Error(), activities.ErrTypeConfig, nil)
	}
	return csr, nil
}

// describe checks the chain against the pending key (its public half) and
// the request and returns what the workflow stores: public data only.
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
	res := activities.FinalizeResult{ChainPEM: string(pki.EncodeChain(chain)), Issued: activities.IssuedFrom(leaf)}
	if top := chain[len(chain)-1]; len(chain) > 1 && selfSigned(top) {
		res.CAPEM = string(pki.EncodeChain([]*x509.Certificate{top}))
	}
	return res, nil
}
