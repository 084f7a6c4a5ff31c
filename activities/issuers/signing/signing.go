// Package signing routes the steps of the issuers that sign in one step,
// SignCertificate and CheckIssuer, to the code of the issuer's type: ca and
// selfSigned (package ca), vault (package vault). A registered activity name
// has one implementation, so this is it; each type stays in its own
// package. It must not import workflows.
package signing

import (
	"context"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
)

// Signer is what an issuer type that signs in one step implements.
type Signer interface {
	Sign(ctx context.Context, in activities.SignInput) (activities.FinalizeResult, error)
	CheckIssuer(ctx context.Context, in activities.CheckIssuerInput) (activities.CheckIssuerResult, error)
}

// Activities route each step by the issuer's type.
type Activities struct {
	Issuers *issuers.Resolver
	// Types are the signers by issuer type (activities.IssuerType*).
	Types map[string]Signer
}

// Bindings are the activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{
		activities.SignCertificate.Bind(a.Sign),
		activities.CheckIssuer.Bind(a.CheckIssuer),
	}
}

// Sign has the issuer's type sign the issuance's CSR.
func (a *Activities) Sign(ctx context.Context, in activities.SignInput) (activities.FinalizeResult, error) {
	s, err := a.signer(ctx, in.Issuer)
	if err != nil {
		return activities.FinalizeResult{}, err
	}
	return s.Sign(ctx, in)
}

// CheckIssuer has the issuer's type say whether it can sign.
func (a *Activities) CheckIssuer(ctx context.Context, in activities.CheckIssuerInput) (activities.CheckIssuerResult, error) {
	s, err := a.signer(ctx, in.Issuer)
	if err != nil {
		return activities.CheckIssuerResult{}, err
	}
	return s.CheckIssuer(ctx, in)
}

// signer is the Signer of the issuer's type; an issuer of another type (an
// ACME CA) is a configuration error.
func (a *Activities) signer(ctx context.Context, ref activities.IssuerRef) (Signer, error) {
	iss, err := a.Issuers.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	s, ok := a.Types[iss.Type()]
	if !ok {
		return nil, activities.ConfigError("%s is a %s issuer, which does not sign in one step", ref, iss.Type())
	}
	return s, nil
}
