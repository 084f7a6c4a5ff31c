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
// its cloud identity), and for some the variables certflow hides from them
// or refuses, through which they would.
//
// A built provider is kept for the next activity with the same settings
// (instances.go): many of lego's providers remove a record by what they
// remembered when they made it. Errors never show a value of the settings
// (redact.go).
package lego

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
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
	// variables lego documents for it and certflow allows; only these are
	// read from the Secret.
	variables []string
	// hidden are the other variables its package reads (undocumented, or
	// forbidden): the worker's values are hidden from it.
	hidden []string
	// forbidden are variables a Secret may not set, and why.
	forbidden map[string]string
	// oneOf are sets of variables of which the Secret must set one whole.
	oneOf [][]string
	// stateful: its CleanUp needs what its Present remembered.
	stateful bool
	// forgets is how its CleanUp's error begins for a record it does not
	// remember ("" when it says nothing).
	forgets string
	// build is its NewDNSProvider, which reads its configuration from the
	// process environment.
	build func() (challenge.Provider, error)
}

// Provider presents records through one of lego's providers.
type Provider struct {
	name     string
	lp       legoProvider
	instance *instance
	redactor redactor
}

var _ certflowdns.Provider = (*Provider)(nil)

// Kind builds the provider of a dns01 solver's lego section, with the
// variables from its Secret.
var Kind = certflowdns.Kind{
	Name:       "lego",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.Lego != nil },
	New:        fromSolver,
}

// New builds lego's provider name with settings, by variable name, or
// takes the one built with the same settings before. A provider this build
// lacks, settings it refuses, or a configuration lego refuses, is a
// Permanent error that names it and never a value; waiting for another
// provider to be built until ctx ends is not Permanent.
func New(ctx context.Context, name string, settings map[string]string) (*Provider, error) {
	r := newRedactor(settings)
	lp, err := lookup(name)
	if err != nil {
		return nil, certflowdns.Permanent(err)
	}
	if err := lp.refuse(settings); err != nil {
		return nil, r.redact(certflowdns.Permanent(fmt.Errorf("lego %s: %w", name, err)))
	}
	inst, err := build(ctx, lp, instanceKey(name, settings), settings)
	if err != nil {
		return nil, r.redact(fmt.Errorf("lego %s: %w", name, err))
	}
	return &Provider{name: name, lp: lp, instance: inst, redactor: r}, nil
}

// build is the instance kept for key, or a new one. Its error is Permanent
// but when ctx ended first.
func build(ctx context.Context, lp legoProvider, key string, settings map[string]string) (*instance, error) {
	if inst := instances.get(key); inst != nil {
		return inst, nil
	}
	disableCNAMEFollowing()
	var inst *instance
	var refused error
	err := withEnvironment(ctx, lp.variables, lp.hidden, settings, func() {
		if inst = instances.get(key); inst != nil {
			return
		}
		p, err := lp.build()
		if err != nil {
			refused = certflowdns.Permanent(err)
			return
		}
		inst = instances.add(key, p)
	})
	if err != nil {
		return nil, err
	}
	return inst, refused
}

// refuse says why settings may not build lp: they set a forbidden
// variable, or none of its oneOf sets whole.
func (lp legoProvider) refuse(settings map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(lp.forbidden)) {
		if _, ok := settings[name]; ok {
			return fmt.Errorf("the settings Secret sets %s, which certflow does not allow: %s", name, lp.forbidden[name])
		}
	}
	if len(lp.oneOf) == 0 || slices.ContainsFunc(lp.oneOf, func(set []string) bool { return allSet(set, settings) }) {
		return nil
	}
	var sets []string
	for _, set := range lp.oneOf {
		sets = append(sets, strings.Join(set, " + "))
	}
	return fmt.Errorf("the settings Secret must set all of one of %s (certflow does not let the worker's own configuration complete them)", strings.Join(sets, ", "))
}

func allSet(names []string, settings map[string]string) bool {
	return !slices.ContainsFunc(names, func(name string) bool { return settings[name] == "" })
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
	for _, name := range slices.Concat(lp.variables, slices.Sorted(maps.Keys(lp.forbidden))) {
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
	p, err := New(ctx, spec.Provider, settings)
	if err != nil && certflowdns.IsPermanent(err) && len(settings) == 0 && absent != nil {
		return nil, certflowdns.Permanent(fmt.Errorf("%w (Secret %s holds none of its variables: %v)", err, spec.Settings.Name, absent))
	}
	if err != nil {
		return nil, err
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
	if err := p.instance.p.Present(ctx, domain, token, keyAuth); err != nil {
		return "", p.redactor.redact(p.classify(fmt.Errorf("lego %s: presenting TXT %s: %w", p.name, rec.FQDN, err)))
	}
	p.instance.presented(rec.FQDN + " " + keyAuth)
	return zoneOf(ctx, rec.FQDN), nil
}

// CleanUp asks lego's provider to remove the record. Whether other values
// at the name stay, and whether a record already gone is fine, is up to
// lego's provider; the conformance suite holds lego's httpreq to both. A
// provider that remembers records (stateful) can remove only those it
// made: for one it does not know, and did not remove already, the error is
// Permanent and asks for the record to be removed by hand.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	domain, keyAuth, err := p.challenge(rec)
	if err != nil {
		return err
	}
	record := rec.FQDN + " " + keyAuth
	token, _, _ := strings.Cut(keyAuth, ".")
	err = p.instance.p.CleanUp(ctx, domain, token, keyAuth)
	switch {
	case err == nil:
		p.instance.cleanedUp(record)
		return nil
	case p.forgot(err) && p.instance.wasRemoved(record):
		return nil
	case p.forgot(err):
		return p.redactor.redact(certflowdns.Permanent(fmt.Errorf(
			"lego %s: removing TXT %s: %w (lego's %s removes only the records it made itself, and this one was presented by another worker or before this worker restarted: remove the TXT record %s with value %q by hand)",
			p.name, rec.FQDN, err, p.name, rec.FQDN, rec.Value)))
	default:
		return p.redactor.redact(p.classify(fmt.Errorf("lego %s: removing TXT %s: %w", p.name, rec.FQDN, err)))
	}
}

// forgot says whether err is a stateful provider's for a record it does not
// remember.
func (p *Provider) forgot(err error) bool {
	return p.lp.stateful && p.lp.forgets != "" && strings.Contains(err.Error(), p.lp.forgets)
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
		return certflowdns.PermanentBecause(certflowdns.AuthFailed, fmt.Errorf("%w (the service refuses the credentials in the settings Secret)", err))
	}
	return err
}
