package dns01

import (
	"context"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/challenges"
	"github.com/certflow/certflow/activities/issuers"
)

// PersistType solves dns-persist-01 challenges (draft-ietf-acme-dns-persist):
// the response is a standing TXT record at _validation-persist.<name> that
// names the CA and the account, written through the DNS provider of the
// issuer's dnsPersist01 solver like a dns-01 record, checked the same way,
// and never removed: later issuances and renewals find it in place.
type PersistType struct {
	*Type
}

var _ challenges.Type = PersistType{}

// Solver builds the provider of solver index's dnsPersist01 section.
func (t PersistType) Solver(ctx context.Context, iss *issuers.Issuer, index int, _ activities.CertificateRef) (challenges.Solver, error) {
	spec := iss.Spec.ACME.Solvers[index].DNSPersist01
	if spec == nil {
		return nil, activities.ConfigError("%s solver %d has no dnsPersist01 section", iss.Ref, index)
	}
	s, err := t.solver(ctx, iss, index, spec)
	if err != nil {
		return nil, err
	}
	s.prefix = "_validation-persist."
	return persistent{s}, nil
}

// persistent presents as a dns-01 solver does and removes nothing.
type persistent struct {
	*solver
}

// CleanUp keeps the record: it is meant to stay.
func (persistent) CleanUp(context.Context, activities.Presented) error { return nil }
