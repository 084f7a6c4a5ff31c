package acme

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"go.temporal.io/sdk/activity"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/dns/dnsutil"
)

// checkCAA refuses, before anything is ordered, names whose CAA records
// (RFC 8659) do not allow the CA: one of identities, the domains its
// directory lists in meta.caaIdentities. It reads the relevant record set
// of each name as a CA does, climbing from the name towards the root until a
// name has CAA records, and reads issuewild for a wildcard when there is
// one. It is a pre-check: the CA checks again, with the parameters
// (accounturi, validationmethods) this leaves to it. A CA that lists no
// identities, a worker without resolvers, or a lookup that fails leave the
// decision to the CA.
func (a *Activities) checkCAA(ctx context.Context, identities []string, ids []string) error {
	if len(identities) == 0 || len(a.Resolvers) == 0 {
		return nil
	}
	r := dnsutil.Resolver{Servers: a.Resolvers, Recurse: true}
	sets := lookUpCAA(ctx, r, ids)
	for _, id := range ids {
		name, wildcard := strings.CutPrefix(id, "*.")
		if net.ParseIP(name) != nil {
			continue
		}
		set, err := relevantCAA(sets, name)
		if err != nil {
			activity.GetLogger(ctx).Debug("CAA records not read: the CA checks them", "name", id, "error", err)
			continue
		}
		if forbidding := forbids(set, wildcard, identities); forbidding != nil {
			return activities.ConfigErrorBecause(activities.ReasonCAAForbidden, "the CAA records of %s do not allow the CA (%s) to issue for %s: %s",
				strings.TrimSuffix(set[0].Hdr.Name, "."), strings.Join(identities, ", "), id, zoneFile(forbidding))
		}
	}
	return nil
}

// caaAnswer is the CAA records at one name, or why they are not known.
type caaAnswer struct {
	set []*dns.CAA
	err error
}

// lookUpCAA asks for the CAA records of every name on the way from each
// identifier to its top-level domain, each name once and all at once: an
// order's names share most of their parents, and one round trip costs
// what the climb's first step would.
func lookUpCAA(ctx context.Context, r dnsutil.Resolver, ids []string) map[string]caaAnswer {
	var names []string
	for _, id := range ids {
		name := strings.TrimPrefix(id, "*.")
		if net.ParseIP(name) != nil {
			continue
		}
		for n := dns.Fqdn(name); n != "."; {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
			i, end := dns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[i:]
		}
	}
	answers := make([]caaAnswer, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			resp, err := r.Query(ctx, n, dns.TypeCAA)
			if err != nil {
				answers[i].err = err
				return
			}
			for _, rr := range resp.Answer {
				if caa, ok := rr.(*dns.CAA); ok {
					answers[i].set = append(answers[i].set, caa)
				}
			}
		})
	}
	wg.Wait()
	out := make(map[string]caaAnswer, len(names))
	for i, n := range names {
		out[n] = answers[i]
	}
	return out
}

// relevantCAA is the CAA record set that applies to name (RFC 8659
// section 3): its own, else its parent's, up to the top-level domain; none
// when no name has one. A name on the way whose records are not known
// leaves the answer unknown.
func relevantCAA(sets map[string]caaAnswer, name string) ([]*dns.CAA, error) {
	for n := dns.Fqdn(name); n != "."; {
		a := sets[n]
		if a.err != nil {
			return nil, a.err
		}
		if len(a.set) > 0 {
			return a.set, nil
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return nil, nil
}

// forbids returns the records that keep the CA from issuing, nil when the
// set allows it: the issuewild records for a wildcard when there are any,
// else the issue records, none of which names the CA; or an unknown
// property marked critical.
func forbids(set []*dns.CAA, wildcard bool, identities []string) []*dns.CAA {
	var issue, issuewild []*dns.CAA
	for _, rr := range set {
		switch strings.ToLower(rr.Tag) {
		case "issue":
			issue = append(issue, rr)
		case "issuewild":
			issuewild = append(issuewild, rr)
		case "iodef", "contactemail", "contactphone", "issuemail", "issuevmc", "issuemvc":
		default:
			if rr.Flag&128 != 0 {
				return []*dns.CAA{rr}
			}
		}
	}
	relevant := issue
	if wildcard && len(issuewild) > 0 {
		relevant = issuewild
	}
	if len(relevant) == 0 {
		return nil
	}
	for _, rr := range relevant {
		domain, _, _ := strings.Cut(rr.Value, ";")
		if slices.ContainsFunc(identities, func(id string) bool { return strings.EqualFold(strings.TrimSpace(domain), id) }) {
			return nil
		}
	}
	return relevant
}

// zoneFile lists records as a zone file has them.
func zoneFile(rrs []*dns.CAA) string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = fmt.Sprintf("%s CAA %d %s %q", rr.Hdr.Name, rr.Flag, rr.Tag, rr.Value)
	}
	return strings.Join(out, ", ")
}
