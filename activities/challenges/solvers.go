package challenges

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/activities"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// solver is one dns01 solver of an issuer with its provider built.
type solver struct {
	index    int
	follow   bool // cnameStrategy Follow
	provider certflowdns.Provider
}

// solvers builds the providers of one issuer's dns01 solvers as records ask
// for them, each once per activity call. Nothing is kept between calls: a
// changed issuer or Secret takes effect at the next attempt.
type solvers struct {
	a      *Activities
	issuer *issuers.Issuer
	built  map[int]*solver
}

func (a *Activities) solvers(ctx context.Context, ref activities.IssuerRef) (*solvers, error) {
	iss, err := a.Issuers.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if iss.Spec.ACME == nil {
		return nil, configError("%s is not an ACME issuer: it has no dns01 solvers", ref)
	}
	return &solvers{a: a, issuer: iss, built: map[int]*solver{}}, nil
}

// get returns solver index of spec.acme.solvers.
func (s *solvers) get(ctx context.Context, index int) (*solver, error) {
	if sv, ok := s.built[index]; ok {
		return sv, nil
	}
	ref, all := s.issuer.Ref, s.issuer.Spec.ACME.Solvers
	if index < 0 || index >= len(all) {
		return nil, configError("%s has no solver %d (it has %d): the issuer changed during the issuance", ref, index, len(all))
	}
	dns01 := all[index].DNS01
	if dns01 == nil {
		return nil, configError("%s solver %d has no dns01 section", ref, index)
	}
	sv := &solver{index: index, follow: dns01.CNAMEStrategy == certflowv1.FollowStrategy}
	var err error
	switch {
	case dns01.RFC2136 != nil:
		sv.provider, err = s.rfc2136(ctx, index, dns01.RFC2136)
	case dns01.Cloudflare != nil:
		err = unsupported(ref, index, "cloudflare")
	case dns01.Route53 != nil:
		err = unsupported(ref, index, "route53")
	case dns01.Webhook != nil:
		err = unsupported(ref, index, "webhook")
	case dns01.AzureDNS != nil:
		err = unsupported(ref, index, "azureDNS")
	default:
		err = configError("%s solver %d: dns01 sets no provider", ref, index)
	}
	if err != nil {
		return nil, err
	}
	s.built[index] = sv
	return sv, nil
}

func unsupported(ref activities.IssuerRef, index int, provider string) error {
	return configError("%s solver %d: dns01 provider %s is not supported yet", ref, index, provider)
}

// rfc2136 builds the RFC 2136 provider, reading the TSIG secret from the
// issuer's Secret namespace (issuers.Loader refuses any other).
func (s *solvers) rfc2136(ctx context.Context, index int, spec *certflowv1.ACMEIssuerDNS01ProviderRFC2136) (certflowdns.Provider, error) {
	ref := s.issuer.Ref
	cfg := rfc2136.Config{
		Nameserver:    spec.Nameserver,
		TSIGKeyName:   spec.TSIGKeyName,
		TSIGAlgorithm: spec.TSIGAlgorithm,
	}
	if cfg.TSIGKeyName != "" && cfg.TSIGAlgorithm == "" {
		// The API's default, as in cert-manager (the provider's own is HMACSHA256).
		cfg.TSIGAlgorithm = "HMACMD5"
	}
	if sel := spec.TSIGSecret; sel != nil {
		if sel.Key == "" {
			return nil, configError("%s solver %d: rfc2136 tsigSecretSecretRef needs a key", ref, index)
		}
		value, err := s.a.Issuers.SecretValue(ctx, s.issuer, sel.Name, sel.Key)
		if err != nil {
			return nil, wrap(err, "solver %d: reading the TSIG secret", index)
		}
		cfg.TSIGSecret = strings.TrimSpace(string(value))
		if _, err := base64.StdEncoding.DecodeString(cfg.TSIGSecret); err != nil {
			// The error says where the bad byte is, never the secret.
			return nil, configError("%s solver %d: the TSIG secret in Secret %s/%s key %q is not base64: %v",
				ref, index, s.issuer.SecretNamespace, sel.Name, sel.Key, err)
		}
	}
	p, err := rfc2136.New(cfg)
	if err != nil {
		return nil, configError("%s solver %d: %v", ref, index, err)
	}
	return p, nil
}

// maxCNAMEs bounds a CNAME chain, as resolvers do, so that a loop fails.
const maxCNAMEs = 8

// followCNAME returns where the CNAME chain that starts at name ends (name
// itself when it has no CNAME), asking the checker's resolvers. It serves
// cnameStrategy Follow: the record is written at the end of the chain, in a
// zone the solver's credentials may be limited to.
func (a *Activities) followCNAME(ctx context.Context, name string) (string, error) {
	if a.Checker == nil || len(a.Checker.Resolvers) == 0 {
		return "", configError("cnameStrategy Follow needs DNS resolvers, and the worker has none configured")
	}
	name = dns.Fqdn(name)
	for range maxCNAMEs {
		target, err := a.cname(ctx, name)
		if err != nil {
			return "", err
		}
		if target == "" {
			return name, nil
		}
		name = target
	}
	return "", fmt.Errorf("following the CNAME chain of %s: longer than %d links (a loop?)", name, maxCNAMEs)
}

func (a *Activities) cname(ctx context.Context, name string) (string, error) {
	timeout := a.Checker.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeCNAME)
	c := &dns.Client{Timeout: timeout}
	var lastErr error
	for _, server := range a.Checker.Resolvers {
		resp, _, err := c.ExchangeContext(ctx, q, server)
		if err == nil && resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			err = fmt.Errorf("answer %s", dns.RcodeToString[resp.Rcode])
		}
		if err != nil {
			lastErr = fmt.Errorf("looking up CNAME %s at %s: %w", name, server, err)
			continue
		}
		for _, rr := range resp.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, name) {
				return cn.Target, nil
			}
		}
		return "", nil
	}
	return "", lastErr
}
