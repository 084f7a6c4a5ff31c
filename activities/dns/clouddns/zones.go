package clouddns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
	gdns "google.golang.org/api/dns/v1"
	"google.golang.org/api/googleapi"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// zoneOf is the managed zone the record goes in: the solver's
// hostedZoneName, or else the most specific public zone of the project
// whose DNS name holds fqdn. The API filters zones by exact DNS name, so the
// name's suffixes are asked for in turn, longest first. Private zones are
// skipped: the CA cannot see them.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (*gdns.ManagedZone, error) {
	if p.cfg.HostedZoneName != "" {
		zone, err := p.svc.ManagedZones.Get(p.cfg.Project, p.cfg.HostedZoneName).Context(ctx).Do()
		if err != nil {
			return nil, fmt.Errorf("clouddns: reading managed zone %s of project %s: %w", p.cfg.HostedZoneName, p.cfg.Project, classify(err))
		}
		if name := strings.ToLower(zone.DnsName); fqdn != name && !strings.HasSuffix(fqdn, "."+name) {
			return nil, certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf("clouddns: managed zone %s of project %s is %s, which does not hold %s", zone.Name, p.cfg.Project, zone.DnsName, fqdn))
		}
		return zone, nil
	}
	for name := fqdn; strings.Contains(name, "."); name = name[strings.Index(name, ".")+1:] {
		var found *gdns.ManagedZone
		err := p.svc.ManagedZones.List(p.cfg.Project).DnsName(name).Pages(ctx, func(page *gdns.ManagedZonesListResponse) error {
			for _, z := range page.ManagedZones {
				if found == nil && z.Visibility != "private" && strings.EqualFold(z.DnsName, name) {
					found = z
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("clouddns: listing the managed zones of project %s: %w", p.cfg.Project, classify(err))
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, certflowdns.Permanent(fmt.Errorf("clouddns: no public managed zone of project %s holds %s: create one, or set hostedZoneName", p.cfg.Project, fqdn))
}

// classify marks the answers no retry mends as Permanent, keeping the API's
// own message: a refused key or missing permission (401, 403), a project
// or zone that does not exist (404), a request the API will not take
// (400), and a token endpoint that refuses the key. Everything else may
// pass on a retry: rate limits (429), server errors, network errors, and a
// change refused because the record set changed meanwhile (409, 412), which
// the next attempt reads again.
func classify(err error) error {
	var apiErr *googleapi.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return certflowdns.RefusedWith(apiErr.Code, err)
		}
		return err
	}
	var tokenErr *oauth2.RetrieveError
	if errors.As(err, &tokenErr) && tokenErr.Response != nil {
		if code := tokenErr.Response.StatusCode; code >= 400 && code < 500 && code != http.StatusTooManyRequests {
			return certflowdns.PermanentBecause(certflowdns.AuthFailed, fmt.Errorf("the token endpoint refused the service account key: %w", err))
		}
	}
	return err
}
