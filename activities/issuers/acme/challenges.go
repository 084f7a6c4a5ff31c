package acme

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Challenge types certflow solves.
const (
	dns01        = "dns-01"
	http01       = "http-01"
	dnsPersist01 = "dns-persist-01"
)

// solverRank orders the solvers that match a name, as cert-manager does: a
// selector's dnsNames naming it beats a dnsZones suffix (the longest zone
// wins), which beats a selector of matchLabels only, which beats an empty
// selector; between equals, more matchLabels win, then the first listed.
type solverRank struct {
	class   int // 3 dnsNames, 2 dnsZones, 1 matchLabels only, 0 empty
	zoneLen int
	labels  int
}

func (r solverRank) beats(o solverRank) bool {
	if r.class != o.class {
		return r.class > o.class
	}
	if r.zoneLen != o.zoneLen {
		return r.zoneLen > o.zoneLen
	}
	return r.labels > o.labels
}

// chooseSolver picks the solver of identifier (without "*."; wildcard says
// whether it had one) and the challenge type it solves with. offered lists
// the challenge types the CA offers; nil means any. Only the types the
// worker solves count. A wildcard needs dns-01 or dns-persist-01; an IP
// address needs http-01 (RFC 8738).
func (a *Activities) chooseSolver(solvers []certflowv1.ACMEChallengeSolver, certLabels map[string]string,
	identifier string, wildcard bool, offered []string) (index int, challengeType string, ok bool) {
	name := strings.ToLower(strings.TrimSuffix(identifier, "."))
	ip := net.ParseIP(name) != nil
	if wildcard {
		name = "*." + name
	}
	best, bestRank := -1, solverRank{}
	for i, s := range solvers {
		typ := solverType(s)
		if typ == "" || (wildcard && typ == http01) || (ip && typ != http01) || !slices.Contains(a.ChallengeTypes, typ) ||
			(offered != nil && !slices.Contains(offered, typ)) {
			continue
		}
		sel := s.Selector
		if sel == nil {
			sel = &certflowv1.CertificateDNSNameSelector{}
		}
		if !labelsMatch(sel.MatchLabels, certLabels) {
			continue
		}
		r := solverRank{labels: len(sel.MatchLabels)}
		switch {
		case slices.ContainsFunc(sel.DNSNames, func(n string) bool { return normalize(n) == name }):
			r.class = 3
		case len(sel.DNSZones) > 0 && longestZone(sel.DNSZones, name) > 0:
			r.class, r.zoneLen = 2, longestZone(sel.DNSZones, name)
		case len(sel.DNSNames) > 0 || len(sel.DNSZones) > 0:
			continue // it names other names or zones only
		case len(sel.MatchLabels) > 0:
			r.class = 1
		}
		if best < 0 || r.beats(bestRank) {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return 0, "", false
	}
	return best, solverType(solvers[best]), true
}

// solverType is the challenge type a solver solves.
func solverType(s certflowv1.ACMEChallengeSolver) string {
	switch {
	case s.DNS01 != nil:
		return dns01
	case s.HTTP01 != nil:
		return http01
	case s.DNSPersist01 != nil:
		return dnsPersist01
	}
	return ""
}

// longestZone is the length of the longest zone that is name or a parent of it, 0 if none.
func longestZone(zones []string, name string) int {
	longest := 0
	for _, z := range zones {
		z = normalize(z)
		if z != "" && (name == z || strings.HasSuffix(name, "."+z)) {
			longest = max(longest, len(z))
		}
	}
	return longest
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func normalize(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// noSolver says which name no solver covers, for status.
func (a *Activities) noSolver(ref activities.IssuerRef, identifier string, wildcard bool) string {
	switch {
	case wildcard:
		return fmt.Sprintf("no solver of %s is for *.%s (a wildcard needs a dns01 or dnsPersist01 solver)", ref, identifier)
	case net.ParseIP(identifier) != nil:
		return fmt.Sprintf("no solver of %s is for %s (an IP address needs an http01 solver: RFC 8738 forbids dns-01 for it; certflow solves %s)",
			ref, identifier, strings.Join(a.ChallengeTypes, ", "))
	}
	return fmt.Sprintf("no solver of %s that certflow can use is for %s (certflow solves %s)", ref, identifier, strings.Join(a.ChallengeTypes, ", "))
}

// CheckRequest says whether the ACME issuer has a solver, of a type the
// worker solves, for every name of the request: a name without one would
// fail only after the CA made the order.
func (a *Activities) CheckRequest(_ context.Context, iss *issuers.Issuer, req activities.Request, certLabels map[string]string) error {
	for _, id := range req.Identifiers() {
		name, wildcard := strings.CutPrefix(id, "*.")
		if _, _, ok := a.chooseSolver(iss.Spec.ACME.Solvers, certLabels, name, wildcard, nil); !ok {
			return activities.ConfigErrorBecause(activities.ReasonNoSolver, "%s", a.noSolver(iss.Ref, name, wildcard))
		}
	}
	return nil
}

// challenge fills in the chosen challenge of an authorization: for dns-01 the
// TXT record's name and value, for http-01 the token and the key
// authorization the solver serves (both public: the CA fetches them).
func challenge(core *api.Core, authz legoacme.Authorization, solver int, typ string) (activities.Challenge, error) {
	i := slices.IndexFunc(authz.Challenges, func(c legoacme.Challenge) bool { return c.Type == typ })
	if i < 0 {
		return activities.Challenge{}, fmt.Errorf("the CA offers no %s challenge for %s", typ, authz.Identifier.Value)
	}
	c := authz.Challenges[i]
	if typ == dnsPersist01 {
		return persistChallenge(core, authz, c, solver)
	}
	keyAuth, err := core.GetKeyAuthorization(c.Token)
	if err != nil {
		return activities.Challenge{}, fmt.Errorf("computing key authorization for %s: %w", authz.Identifier.Value, err)
	}
	out := activities.Challenge{Type: typ, URL: c.URL, Token: c.Token, Solver: solver}
	switch typ {
	case dns01:
		sum := sha256.Sum256([]byte(keyAuth))
		out.FQDN = "_acme-challenge." + normalize(authz.Identifier.Value) + "."
		out.Value = base64.RawURLEncoding.EncodeToString(sum[:])
		out.KeyAuthorization = keyAuth
	case http01:
		out.Value = keyAuth
	}
	return out, nil
}

// persistChallenge fills in a dns-persist-01 challenge: the standing TXT
// record at _validation-persist.<name> that names the CA (the first of the
// challenge's issuer-domain-names) and the account (its accounturi, else
// the account's URL), with policy=wildcard for a wildcard. It has no token.
func persistChallenge(core *api.Core, authz legoacme.Authorization, c legoacme.Challenge, solver int) (activities.Challenge, error) {
	if len(c.IssuerDomainNames) == 0 {
		return activities.Challenge{}, fmt.Errorf("the CA's dns-persist-01 challenge for %s names no issuer domain", authz.Identifier.Value)
	}
	account := cmp.Or(c.AccountURI, core.GetKID())
	value := c.IssuerDomainNames[0] + "; accounturi=" + account
	if authz.Wildcard {
		value += "; policy=wildcard"
	}
	return activities.Challenge{
		Type: dnsPersist01, URL: c.URL, Solver: solver,
		FQDN: "_validation-persist." + normalize(authz.Identifier.Value) + ".", Value: value,
	}, nil
}

// offeredTypes lists the challenge types of an authorization.
func offeredTypes(authz legoacme.Authorization) []string {
	types := make([]string, 0, len(authz.Challenges))
	for _, c := range authz.Challenges {
		types = append(types, c.Type)
	}
	return types
}
