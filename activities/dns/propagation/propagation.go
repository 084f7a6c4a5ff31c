// Package propagation checks that a DNS-01 TXT record is visible where the CA
// will look: on every authoritative nameserver of its zone, found by an SOA/NS
// walk, following CNAMEs (cert-manager's CNAME delegation). With ResolversOnly
// it asks the configured resolvers instead, for split-horizon setups where the
// authoritative servers cannot be reached. It does one check per call; the
// activity that uses it polls and heartbeats.
package propagation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/activities/dns/dnsutil"
)

// Checker finds authoritative servers through Resolvers and asks them.
type Checker struct {
	// Resolvers are host:port of servers that answer the walk's SOA, NS and A
	// queries (recursive resolvers, or in tests the authoritative server itself).
	Resolvers []string
	// ResolversOnly asks the resolvers for the TXT record and skips the walk.
	ResolversOnly bool
	// AuthoritativePort is where authoritative servers listen; default 53.
	AuthoritativePort int
	// Timeout of one DNS exchange; default 5s.
	Timeout time.Duration
}

// Result of one check.
type Result struct {
	// Ready is true when every server asked has the value.
	Ready bool
	// Missing names the servers that do not have it yet and what each
	// answered ("127.0.0.1:53 answered NXDOMAIN"), for status and logs.
	Missing []string
	// Zone is the zone the record is in (after following CNAMEs).
	Zone string
}

// Check asks whether the TXT record fqdn holds value everywhere it must.
func (c *Checker) Check(ctx context.Context, fqdn, value string) (Result, error) {
	if len(c.Resolvers) == 0 {
		return Result{}, errors.New("propagation: no resolvers configured")
	}
	resolvers := c.resolvers()
	name, err := resolvers.FollowCNAMEs(ctx, fqdn)
	if err != nil {
		return Result{}, fmt.Errorf("propagation: %w", err)
	}
	if c.ResolversOnly {
		return c.ask(ctx, resolvers, name, value, "")
	}
	zone, err := resolvers.Zone(ctx, name)
	if err != nil {
		return Result{}, fmt.Errorf("propagation: %w", err)
	}
	servers, err := c.authoritative(ctx, resolvers, zone)
	if err != nil {
		return Result{}, err
	}
	return c.ask(ctx, dnsutil.Resolver{Servers: servers, Timeout: c.Timeout}, name, value, zone)
}

func (c *Checker) resolvers() dnsutil.Resolver {
	return dnsutil.Resolver{Servers: c.Resolvers, Recurse: true, Timeout: c.Timeout}
}

// ask queries each server for the TXT record, on its own: every one must
// have the value. A server that fails to answer lacks it, and the others
// are still asked, so that what each said is known; only when none
// answers is the check itself an error.
func (c *Checker) ask(ctx context.Context, servers dnsutil.Resolver, name, value, zone string) (Result, error) {
	res := Result{Zone: zone}
	var errs []error
	for _, server := range servers.Servers {
		one := servers
		one.Servers = []string{server}
		resp, err := one.Query(ctx, name, dns.TypeTXT)
		switch {
		case err != nil:
			errs = append(errs, err)
			res.Missing = append(res.Missing, server+" failed: "+err.Error())
		case !dnsutil.HasTXT(resp, value):
			res.Missing = append(res.Missing, server+" answered "+answered(resp))
		}
	}
	if len(errs) == len(servers.Servers) {
		return Result{}, fmt.Errorf("propagation: %w", errors.Join(errs...))
	}
	res.Ready = len(res.Missing) == 0
	return res, nil
}

// authoritative returns ip:port of every nameserver of the zone.
func (c *Checker) authoritative(ctx context.Context, resolvers dnsutil.Resolver, zone string) ([]string, error) {
	resp, err := resolvers.Query(ctx, zone, dns.TypeNS)
	if err != nil {
		return nil, fmt.Errorf("propagation: looking up NS %s: %w", zone, err)
	}
	port := c.AuthoritativePort
	if port == 0 {
		port = 53
	}
	var servers []string
	for _, rr := range resp.Answer {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		addrs, err := resolvers.Query(ctx, ns.Ns, dns.TypeA)
		if err != nil {
			return nil, fmt.Errorf("propagation: resolving nameserver %s: %w", ns.Ns, err)
		}
		for _, rr := range addrs.Answer {
			if a, ok := rr.(*dns.A); ok {
				servers = append(servers, net.JoinHostPort(a.A.String(), strconv.Itoa(port)))
			}
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("propagation: zone %s has no reachable nameservers (no NS with an A record)", zone)
	}
	slices.Sort(servers)
	return slices.Compact(servers), nil
}

// answered says what a server that lacks the value has at the name.
func answered(resp *dns.Msg) string {
	var values []string
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			values = append(values, strconv.Quote(strings.Join(txt.Txt, "")))
		}
	}
	switch {
	case resp.Rcode != dns.RcodeSuccess: // NXDOMAIN: other codes are errors (dnsutil.RcodeError)
		return dns.RcodeToString[resp.Rcode]
	case len(values) == 0:
		return "no TXT record"
	case len(values) > 3:
		return fmt.Sprintf("%d other values", len(values))
	}
	return "only " + strings.Join(values, ", ")
}
