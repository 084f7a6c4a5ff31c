// Package clouddns is the DNS-01 provider for Google Cloud DNS, through
// google.golang.org/api/dns/v1. It authenticates with a service account's
// JSON key from a Secret, or with the worker's own Google credentials
// (Application Default Credentials, workload identity) where the issuer may
// use them. The zone is the solver's hostedZoneName, or the project's most
// specific public managed zone that holds the name.
//
// Cloud DNS keeps the values of a name in one record set and changes it
// atomically: a change deletes the old set and adds the new one, and is
// refused when the set it deletes is no longer what is there. So Present and
// CleanUp read the set, then replace it with ours added or taken away, other
// values kept; a refused change is retried by the activity, which reads
// again.
package clouddns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	gdns "google.golang.org/api/dns/v1"
	"google.golang.org/api/option"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Config of one project.
type Config struct {
	// Project is the Google Cloud project of the zones.
	Project string
	// HostedZoneName is the managed zone to write in; found from the name
	// when empty.
	HostedZoneName string
	// ServiceAccountKey is a service account's JSON key; nil uses the
	// ambient Google credentials.
	ServiceAccountKey []byte
	// Endpoint replaces https://dns.googleapis.com/ when set.
	Endpoint string
}

// Provider writes TXT record sets in the managed zones of one project.
type Provider struct {
	cfg Config
	svc *gdns.Service
}

var _ certflowdns.Provider = (*Provider)(nil)

const defaultTTL = 60

// tokenTimeout bounds a fetch of an access token, which the OAuth client
// makes without the request's context.
const tokenTimeout = 30 * time.Second

// New returns a provider for cfg.Project. The service account key, when
// given, must be one: other kinds of credential configuration (external
// accounts) are refused, as Google advises for keys from outside.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Project == "" {
		return nil, certflowdns.Permanent(errors.New("clouddns: no project"))
	}
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimSuffix(cfg.Endpoint, "/")+"/"))
	}
	if cfg.ServiceAccountKey != nil {
		// The token source outlives this call: it fetches tokens whenever
		// the one it holds expires, with this context.
		tokenCtx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, &http.Client{Timeout: tokenTimeout})
		creds, err := google.CredentialsFromJSONWithType(tokenCtx, cfg.ServiceAccountKey, google.ServiceAccount, gdns.NdevClouddnsReadwriteScope)
		if err != nil {
			// The parser's errors do not hold the key.
			return nil, certflowdns.Permanent(fmt.Errorf("clouddns: reading the service account key: %w", err))
		}
		opts = append(opts, option.WithTokenSource(creds.TokenSource))
	} else {
		opts = append(opts, option.WithScopes(gdns.NdevClouddnsReadwriteScope))
	}
	svc, err := gdns.NewService(ctx, opts...)
	if err != nil {
		return nil, certflowdns.Permanent(fmt.Errorf("clouddns: %w", err))
	}
	return &Provider{cfg: cfg, svc: svc}, nil
}

// Kind builds the provider of a dns01 solver's cloudDNS section.
var Kind = certflowdns.Kind{
	Name:       "cloudDNS",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.CloudDNS != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.CloudDNS
	cfg := Config{Project: spec.Project, HostedZoneName: spec.HostedZoneName, Endpoint: setup.Endpoint}
	switch sel := spec.ServiceAccount; {
	case sel != nil:
		if sel.Key == "" {
			return nil, certflowdns.Permanent(errors.New("clouddns: serviceAccountSecretRef needs a key"))
		}
		key, err := setup.Credentials.SecretValue(ctx, sel.Name, sel.Key)
		if err != nil {
			return nil, fmt.Errorf("clouddns: reading the service account key: %w", err)
		}
		cfg.ServiceAccountKey = key
	case !setup.AmbientCredentials:
		return nil, certflowdns.Permanent(errors.New("clouddns: serviceAccountSecretRef is not set, and an Issuer may use the worker's own Google credentials only when the worker runs with --issuer-ambient-credentials (a ClusterIssuer always may)"))
	}
	return New(ctx, cfg)
}

