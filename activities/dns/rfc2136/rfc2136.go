// Package rfc2136 is the DNS-01 provider for servers that take RFC 2136 dynamic
// updates signed with TSIG (BIND, Knot, PowerDNS, Windows DNS). It talks to one
// nameserver, the primary for the zone, and finds the zone by asking that
// server for the SOA above the record. A server that refuses the zone or the
// key is a configuration error (certflowdns.Permanent), said so that a user
// knows what to fix.
package rfc2136

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnsutil"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
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

// Kind builds the provider of a dns01 solver's rfc2136 section, with the TSIG
// secret from its Secret.
var Kind = certflowdns.Kind{
	Name:       "rfc2136",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.RFC2136 != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.RFC2136
	cfg := Config{Nameserver: spec.Nameserver, TSIGKeyName: spec.TSIGKeyName, TSIGAlgorithm: spec.TSIGAlgorithm}
	if cfg.TSIGKeyName != "" && cfg.TSIGAlgorithm == "" {
		cfg.TSIGAlgorithm = "HMACMD5" // the API's default, as in cert-manager
	}
	if sel := spec.TSIGSecret; sel != nil {
		if sel.Key == "" {
			return nil, certflowdns.Permanent(errors.New("rfc2136: tsigSecretSecretRef needs a key"))
		}
		value, err := setup.Credentials.SecretValue(ctx, sel.Name, sel.Key)
		if err != nil {
			return nil, fmt.Errorf("rfc2136: reading the TSIG secret: %w", err)
		}
		cfg.TSIGSecret = strings.TrimSpace(string(value))
		if _, err := base64.StdEncoding.DecodeString(cfg.TSIGSecret); err != nil {
			// The error says where the bad byte is, never the secret.
			return nil, certflowdns.Permanent(fmt.Errorf("rfc2136: the TSIG secret in Secret %s key %q is not base64: %w", sel.Name, sel.Key, err))
		}
	}
	p, err := New(cfg)
	return p, certflowdns.Permanent(err)
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
		return "", fmt.Errorf("rfc2136 server %s, zone %s: %w", p.cfg.Nameserver, zone, err)
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
		return fmt.Errorf("rfc2136 server %s, zone %s: %w", p.cfg.Nameserver, zone, err)
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

// server asks the nameserver itself, without recursion, over TCP: updates
// and their answers may not fit in UDP, and TCP gets a clear error instead
// of a silent loss.
func (p *Provider) server() dnsutil.Resolver {
	return dnsutil.Resolver{Servers: []string{p.cfg.Nameserver}, TCP: true, Timeout: p.cfg.Timeout}
}

// zoneOf asks the server for the zone that holds the name. A server that
// refuses, or answers without an SOA, is not authoritative for it: the
// solver points at the wrong server, or the zone is not on it.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (string, error) {
	zone, err := p.server().Zone(ctx, fqdn)
	var rcode *dnsutil.RcodeError
	switch {
	case err == nil:
		return zone, nil
	case errors.As(err, &rcode) && rcode.Rcode != dns.RcodeServerFailure:
		return "", certflowdns.PermanentBecause(certflowdns.ZoneNotServed,
			fmt.Errorf("rfc2136 server %s is not authoritative for the record's zone (it answered %s)", p.cfg.Nameserver, dns.RcodeToString[rcode.Rcode]))
	case strings.Contains(err.Error(), "no SOA"):
		return "", certflowdns.PermanentBecause(certflowdns.ZoneNotServed,
			fmt.Errorf("rfc2136 server %s is not authoritative for the record's zone (its answer has no SOA)", p.cfg.Nameserver))
	}
	return "", fmt.Errorf("rfc2136 server %s: %w", p.cfg.Nameserver, err)
}

func (p *Provider) hasTXT(ctx context.Context, rec certflowdns.TXT) (bool, error) {
	resp, err := p.server().Query(ctx, rec.FQDN, dns.TypeTXT)
	if err != nil {
		return false, fmt.Errorf("rfc2136 server %s: looking up the record: %w", p.cfg.Nameserver, err)
	}
	return dnsutil.HasTXT(resp, rec.Value), nil
}

// send sends an update, signed when the provider has a key, and reads the
// answer. A refusal is permanent: the server will refuse the same update
// again until its configuration or the solver's changes.
func (p *Provider) send(ctx context.Context, update *dns.Msg) error {
	c := &dns.Client{Net: "tcp", Timeout: p.cfg.Timeout}
	signed := p.cfg.TSIGKeyName != ""
	if signed {
		update.SetTsig(p.cfg.TSIGKeyName, p.cfg.TSIGAlgorithm, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{p.cfg.TSIGKeyName: p.cfg.TSIGSecret}
	}
	resp, _, err := c.ExchangeContext(ctx, update, p.cfg.Nameserver)
	badSignature := err != nil && resp != nil && errors.Is(err, dns.ErrAuth)
	if err != nil && !badSignature {
		return err
	}
	if resp.Rcode != dns.RcodeSuccess {
		// A server that refuses our key does not sign its answer; the
		// refusal is read all the same.
		err := fmt.Errorf("the server answered %s%s", dns.RcodeToString[resp.Rcode], hint(resp.Rcode))
		switch resp.Rcode {
		case dns.RcodeServerFailure:
			return err
		case dns.RcodeNotZone:
			return certflowdns.PermanentBecause(certflowdns.ZoneNotServed, err)
		}
		return certflowdns.PermanentBecause(certflowdns.AuthFailed, err)
	}
	if signed && (badSignature || resp.IsTsig() == nil) {
		// Only the server holds the key: a success it did not sign may be
		// anyone's, and the record may not be there.
		return errors.New("the server's answer is not signed with the TSIG key")
	}
	return nil
}

func hint(rcode int) string {
	switch rcode {
	case dns.RcodeRefused:
		return " (the server does not allow this key, or any key, to update the zone)"
	case dns.RcodeNotAuth:
		return " (the TSIG key name, algorithm or secret does not match the server's)"
	case dns.RcodeNotZone:
		return " (the name is not in the zone the server holds)"
	}
	return ""
}
