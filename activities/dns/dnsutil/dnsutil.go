// Package dnsutil holds the DNS lookups that every DNS-01 provider and the
// propagation check share: asking a list of servers in turn, finding the zone
// a name is in, following a CNAME chain, and matching a TXT value. It only
// asks; it changes nothing. It must not import workflows.
package dnsutil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// MaxCNAMEs bounds a CNAME chain, as resolvers do, so that a loop fails.
const MaxCNAMEs = 8

// defaultTimeout bounds one exchange with one server.
const defaultTimeout = 5 * time.Second

// Resolver asks its servers in turn until one answers.
type Resolver struct {
	// Servers are host:port.
	Servers []string
	// Recurse asks for recursion: set it for resolvers, not for
	// authoritative servers.
	Recurse bool
	// TCP asks over TCP only; else over UDP, and again over TCP when the
	// answer was truncated.
	TCP bool
	// Timeout of one exchange; 5 s when zero.
	Timeout time.Duration
}

// RcodeError is an answer that was neither success nor NXDOMAIN.
type RcodeError struct {
	Server string
	Rcode  int
}

func (e *RcodeError) Error() string {
	return fmt.Sprintf("%s answered %s", e.Server, dns.RcodeToString[e.Rcode])
}

// Query asks for name's records of qtype. An answer other than success or
// NXDOMAIN is an *RcodeError; when every server fails, the errors are joined.
func (r Resolver) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if len(r.Servers) == 0 {
		return nil, errors.New("no DNS servers to ask")
	}
	var errs []error
	for _, server := range r.Servers {
		resp, err := r.exchange(ctx, server, name, qtype)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (r Resolver) exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = r.Recurse
	c := &dns.Client{Timeout: r.Timeout}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if r.TCP {
		c.Net = "tcp"
	}
	resp, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated && !r.TCP {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, q, server)
	}
	if err != nil {
		return nil, fmt.Errorf("asking %s for %s %s: %w", server, dns.TypeToString[qtype], name, err)
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return nil, &RcodeError{Server: server, Rcode: resp.Rcode}
	}
	return resp, nil
}

// Zone finds the zone that holds name: the owner of the SOA record in the
// answer or authority section of an SOA query.
func (r Resolver) Zone(ctx context.Context, name string) (string, error) {
	resp, err := r.Query(ctx, name, dns.TypeSOA)
	if err != nil {
		return "", fmt.Errorf("finding the zone of %s: %w", name, err)
	}
	for _, rr := range slices.Concat(resp.Answer, resp.Ns) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Hdr.Name, nil
		}
	}
	return "", fmt.Errorf("finding the zone of %s: no SOA in the answer (%s)", name, dns.RcodeToString[resp.Rcode])
}

// CNAME is name's CNAME target, "" when it has none.
func (r Resolver) CNAME(ctx context.Context, name string) (string, error) {
	resp, err := r.Query(ctx, name, dns.TypeCNAME)
	if err != nil {
		return "", fmt.Errorf("looking up CNAME %s: %w", name, err)
	}
	for _, rr := range resp.Answer {
		if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, dns.Fqdn(name)) {
			return cn.Target, nil
		}
	}
	return "", nil
}

// FollowCNAMEs is where the CNAME chain that starts at name ends: name itself
// (fully qualified) when it has no CNAME.
func (r Resolver) FollowCNAMEs(ctx context.Context, name string) (string, error) {
	name = dns.Fqdn(name)
	for range MaxCNAMEs {
		target, err := r.CNAME(ctx, name)
		if err != nil || target == "" {
			return name, err
		}
		name = target
	}
	return "", fmt.Errorf("following the CNAME chain of %s: longer than %d links (a loop?)", name, MaxCNAMEs)
}

// HasTXT says whether the answer holds a TXT record with value (its strings
// joined, as a CA reads them).
func HasTXT(resp *dns.Msg, value string) bool {
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == value {
			return true
		}
	}
	return false
}
