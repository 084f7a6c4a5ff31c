// Package rfc2136 is the DNS-01 provider for servers that take RFC 2136 dynamic
// updates signed with TSIG (BIND, Knot, PowerDNS, Windows DNS). It talks to one
// nameserver, the primary for the zone, and finds the zone by asking that
// server for the SOA above the record.
package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
)

// Config of one server. The TSIG secret comes from a Kubernetes Secret, read by
// the activity that builds the provider; it never travels in workflow history.
type Config struct {
	// Nameserver is host:port (port 53 when omitted).
	Nameserver string
	// TSIGKeyName, TSIGAlgorithm (default hmac-sha256) and TSIGSecret (base64)
	// sign updates; an empty key name sends them unsigned.
	TSIGKeyName   string
	TSIGAlgorithm string
	TSIGSecret    string
	// Timeout for one exchange with the server; default 10s.
	Timeout time.Duration
}

// Provider sends dynamic updates to one nameserver.
type Provider struct {
	cfg Config
}

var _ certflowdns.Provider = (*Provider)(nil)

// New checks the configuration and returns a provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Nameserver == "" {
		return nil, errors.New("rfc2136: no nameserver")
	}
	if _, _, err := net.SplitHostPort(cfg.Nameserver); err != nil {
		cfg.Nameserver = net.JoinHostPort(cfg.Nameserver, "53")
	}
	if cfg.TSIGKeyName != "" {
		cfg.TSIGKeyName = dns.Fqdn(cfg.TSIGKeyName)
		alg, err := algorithm(cfg.TSIGAlgorithm)
		if err != nil {
			return nil, err
		}
		cfg.TSIGAlgorithm = alg
		if cfg.TSIGSecret == "" {
			return nil, fmt.Errorf("rfc2136: TSIG key %s has no secret", cfg.TSIGKeyName)
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Provider{cfg: cfg}, nil
}

// algorithm maps the names users write (cert-manager's HMACSHA256, BIND's
// hmac-sha256) to the wire name.
func algorithm(name string) (string, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(name, "."), "-", "")) {
	case "", "HMACSHA256":
		return dns.HmacSHA256, nil
	case "HMACSHA384":
		return dns.HmacSHA384, nil
	case "HMACSHA512":
		return dns.HmacSHA512, nil
	case "HMACSHA1":
		return dns.HmacSHA1, nil
	case "HMACMD5":
		return dns.HmacMD5, nil
	}
	return "", fmt.Errorf("rfc2136: unsupported TSIG algorithm %q (want HMACSHA256, HMACSHA384, HMACSHA512, HMACSHA1 or HMACMD5)", name)
}

// Present adds the TXT record unless the server already has it.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	zone, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return "", err
	}
	has, err := p.hasTXT(ctx, rec)
	if err != nil {
		return "", err
	}
	if has {
		return zone, nil
	}
	update := new(dns.Msg)
	update.SetUpdate(zone)
	update.Insert([]dns.RR{p.txt(rec)})
	if err := p.send(ctx, update); err != nil {
		return "", fmt.Errorf("rfc2136: adding TXT %s in zone %s: %w", rec.FQDN, zone, err)
	}
	return zone, nil
}

// CleanUp removes this value of the TXT record; other values stay (another
// certificate's challenge for the same name may still need them).
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	zone, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return err
	}
	update := new(dns.Msg)
	update.SetUpdate(zone)
	update.Remove([]dns.RR{p.txt(rec)})
	if err := p.send(ctx, update); err != nil {
		return fmt.Errorf("rfc2136: removing TXT %s in zone %s: %w", rec.FQDN, zone, err)
	}
	return nil
}

func (p *Provider) txt(rec certflowdns.TXT) *dns.TXT {
	ttl := rec.TTL
	if ttl == 0 {
		ttl = 60
	}
	return &dns.TXT{
		Hdr: dns.RR_Header{Name: dns.Fqdn(rec.FQDN), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl)},
		Txt: []string{rec.Value},
	}
}

// zoneOf asks the server for the SOA of the name; the answer or the authority
// section names the zone that holds it.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (string, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(fqdn), dns.TypeSOA)
	resp, err := p.exchange(ctx, q, false)
	if err != nil {
		return "", fmt.Errorf("rfc2136: finding the zone of %s at %s: %w", fqdn, p.cfg.Nameserver, err)
	}
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range section {
			if soa, ok := rr.(*dns.SOA); ok {
				return soa.Hdr.Name, nil
			}
		}
	}
	return "", fmt.Errorf("rfc2136: finding the zone of %s at %s: no SOA in the answer (%s): is the server authoritative for it?",
		fqdn, p.cfg.Nameserver, dns.RcodeToString[resp.Rcode])
}

func (p *Provider) hasTXT(ctx context.Context, rec certflowdns.TXT) (bool, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(rec.FQDN), dns.TypeTXT)
	resp, err := p.exchange(ctx, q, false)
	if err != nil {
		return false, fmt.Errorf("rfc2136: looking up TXT %s: %w", rec.FQDN, err)
	}
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == rec.Value {
			return true, nil
		}
	}
	return false, nil
}

func (p *Provider) send(ctx context.Context, update *dns.Msg) error {
	resp, err := p.exchange(ctx, update, true)
	if err != nil {
		return err
	}
	if resp.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("server answered %s%s", dns.RcodeToString[resp.Rcode], hint(resp.Rcode))
	}
	return nil
}

func hint(rcode int) string {
	switch rcode {
	case dns.RcodeRefused:
		return " (the server does not allow this key, or any key, to update the zone)"
	case dns.RcodeNotAuth:
		return " (the TSIG key name, algorithm or secret does not match the server's)"
	}
	return ""
}

// exchange sends over TCP: updates and their answers may not fit in UDP, and
// TCP gets a clear error instead of a silent loss. Updates are signed; lookups
// need no key.
func (p *Provider) exchange(ctx context.Context, msg *dns.Msg, sign bool) (*dns.Msg, error) {
	c := &dns.Client{Net: "tcp", Timeout: p.cfg.Timeout}
	if sign && p.cfg.TSIGKeyName != "" {
		msg.SetTsig(p.cfg.TSIGKeyName, p.cfg.TSIGAlgorithm, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{p.cfg.TSIGKeyName: p.cfg.TSIGSecret}
	}
	resp, _, err := c.ExchangeContext(ctx, msg, p.cfg.Nameserver)
	if err != nil && resp != nil && errors.Is(err, dns.ErrAuth) {
		// The server refused our signature and so did not sign its answer.
		return resp, nil
	}
	return resp, err
}
