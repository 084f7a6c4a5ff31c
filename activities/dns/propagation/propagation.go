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
	// Missing names the servers that do not have it yet, for status and logs.
	Missing []string
	// Zone is the zone the record is in (after following CNAMEs).
	Zone string
}

// maxCNAMEs bounds CNAME chains, as resolvers do, so a loop cannot hang a check.
const maxCNAMEs = 8

// Check asks whether the TXT record fqdn holds value everywhere it must.
func (c *Checker) Check(ctx context.Context, fqdn, value string) (Result, error) {
	if len(c.Resolvers) == 0 {
		return Result{}, errors.New("propagation: no resolvers configured")
	}
	name := dns.Fqdn(fqdn)
	for range maxCNAMEs {
		target, err := c.cname(ctx, name)
		if err != nil {
			return Result{}, err
		}
		if target == "" {
			break
		}
		name = target
	}
	if c.ResolversOnly {
		return c.ask(ctx, c.Resolvers, name, value, "")
	}
	zone, err := c.zoneOf(ctx, name)
	if err != nil {
		return Result{}, err
	}
	servers, err := c.authoritative(ctx, zone)
	if err != nil {
		return Result{}, err
	}
	return c.ask(ctx, servers, name, value, zone)
}

// ask queries each server for the TXT record without recursion.
func (c *Checker) ask(ctx context.Context, servers []string, name, value, zone string) (Result, error) {
	res := Result{Zone: zone}
	for _, server := range servers {
		resp, err := c.exchange(ctx, server, name, dns.TypeTXT, c.ResolversOnly)
		if err != nil {
			return Result{}, fmt.Errorf("propagation: asking %s for TXT %s: %w", server, name, err)
		}
		if !hasTXT(resp, value) {
			res.Missing = append(res.Missing, server)
		}
	}
	res.Ready = len(res.Missing) == 0
	return res, nil
}

func hasTXT(resp *dns.Msg, value string) bool {
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == value {
			return true
		}
	}
	return false
}

// cname returns the CNAME target of name, or "" when it has none.
func (c *Checker) cname(ctx context.Context, name string) (string, error) {
	resp, err := c.resolve(ctx, name, dns.TypeCNAME)
	if err != nil {
		return "", fmt.Errorf("propagation: looking up CNAME %s: %w", name, err)
	}
	for _, rr := range resp.Answer {
		if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, name) {
			return cn.Target, nil
		}
	}
	return "", nil
}

// zoneOf finds the zone apex above name from the SOA in the answer or authority section.
func (c *Checker) zoneOf(ctx context.Context, name string) (string, error) {
	resp, err := c.resolve(ctx, name, dns.TypeSOA)
	if err != nil {
		return "", fmt.Errorf("propagation: finding the zone of %s: %w", name, err)
	}
	for _, rr := range slices.Concat(resp.Answer, resp.Ns) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Hdr.Name, nil
		}
	}
	return "", fmt.Errorf("propagation: finding the zone of %s: no SOA in the answer (%s)", name, dns.RcodeToString[resp.Rcode])
}

// authoritative returns ip:port of every nameserver of the zone.
func (c *Checker) authoritative(ctx context.Context, zone string) ([]string, error) {
	resp, err := c.resolve(ctx, zone, dns.TypeNS)
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
		addrs, err := c.resolve(ctx, ns.Ns, dns.TypeA)
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

// resolve asks the resolvers in turn until one answers.
func (c *Checker) resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	var errs []error
	for _, r := range c.Resolvers {
		resp, err := c.exchange(ctx, r, name, qtype, true)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", r, err))
	}
	return nil, errors.Join(errs...)
}

func (c *Checker) exchange(ctx context.Context, server, name string, qtype uint16, recurse bool) (*dns.Msg, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = recurse
	client := &dns.Client{Timeout: timeout}
	resp, _, err := client.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		client.Net = "tcp"
		resp, _, err = client.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, err
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("answer %s", dns.RcodeToString[resp.Rcode])
	}
	return resp, nil
}
