// Package dns01 is the dns-01 challenge type (RFC 8555 section 8.4): the
// response is a TXT record at _acme-challenge.<name>, made through the DNS
// provider of the issuer's solver, found reachable once every authoritative
// nameserver of its zone has it, and removed again by value, so that another
// issuance's record at the same name survives. With cnameStrategy Follow the
// record goes where the name's CNAME chain ends.
//
// Provider credentials are read from the issuer's Secrets here and never
// enter an input, a result, an error or a log line. It must not import
// workflows.
package dns01

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/challenges"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnsutil"
	"github.com/certflow/certflow/activities/dns/propagation"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"go.temporal.io/sdk/temporal"
	"k8s.io/client-go/rest"
)

// Type solves dns-01 challenges.
type Type struct {
	// Providers are the kinds of DNS provider a solver may use (Providers).
	Providers []certflowdns.Kind
	// Checker checks propagation; its Resolvers also answer the CNAME
	// lookups of solvers with cnameStrategy Follow.
	Checker *propagation.Checker
	// Endpoints replace the API address of the providers they name
	// (certflowdns.Setup.Endpoint), by Kind.Name.
	Endpoints map[string]string
	// IssuerAmbientCredentials lets the providers of namespaced Issuers use
	// the worker's own cloud identity; ClusterIssuers always may.
	IssuerAmbientCredentials bool
	// Kubernetes reaches the cluster's API server as the worker
	// (certflowdns.Setup.Kubernetes).
	Kubernetes *rest.Config
}

var _ challenges.Type = (*Type)(nil)

// Solver builds the provider of solver index of the issuer's spec.acme.solvers.
func (t *Type) Solver(ctx context.Context, iss *issuers.Issuer, index int, _ activities.CertificateRef) (challenges.Solver, error) {
	spec := iss.Spec.ACME.Solvers[index].DNS01
	if spec == nil {
		return nil, activities.ConfigError("%s solver %d has no dns01 section", iss.Ref, index)
	}
	return t.solver(ctx, iss, index, spec)
}

// solver builds the provider a dns01 or dnsPersist01 section configures.
func (t *Type) solver(ctx context.Context, iss *issuers.Issuer, index int, spec *certflowv1.ACMEChallengeSolverDNS01) (*solver, error) {
	i := slices.IndexFunc(t.Providers, func(k certflowdns.Kind) bool { return k.Configured(spec) })
	if i < 0 {
		return nil, activities.ConfigError("%s solver %d: dns01 provider %s is not supported yet (certflow serves %s)",
			iss.Ref, index, strings.Join(setFields(spec), ", "), strings.Join(t.names(), ", "))
	}
	kind := t.Providers[i]
	provider, err := kind.New(ctx, spec, certflowdns.Setup{
		Credentials:        iss,
		Endpoint:           t.Endpoints[kind.Name],
		AmbientCredentials: iss.Ref.Kind == certflowv1.ClusterIssuerKind || t.IssuerAmbientCredentials,
		ResourceNamespace:  iss.SecretNamespace,
		Resolvers:          t.resolvers(),
		Kubernetes:         t.Kubernetes,
	})
	if err != nil {
		return nil, activities.Wrap(configError(err), "%s solver %d", iss.Ref, index)
	}
	return &solver{t: t, provider: provider, follow: spec.CNAMEStrategy == certflowv1.FollowStrategy, prefix: "_acme-challenge."}, nil
}

// Reachable checks once whether every authoritative nameserver of the
// record's zone has it: "" when they do, else which do not.
func (t *Type) Reachable(ctx context.Context, p activities.Presented) (string, error) {
	res, err := t.Checker.Check(ctx, p.FQDN, p.Value)
	if err != nil {
		return "", err
	}
	if res.Ready {
		return "", nil
	}
	return "not at " + strings.Join(res.Missing, ", "), nil
}

// resolvers are the Checker's, none when there is no Checker.
func (t *Type) resolvers() []string {
	if t.Checker == nil {
		return nil
	}
	return t.Checker.Resolvers
}

func (t *Type) names() []string {
	names := make([]string, len(t.Providers))
	for i, k := range t.Providers {
		names[i] = k.Name
	}
	return names
}

// solver presents and removes records through one provider.
type solver struct {
	t        *Type
	provider certflowdns.Provider
	follow   bool   // cnameStrategy Follow
	prefix   string // of the names the CA asks: "_acme-challenge."
}

func (s *solver) Present(ctx context.Context, p activities.Presented) (activities.Presented, error) {
	if err := s.checkName(p); err != nil {
		return p, err
	}
	target, err := s.target(ctx, p.FQDN)
	if err != nil {
		return p, err
	}
	zone, err := s.provider.Present(ctx, certflowdns.TXT{FQDN: target, Value: p.Value, KeyAuthorization: p.KeyAuthorization, Identifier: p.Identifier})
	if err != nil {
		return p, classify(err, "presenting TXT %s", p.FQDN)
	}
	p.Zone = zone
	return p, nil
}

func (s *solver) CleanUp(ctx context.Context, p activities.Presented) error {
	if err := s.checkName(p); err != nil {
		return err
	}
	target, err := s.target(ctx, p.FQDN)
	if err != nil {
		return err
	}
	return classify(s.provider.CleanUp(ctx, certflowdns.TXT{FQDN: target, Value: p.Value, KeyAuthorization: p.KeyAuthorization, Identifier: p.Identifier}), "removing TXT %s", p.FQDN)
}

// checkName refuses a record at any name but the one a CA asks for the
// identifier (RFC 8555 section 8.4; _validation-persist for dns-persist-01):
// the solver's credentials write only challenge records.
func (s *solver) checkName(p activities.Presented) error {
	if want := s.prefix + strings.TrimSuffix(p.Identifier, ".") + "."; !strings.EqualFold(p.FQDN, want) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("a %s record for %s goes at %s, not %s", p.Type, p.Identifier, want, p.FQDN),
			activities.ErrTypeMismatch, nil)
	}
	return nil
}

// target is where the record is written: the name the CA asks, or with
// cnameStrategy Follow the end of its CNAME chain, in a zone the solver's
// credentials may be limited to.
func (s *solver) target(ctx context.Context, fqdn string) (string, error) {
	if !s.follow {
		return fqdn, nil
	}
	if s.t.Checker == nil || len(s.t.Checker.Resolvers) == 0 {
		return "", activities.ConfigError("cnameStrategy Follow needs DNS resolvers, and the worker has none configured")
	}
	resolvers := dnsutil.Resolver{Servers: s.t.Checker.Resolvers, Recurse: true, Timeout: s.t.Checker.Timeout}
	return resolvers.FollowCNAMEs(ctx, fqdn)
}

// classify says whether a provider's error needs a user (Permanent) or may
// pass on a retry.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return activities.Wrap(configError(err), format, args...)
}

// configError makes an error the provider marked permanent a configuration
// error; others stay as they are.
func configError(err error) error {
	if certflowdns.IsPermanent(err) {
		return activities.ConfigErrorBecause(certflowdns.PermanentReason(err), "%v", err)
	}
	return err
}

// setFields names the providers a dns01 section sets, by their field names.
func setFields(spec *certflowv1.ACMEChallengeSolverDNS01) []string {
	var set []string
	v, t := reflect.ValueOf(*spec), reflect.TypeFor[certflowv1.ACMEChallengeSolverDNS01]()
	for i := range t.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			set = append(set, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
		}
	}
	if len(set) == 0 {
		return []string{"(none)"}
	}
	return set
}
