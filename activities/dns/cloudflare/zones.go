package cloudflare

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/zones"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// zone is a Cloudflare zone a record goes in.
type zone struct {
	id, name string
	// status is Cloudflare's: active when it serves the zone, else
	// initializing, pending or moved.
	status zones.ZoneStatus
}

// fqdn is the zone's name with the trailing dot, as Present returns it.
func (z zone) fqdn() string { return z.name + "." }

// zonesPerPage is the most zones Cloudflare puts on one page.
const zonesPerPage = 50

// zoneOf finds the zone that holds fqdn: the most specific active zone named
// like fqdn or one of its parents, up to the registered domain (a delegated
// "acme.example.com" before "example.com"). A zone Cloudflare does not serve
// (pending, moved) is passed over for an active parent, whose records the
// world resolves; with no active zone at all, the most specific other one
// is named in a permanent error, since no record made in it is ever seen. A
// name in no zone is permanent too: the zone is not in the account, or the
// token may not read it.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (zone, error) {
	labels := strings.Split(recordName(fqdn), ".")
	var tried []string
	var inactive *zone
	for i := 0; i+2 <= len(labels); i++ {
		candidate := strings.Join(labels[i:], ".")
		z, found, err := p.zoneNamed(ctx, candidate)
		switch {
		case err != nil:
			return zone{}, err
		case found && z.status == zones.ZoneStatusActive:
			return z, nil
		case found && inactive == nil:
			inactive = &z
		}
		tried = append(tried, candidate)
	}
	if inactive != nil {
		return zone{}, certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf(
			"cloudflare: the zone that holds %s, %s, is %s, and no active zone above it holds the name: Cloudflare serves the records of active zones only; finish the zone's setup (its nameservers), or add the name to an active zone",
			fqdn, inactive.name, inactive.status))
	}
	return zone{}, certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf(
		"cloudflare: no zone holds %s (looked for %s): add the zone to the Cloudflare account, or give the API token Zone:Read on it",
		fqdn, strings.Join(tried, ", ")))
}

// zoneNamed looks for the zone called name. The same name may be in more than
// one account the credentials see (a zone moved, or added again while
// pending); the active one is the one the world resolves, so it wins, and
// any other is returned only when none is active.
func (p *Provider) zoneNamed(ctx context.Context, name string) (zone, bool, error) {
	var params zones.ZoneListParams
	params.Name.Value, params.Name.Present = name, true
	params.PerPage.Value, params.PerPage.Present = zonesPerPage, true
	var first *zones.Zone
	for page := 1; ; page++ {
		params.Page.Value, params.Page.Present = float64(page), true
		res, err := p.zones.List(ctx, params)
		if err != nil {
			return zone{}, false, classify(err, "looking for zone %s", name)
		}
		for i := range res.Result {
			z := &res.Result[i]
			if !strings.EqualFold(z.Name, name) {
				continue
			}
			if z.Status == zones.ZoneStatusActive {
				return zone{id: z.ID, name: strings.ToLower(z.Name), status: z.Status}, true, nil
			}
			if first == nil {
				first = z
			}
		}
		if lastPage(len(res.Result), res.ResultInfo.PerPage) {
			break
		}
	}
	if first == nil {
		return zone{}, false, nil
	}
	return zone{id: first.ID, name: strings.ToLower(first.Name), status: first.Status}, true, nil
}
