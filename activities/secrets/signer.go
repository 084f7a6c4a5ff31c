package secrets

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// signedByCurrentCA says, for a certificate a ca issuer signed, how it
// differs from what the issuer signs with now: "" when its leaf verifies
// against the CA certificate in the issuer's Secret and its ca.crt is that
// chain's root; else why not, so that a renewed or replaced CA rolls
// through to the leaves it signed. Other issuers, and a CA Secret that
// cannot be read (the issuance will say why), give "". The CA Secret is read
// from the API server, never from the issuers' credential memory: a renewal
// must be seen at once.
func (a *Activities) signedByCurrentCA(ctx context.Context, issuer activities.IssuerRef, s *corev1.Secret, leaf *x509.Certificate) (string, error) {
	if a.Issuers == nil {
		return "", nil
	}
	iss, err := a.Issuers.Resolve(ctx, issuer)
	if err != nil || iss.Spec.CA == nil {
		return "", nil // a missing issuer is the issuance's to report
	}
	var caSecret corev1.Secret
	key := types.NamespacedName{Namespace: iss.SecretNamespace, Name: iss.Spec.CA.SecretName}
	if err := a.Kube.Get(ctx, key, &caSecret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("reading the CA Secret %s of %s: %w", key, issuer, err)
	}
	chain, err := pki.ParseChain(caSecret.Data[corev1.TLSCertKey])
	if err != nil {
		return "", nil
	}
	if err := leaf.CheckSignatureFrom(chain[0]); err != nil {
		return fmt.Sprintf("its certificate was not signed by the current CA of %s (%q in Secret %s)", issuer, chain[0].Subject.String(), key), nil
	}
	stored, err := pki.ParseChain(s.Data[keyCA])
	if root := chain[len(chain)-1]; err == nil && !stored[0].Equal(root) {
		return fmt.Sprintf("its %s is not the current CA of %s (%q in Secret %s)", keyCA, issuer, root.Subject.String(), key), nil
	}
	return "", nil
}
