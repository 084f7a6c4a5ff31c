// Package ca is the issuers that sign in the worker, with Go's crypto/x509:
// ca, with the CA key pair in its Secret (tls.crt, tls.key), and selfSigned,
// with each certificate's own pending key. Both sign the CSR EnsurePendingKey
// made, with the Certificate's duration, usages, isCA and name constraints,
// and the issuer's CRL distribution points and authority information access
// URLs. The CA's key never leaves the activity. It must not import
// workflows.
package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	"github.com/certflow/certflow/internal/pki"
)

// DefaultDuration is a certificate's life when its Certificate sets none,
// as in cert-manager.
const DefaultDuration = 90 * 24 * time.Hour

// Activities sign certificates for ca and selfSigned issuers.
type Activities struct {
	Issuers *issuers.Resolver
	// Kube reads the CA and pending key Secrets, from the API server.
	Kube         client.Client
	Certificates *certificates.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

var _ issuers.Type = (*Activities)(nil)

// CheckRequest checks, before the key is made, that a ca issuer's key pair
// can sign; a selfSigned issuer always can.
func (a *Activities) CheckRequest(ctx context.Context, iss *issuers.Issuer, _ activities.Request, _ map[string]string) error {
	if iss.Spec.CA == nil {
		return nil
	}
	_, err := a.keyPair(ctx, iss)
	return err
}

// CheckIssuer (activities.CheckIssuer, through package signing) says
// whether the issuer can sign: Ready with the CA's
// subject, or a configuration error saying what is wrong with its Secret.
func (a *Activities) CheckIssuer(ctx context.Context, in activities.CheckIssuerInput) (activities.CheckIssuerResult, error) {
	iss, err := a.Issuers.Resolve(ctx, in.Issuer)
	if err != nil {
		return activities.CheckIssuerResult{}, err
	}
	switch {
	case iss.Spec.SelfSigned != nil:
		return activities.CheckIssuerResult{Reason: "IsReady", Message: "certificates are signed with their own keys"}, nil
	case iss.Spec.CA != nil:
		kp, err := a.keyPair(ctx, iss)
		if err != nil {
			return activities.CheckIssuerResult{}, err
		}
		return activities.CheckIssuerResult{Reason: "KeyPairVerified", Message: fmt.Sprintf("signing with the CA %q of Secret %s, valid until %s",
			kp.cert.Subject.String(), iss.Spec.CA.SecretName, kp.cert.NotAfter.UTC().Format(time.RFC3339))}, nil
	}
	return activities.CheckIssuerResult{}, activities.ConfigError("%s is neither a ca nor a selfSigned issuer", in.Issuer)
}

// Sign signs the issuance's CSR (activities.SignCertificate, through
// package signing).
func (a *Activities) Sign(ctx context.Context, in activities.SignInput) (activities.FinalizeResult, error) {
	if _, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer, Request: &in.Request}); err != nil {
		return activities.FinalizeResult{}, err
	}
	iss, err := a.Issuers.Resolve(ctx, in.Issuer)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	csr, err := x509.ParseCertificateRequest(in.CSR)
	if err != nil {
		return activities.FinalizeResult{}, activities.ConfigError("signing for %s: the CSR does not parse: %v", in.Certificate, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return activities.FinalizeResult{}, activities.ConfigError("signing for %s: the CSR's signature does not verify: %v", in.Certificate, err)
	}
	tmpl, err := template(csr, in.Request, a.now())
	if err != nil {
		return activities.FinalizeResult{}, activities.ConfigError("signing for %s: %v", in.Certificate, err)
	}
	var parent *x509.Certificate
	var signer crypto.Signer
	var chain []*x509.Certificate
	switch {
	case iss.Spec.CA != nil:
		kp, err := a.keyPair(ctx, iss)
		if err != nil {
			return activities.FinalizeResult{}, err
		}
		parent, signer, chain = kp.cert, kp.key, kp.chain
		withURLs(tmpl, iss.Spec.CA.CRLDistributionPoints, iss.Spec.CA.OCSPServers, iss.Spec.CA.IssuingCertificateURLs)
		if tmpl.NotAfter.After(parent.NotAfter) {
			tmpl.NotAfter = parent.NotAfter // a certificate outliving its CA would fail to verify
		}
	case iss.Spec.SelfSigned != nil:
		if signer, err = a.pendingKey(ctx, in); err != nil {
			return activities.FinalizeResult{}, err
		}
		parent = tmpl
		withURLs(tmpl, iss.Spec.SelfSigned.CRLDistributionPoints, nil, nil)
	default:
		return activities.FinalizeResult{}, activities.ConfigError("%s is neither a ca nor a selfSigned issuer", in.Issuer)
	}
	der, err := x509.CreateCertificate(nil, tmpl, parent, csr.PublicKey, signer)
	if err != nil {
		return activities.FinalizeResult{}, activities.ConfigError("signing for %s with %s: %v", in.Certificate, in.Issuer, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return activities.FinalizeResult{}, fmt.Errorf("reading the certificate just signed: %w", err)
	}
	chain = append([]*x509.Certificate{leaf}, chain...)
	root := chain[len(chain)-1]
	issued := activities.IssuedFrom(leaf)
	issued.ARICertID = "" // renewal windows are an ACME CA's
	return activities.FinalizeResult{ChainPEM: string(pki.EncodeChain(chain)), CAPEM: string(pki.EncodeChain([]*x509.Certificate{root})), Issued: issued}, nil
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// pendingKey reads the issuance's key, which signs a self-signed certificate.
func (a *Activities) pendingKey(ctx context.Context, in activities.SignInput) (crypto.Signer, error) {
	var secret corev1.Secret
	key := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.PendingKeySecret}
	if err := a.Kube.Get(ctx, key, &secret); err != nil {
		return nil, fmt.Errorf("reading the pending key Secret %s: %w", key, err)
	}
	signer, err := pki.ParseKey(secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("the pending key Secret %s: %w", key, err)
	}
	return signer, nil
}

// keyPair is a CA's certificate, its key, and the chain above the
// certificate in its Secret.
type keyPair struct {
	cert  *x509.Certificate
	key   crypto.Signer
	chain []*x509.Certificate // cert first
}

// keyPair reads and checks a ca issuer's Secret: a CA certificate (isCA,
// allowed to sign certificates, not expired) and the key that matches it.
// It reads from the API server every time, not from the issuers' credential
// memory: a renewed CA signs from its first moment.
func (a *Activities) keyPair(ctx context.Context, iss *issuers.Issuer) (keyPair, error) {
	name := iss.Spec.CA.SecretName
	where := fmt.Sprintf("%s: Secret %s/%s", iss.Ref, iss.SecretNamespace, name)
	var secret corev1.Secret
	if err := a.Kube.Get(ctx, types.NamespacedName{Namespace: iss.SecretNamespace, Name: name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return keyPair{}, activities.ConfigError("%s not found", where)
		}
		return keyPair{}, fmt.Errorf("%s: %w", where, err)
	}
	certPEM, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	chain, err := pki.ParseChain(certPEM)
	if err != nil {
		return keyPair{}, activities.ConfigError("%s: tls.crt: %v", where, err)
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return keyPair{}, activities.ConfigError("%s: tls.key: %v", where, err)
	}
	cert := chain[0]
	switch {
	case !pki.KeyMatches(cert, key):
		return keyPair{}, activities.ConfigError("%s: tls.key is not the key of the certificate in tls.crt", where)
	case !cert.IsCA || (cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0):
		return keyPair{}, activities.ConfigError("%s: the certificate %q is not a CA certificate (isCA with the cert sign usage)", where, cert.Subject.String())
	case a.now().After(cert.NotAfter):
		return keyPair{}, activities.ConfigError("%s: the CA certificate %q expired at %s", where, cert.Subject.String(), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return keyPair{cert: cert, key: key, chain: chain}, nil
}