// Present adds the value to the TXT record set at the name, unless it is
// there.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	fqdn := strings.ToLower(dnsFqdn(rec.FQDN))
	zone, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		return "", err
	}
	old, err := p.rrset(ctx, zone.Name, fqdn)
	if err != nil {
		return "", err
	}
	value := quote(rec.Value)
	ttl := int64(rec.TTL)
	if ttl == 0 {
		ttl = defaultTTL
	}
	change := &gdns.Change{}
	if old != nil {
		if slices.Contains(old.Rrdatas, value) {
			return zone.DnsName, nil
		}
		change.Deletions = []*gdns.ResourceRecordSet{old}
		ttl = old.Ttl
	}
	change.Additions = []*gdns.ResourceRecordSet{{Name: fqdn, Type: "TXT", Ttl: ttl, Rrdatas: append(rrdatas(old), value)}}
	if err := p.apply(ctx, zone.Name, change); err != nil {
		return "", fmt.Errorf("clouddns: adding TXT %s in zone %s of project %s: %w", fqdn, zone.Name, p.cfg.Project, err)
	}
	return zone.DnsName, nil
}

// CleanUp takes the value away from the TXT record set at the name; other
// values stay.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	fqdn := strings.ToLower(dnsFqdn(rec.FQDN))
	zone, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		return err
	}
	old, err := p.rrset(ctx, zone.Name, fqdn)
	if err != nil || old == nil || !slices.Contains(old.Rrdatas, quote(rec.Value)) {
		return err
	}
	change := &gdns.Change{Deletions: []*gdns.ResourceRecordSet{old}}
	if rest := slices.DeleteFunc(rrdatas(old), func(v string) bool { return v == quote(rec.Value) }); len(rest) > 0 {
		change.Additions = []*gdns.ResourceRecordSet{{Name: fqdn, Type: "TXT", Ttl: old.Ttl, Rrdatas: rest}}
	}
	if err := p.apply(ctx, zone.Name, change); err != nil {
		return fmt.Errorf("clouddns: removing TXT %s in zone %s of project %s: %w", fqdn, zone.Name, p.cfg.Project, err)
	}
	return nil
}

// rrset is the TXT record set at fqdn, nil when there is none.
func (p *Provider) rrset(ctx context.Context, zone, fqdn string) (*gdns.ResourceRecordSet, error) {
	resp, err := p.svc.ResourceRecordSets.List(p.cfg.Project, zone).Name(fqdn).Type("TXT").Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("clouddns: reading TXT %s in zone %s of project %s: %w", fqdn, zone, p.cfg.Project, classify(err))
	}
	for _, set := range resp.Rrsets {
		if strings.EqualFold(set.Name, fqdn) && set.Type == "TXT" {
			return set, nil
		}
	}
	return nil, nil
}

// changePoll is how often a pending change is looked at again; Cloud DNS
// applies most within a few seconds.
const changePoll = 500 * time.Millisecond

// apply makes the change and waits, within the context, until Cloud DNS
// says it is done.
func (p *Provider) apply(ctx context.Context, zone string, change *gdns.Change) error {
	made, err := p.svc.Changes.Create(p.cfg.Project, zone, change).Context(ctx).Do()
	if err != nil {
		return classify(err)
	}
	for id := made.Id; made.Status != "done"; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for change %s to be done: %w", id, ctx.Err())
		case <-time.After(changePoll):
		}
		if made, err = p.svc.Changes.Get(p.cfg.Project, zone, id).Context(ctx).Do(); err != nil {
			return fmt.Errorf("waiting for change %s to be done: %w", id, classify(err))
		}
	}
	return nil
}

func rrdatas(set *gdns.ResourceRecordSet) []string {
	if set == nil {
		return nil
	}
	return slices.Clone(set.Rrdatas)
}

// quote is a TXT value as Cloud DNS holds it: one character-string in
// quotes (a key authorization digest has no quotes or backslashes).
func quote(value string) string { return `"` + value + `"` }

func dnsFqdn(name string) string { return strings.TrimSuffix(name, ".") + "." }
