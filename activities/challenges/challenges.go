// Package challenges holds the challenge steps of an ACME issuance: Present
// puts the response to each pending challenge where the CA will look,
// WaitPropagation polls until every response is reachable there, and
// CleanUpChallenges removes them again. Each challenge type does these its
// own way behind Type (dns01 and http01 below); these activities find the issuer, check
// the whole input before they change anything, and hand each challenge to
// its type and solver.
//
// What clean-up needs travels through the workflow in activities.Presented,
// so any worker can remove what another presented; only when the issuer or
// its credentials are gone (its namespace is being deleted) does clean-up
// need the worker that presented, which remembers them (issuers'
// ResolveForCleanUp). It must not import workflows.
package challenges

import (
	"context"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Type is one ACME challenge type ("dns-01").
type Type interface {
	// Solver builds the solver of the issuer's spec.acme.solvers[index]
	// (index is in range) for the challenges of one Certificate, reading the
	// credentials it needs. Its errors are configuration errors or
	// retryable.
	Solver(ctx context.Context, iss *issuers.Issuer, index int, cert activities.CertificateRef) (Solver, error)
	// Reachable checks once whether the response is where the CA will look:
	// "" when it is, else what is missing, for status.
	Reachable(ctx context.Context, p activities.Presented) (missing string, err error)
}

// Solver presents and removes the responses of one of an issuer's solvers.
// Both are idempotent: presenting again finds the response in place, and
// removing one that is gone is fine. Only this response is removed: another
// issuance's response for the same name stays.
type Solver interface {
	Present(ctx context.Context, p activities.Presented) (activities.Presented, error)
	CleanUp(ctx context.Context, p activities.Presented) error
}

// DefaultPollInterval is the pause between two rounds of reachability
// checks. Records made by RFC 2136 on the primary are usually visible at
// once, and every second spent here is a second of time-to-issue, so it is
// short; the checks are a handful of small DNS queries.
const DefaultPollInterval = 500 * time.Millisecond

// Activities presents, watches and removes challenge responses.
type Activities struct {
	// Issuers reads the issuer (its solvers) and the Secrets they need.
	Issuers *issuers.Resolver
	// Certificates checks that the responses are for the Certificate's names.
	Certificates *certificates.Reader
	// Types are the challenge types certflow solves, by name ("dns-01").
	Types map[string]Type
	// PollInterval between rounds of reachability checks;
	// DefaultPollInterval when 0.
	PollInterval time.Duration
}

// Bindings are the activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{
		activities.Present.Bind(a.Present),
		activities.WaitPropagation.Bind(a.WaitPropagation),
		activities.CleanUpChallenges.Bind(a.CleanUpChallenges),
	}
}

func (a *Activities) pollInterval() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return DefaultPollInterval
}

// solvers builds the solvers of one issuer as the responses ask for them,
// each once per activity call. Nothing is kept between calls: a changed
// issuer or Secret takes effect at the next attempt.
type solvers struct {
	a     *Activities
	iss   *issuers.Issuer
	cert  activities.CertificateRef
	built map[int]Solver
}

// check checks that the responses are for names the Certificate asks for
// and that it names the issuer, and returns the Certificate.
func (a *Activities) check(ctx context.Context, cert activities.CertificateRef, ref activities.IssuerRef, responses []activities.Presented) (*certflowv1.Certificate, error) {
	claim := certificates.Claim{Certificate: cert, Issuer: ref}
	for _, p := range responses {
		claim.Identifiers = append(claim.Identifiers, p.Name())
	}
	return a.Certificates.Check(ctx, claim)
}

// solvers reads the issuer of cert's challenges with resolve: Issuers.ResolveSolvers to
// present, which remembers the issuer and its credentials for the clean-up;
// Issuers.ResolveForCleanUp to remove, which falls back to that memory for
// what is gone.
func (a *Activities) solvers(ctx context.Context, cert activities.CertificateRef, ref activities.IssuerRef, resolve func(context.Context, activities.IssuerRef) (*issuers.Issuer, error)) (*solvers, error) {
	iss, err := resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if iss.Spec.ACME == nil {
		return nil, activities.ConfigError("%s is not an ACME issuer: it has no solvers", ref)
	}
	return &solvers{a: a, iss: iss, cert: cert, built: map[int]Solver{}}, nil
}

// of returns the solver of a challenge.
func (s *solvers) of(ctx context.Context, c activities.Challenge) (Solver, error) {
	if sv, ok := s.built[c.Solver]; ok {
		return sv, nil
	}
	typ, ok := s.a.Types[c.Type]
	if !ok {
		return nil, activities.ConfigError("challenge type %s is not supported", c.Type)
	}
	if n := len(s.iss.Spec.ACME.Solvers); c.Solver < 0 || c.Solver >= n {
		return nil, activities.ConfigError("%s has no solver %d (it has %d): the issuer changed during the issuance", s.iss.Ref, c.Solver, n)
	}
	sv, err := typ.Solver(ctx, s.iss, c.Solver, s.cert)
	if err != nil {
		return nil, err
	}
	s.built[c.Solver] = sv
	return sv, nil
}
