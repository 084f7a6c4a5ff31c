// Package vault is the vault issuer: it has a HashiCorp Vault PKI backend
// sign the issuance's CSR at the issuer's path (pki/sign/<role>), after
// logging in with a token from a Secret, AppRole or the Kubernetes method,
// as cert-manager's Vault issuer does. Every call goes through Vault's own
// Go client. Tokens and secret IDs stay inside the activity: they are read
// from Secrets (or the TokenRequest API) and never returned, wrapped into
// an error or logged. It must not import workflows.
package vault

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// Activities sign certificates for vault issuers.
type Activities struct {
	Issuers      *issuers.Resolver
	Certificates *certificates.Reader
	// Tokens requests ServiceAccount tokens for the Kubernetes method with
	// serviceAccountRef.
	Tokens TokenRequester
}

var _ issuers.Type = (*Activities)(nil)

// CheckRequest accepts every request: which names the role allows only
// Vault knows, and it says so when asked to sign.
func (a *Activities) CheckRequest(context.Context, *issuers.Issuer, activities.Request, map[string]string) error {
	return nil
}

// CheckIssuer logs in and asks Vault whether it is unsealed: the issuer is
// Ready only when both work.
func (a *Activities) CheckIssuer(ctx context.Context, in activities.CheckIssuerInput) (activities.CheckIssuerResult, error) {
	iss, err := a.resolve(ctx, in.Issuer)
	if err != nil {
		return activities.CheckIssuerResult{}, err
	}
	c, err := a.login(ctx, iss)
	if err != nil {
		return activities.CheckIssuerResult{}, err
	}
	health, err := c.Sys().HealthWithContext(ctx)
	if err != nil {
		return activities.CheckIssuerResult{}, classify(iss, "reading sys/health", err)
	}
	if health.Sealed || !health.Initialized {
		return activities.CheckIssuerResult{}, fmt.Errorf("%s: Vault at %s is sealed or not initialized", iss.Ref, iss.Spec.Vault.Server)
	}
	return activities.CheckIssuerResult{Reason: certflowv1.ReasonVaultVerified, Message: fmt.Sprintf("logged in to Vault %s at %s with %s",
		health.Version, iss.Spec.Vault.Server, method(iss.Spec.Vault.Auth))}, nil
}

// Sign has Vault sign the issuance's CSR and returns the certificate with
// Vault's chain, checked: the certificate is for the CSR's key and each
// certificate of the chain signed the one before it.
func (a *Activities) Sign(ctx context.Context, in activities.SignInput) (activities.FinalizeResult, error) {
	if _, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer, Request: &in.Request}); err != nil {
		return activities.FinalizeResult{}, err
	}
	iss, err := a.resolve(ctx, in.Issuer)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	return a.sign(ctx, iss, in)
}

// sign logs in, posts the CSR and checks the answer.
func (a *Activities) sign(ctx context.Context, iss *issuers.Issuer, in activities.SignInput) (activities.FinalizeResult, error) {
	csr, err := x509.ParseCertificateRequest(in.CSR)
	if err != nil {
		return activities.FinalizeResult{}, activities.ConfigError("signing for %s: the CSR does not parse: %v", in.Certificate, err)
	}
	c, err := a.login(ctx, iss)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: in.CSR})
	secret, err := c.Logical().WriteWithContext(ctx, signPath(iss.Spec.Vault.Path), signParameters(csr, csrPEM, in.Request.Duration))
	if err != nil {
		return activities.FinalizeResult{}, classify(iss, "signing for "+in.Certificate.String()+" at "+iss.Spec.Vault.Path, err)
	}
	if secret == nil {
		return activities.FinalizeResult{}, activities.ConfigError("%s: signing at %s: Vault answered nothing: is the path a PKI sign endpoint?", iss.Ref, iss.Spec.Vault.Path)
	}
	chain, err := chainOf(secret.Data)
	if err != nil {
		return activities.FinalizeResult{}, activities.ConfigError("%s: the certificate Vault signed at %s: %v", iss.Ref, iss.Spec.Vault.Path, err)
	}
	leaf := chain[0]
	if !publicKeysEqual(leaf.PublicKey, csr.PublicKey) {
		return activities.FinalizeResult{}, activities.ConfigError("%s: the certificate Vault signed at %s is not for the CSR's key", iss.Ref, iss.Spec.Vault.Path)
	}
	issued := activities.IssuedFrom(leaf)
	issued.ARICertID = "" // renewal windows are an ACME CA's
	return activities.FinalizeResult{
		ChainPEM: string(pki.EncodeChain(chain)), CAPEM: string(pki.EncodeChain(chain[len(chain)-1:])), Issued: issued,
	}, nil
}

// resolve reads the issuer, which must be a vault issuer.
func (a *Activities) resolve(ctx context.Context, ref activities.IssuerRef) (*issuers.Issuer, error) {
	iss, err := a.Issuers.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if iss.Spec.Vault == nil {
		return nil, activities.ConfigError("%s is not a vault issuer", ref)
	}
	return iss, nil
}

// publicKeysEqual says whether two public keys of any algorithm are equal.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(x crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// requestTimeout bounds each call to Vault: a login and a signature fit in
// the one minute of the signing step.
const requestTimeout = 20 * time.Second
