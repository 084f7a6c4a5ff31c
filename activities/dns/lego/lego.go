// Package lego is the DNS-01 provider for the long tail of DNS services:
// any DNS provider of lego (github.com/go-acme/lego) that this build
// includes, chosen by lego's name and configured by the variables lego
// documents for it (HETZNER_API_TOKEN, ...), read from a Secret.
//
// lego's providers take the key authorization and compute the record's
// name and value themselves, so a record reaches them as the key
// authorization (certflowdns.TXT.KeyAuthorization) and the domain under
// _acme-challenge. certflow follows CNAMEs itself (cnameStrategy), so
// lego's own CNAME following is turned off, and it checks propagation
// itself, so lego's timeouts are not used.
//
// The providers in this build are in providers_gen.go, which
// hack/legoproviders writes: those that build with certflow's modules and
// do not act on the worker's machine (run programs, read its files, use
// its cloud identity).
package lego

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	legodns01 "github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/miekg/dns"
	"go.temporal.io/sdk/temporal"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// listed says where a user finds the providers of this build.
const listed = "the providers of this build are listed in certflow's docs/lego-providers.md"

// legoProvider is one of lego's providers in this build.
type legoProvider struct {
	// variables lego documents for it; only these are read from the Secret.
	variables []string
	// build is its NewDNSProvider, which reads its configuration from the
	// process environment.
	build func() (challenge.Provider, error)
}

// Provider presents records through one of lego's providers.
type Provider struct {
	name string
	p    challenge.Provider
}

var _ certflowdns.Provider = (*Provider)(nil)

// Kind builds the provider of a dns01 solver's lego section, with the
// variables from its Secret.
var Kind = certflowdns.Kind{
	Name:       "lego",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.Lego != nil },
	New:        fromSolver,
}

// New builds lego's provider name with settings, by variable name. A
// provider this build lacks, or a configuration lego refuses, is an error
// that names it and never a value.
func New(name string, settings map[string]string) (*Provider, error) {
	lp, err := lookup(name)
	if err != nil {
		return nil, err
	}
	disableCNAMEFollowing()
	var p challenge.Provider
	err = withEnvironment(lp.variables, settings, func() error {
		p, err = lp.build()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lego %s: %w", name, err)
	}
	return &Provider{name: name, p: p}, nil
}

func lookup(name string) (legoProvider, error) {
	if lp, ok := providers[name]; ok {
		return lp, nil
	}
	if why, ok := excluded[name]; ok {
		return legoProvider{}, fmt.Errorf("lego provider %q is not in this build of certflow: it %s; %s", name, why, listed)
	}
	return legoProvider{}, fmt.Errorf("lego has no DNS provider %q; %s", name, listed)
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.Lego
	lp, err := lookup(spec.Provider)
	if err != nil {
		return nil, certflowdns.Permanent(err)
	}
	settings := map[string]string{}
	var absent error // why the first variable missing from the Secret is
	for _, name := range lp.variables {
		value, err := setup.Credentials.SecretValue(ctx, spec.Settings.Name, name)
		switch {
		case err == nil:
			settings[name] = strings.TrimSpace(string(value))
		case isConfigError(err):
			if absent == nil {
				absent = err
			}
		default:
			return nil, fmt.Errorf("lego %s: reading Secret %s: %w", spec.Provider, spec.Settings.Name, err)
		}
	}
	p, err := New(spec.Provider, settings)
	if err != nil {
		if len(settings) == 0 && absent != nil {
			err = fmt.Errorf("%w (Secret %s holds none of its variables: %w)", err, spec.Settings.Name, absent)
		}
		return nil, certflowdns.Permanent(err)
	}
	return p, nil
}

// isConfigError says whether reading a Secret's key failed for good (the
// Secret or the key is missing), as opposed to a failure a retry may mend.
func isConfigError(err error) bool {
	var app *temporal.ApplicationError
	return certflowdns.IsPermanent(err) || errors.As(err, &app) && app.NonRetryable()
}

// Present asks lego's provider to make the record.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	domain, keyAuth, err := p.challenge(rec)
	if err != nil {
		return "", err
	}
	token, _, _ := strings.Cut(keyAuth, ".")
	if err := p.p.Present(ctx, domain, token, keyAuth); err != nil {
		return "", p.classify(fmt.Errorf("lego %s: presenting TXT %s: %w", p.name, rec.FQDN, err))
	}
	return zoneOf(ctx, rec.FQDN), nil
}

// CleanUp asks lego's provider to remove the record. Whether other values
// at the name stay, and whether a record already gone is fine, is up to
// lego's provider; the conformance suite holds lego's httpreq to both.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	domain, keyAuth, err := p.challenge(rec)
	if err != nil {
		return err
	}
	token, _, _ := strings.Cut(keyAuth, ".")
	if err := p.p.CleanUp(ctx, domain, token, keyAuth); err != nil {
		return p.classify(fmt.Errorf("lego %s: removing TXT %s: %w", p.name, rec.FQDN, err))
	}
	return nil
}

// challenge is what lego's providers take for a record: the domain under
// _acme-challenge, and the key authorization whose digest the value is.
func (p *Provider) challenge(rec certflowdns.TXT) (domain, keyAuth string, err error) {
	fqdn := dns.Fqdn(rec.FQDN)
	domain, ok := strings.CutPrefix(fqdn, "_acme-challenge.")
	if !ok {
		return "", "", certflowdns.Permanent(fmt.Errorf("lego %s: TXT %s: lego's providers write only at _acme-challenge names (with cnameStrategy Follow the CNAME chain must end at one)", p.name, fqdn))
	}
	sum := sha256.Sum256([]byte(rec.KeyAuthorization))
	if rec.KeyAuthorization == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != rec.Value {
		return "", "", certflowdns.Permanent(fmt.Errorf("lego %s: TXT %s: lego's providers compute the value from the key authorization, and none that gives %q came with it", p.name, fqdn, rec.Value))
	}
	return strings.TrimSuffix(domain, "."), rec.KeyAuthorization, nil
}

// zoneLookupTimeout bounds the look for a zone that is only reported.
const zoneLookupTimeout = 5 * time.Second

// zoneOf is the zone of fqdn as lego's providers find it (asking the
// resolvers of the worker's resolv.conf), or "" when that fails: lego's
// providers do not say where they wrote, and the zone is only reported.
func zoneOf(ctx context.Context, fqdn string) string {
	ctx, cancel := context.WithTimeout(ctx, zoneLookupTimeout)
	defer cancel()
	zone, err := legodns01.DefaultClient().FindZoneByFqdn(ctx, dns.Fqdn(fqdn))
	if err != nil {
		return ""
	}
	return zone
}

var disableCNAMEFollowing = sync.OnceFunc(func() {
	// Read by lego at every Present; certflow alone decides where a record
	// goes (cnameStrategy), and nothing else in certflow solves through
	// lego's dns01 package.
	_ = os.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
})

// classify marks a refusal of the credentials permanent. lego's errors are
// not typed; those of its HTTP clients carry the status in a StatusCode
// field, which statusOf finds.
func (p *Provider) classify(err error) error {
	if slices.Contains([]int{401, 403}, statusOf(err)) {
		return certflowdns.Permanent(fmt.Errorf("%w (the service refuses the credentials in the settings Secret)", err))
	}
	return err
}
