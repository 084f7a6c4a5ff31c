// Package digitalocean is the DNS-01 provider for DigitalOcean's Domains API,
// through its SDK, godo. The zone of a record is the account's most specific
// domain that holds its name; a record is a TXT record in that domain, one per
// value, found again by type and name and removed by ID. A refused token or a
// name outside the account's domains is a configuration error
// (certflowdns.Permanent); rate limits and server errors are retried, first
// within the call (waiting as the API's Retry-After says, unless that is
// past the context's deadline) and then by the activity.
package digitalocean

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/digitalocean/godo"
	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/oauth2"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Config of one DigitalOcean account.
type Config struct {
	// Token is a personal access token with the domain scopes.
	Token string
	// BaseURL replaces https://api.digitalocean.com/ when set.
	BaseURL string
}

// Provider writes TXT records in the domains of one account.
type Provider struct {
	client *godo.Client
}

var _ certflowdns.Provider = (*Provider)(nil)

// defaultTTL is the TTL of a record that names none; minTTL is the least
// DigitalOcean accepts.
const (
	defaultTTL = 60
	minTTL     = 30
)

// pageSize is the most the API returns in one page.
const pageSize = 200

// New returns a provider for the account of cfg.Token.
func New(cfg Config) (*Provider, error) {
	if cfg.Token == "" {
		return nil, errors.New("digitalocean: no API token")
	}
	var opts []godo.ClientOpt
	if cfg.BaseURL != "" {
		opts = append(opts, godo.SetBaseURL(strings.TrimSuffix(cfg.BaseURL, "/")+"/"))
	}
	client, err := godo.New(retryingClient(cfg.Token), opts...)
	if err != nil {
		return nil, fmt.Errorf("digitalocean: %w", err)
	}
	return &Provider{client: client}, nil
}

// retryingClient sends each call with the token, and again after a 429 or a
// 5xx, up to three times, waiting as Retry-After says or backing off from 1s
// to 10s; the activity's own retries take over after that. It is the
// client godo's RetryConfig makes (go-retryablehttp), but for
// noWaitPastDeadline, for which godo has no option.
func retryingClient(token string) *http.Client {
	rc := retryablehttp.NewClient()
	rc.RetryMax = 3
	rc.RetryWaitMin, rc.RetryWaitMax = time.Second, 10*time.Second
	rc.Logger = nil
	rc.HTTPClient.Transport = &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		Base:   rc.HTTPClient.Transport,
	}
	rc.CheckRetry = noWaitPastDeadline
	// The last answer goes to godo as it came, so that its error holds the
	// API's message.
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return rc.StandardClient()
}

// noWaitPastDeadline retries what go-retryablehttp would, unless the wait
// before the retry (the answer's Retry-After, else the shortest backoff)
// ends after the call's context: go-retryablehttp would sleep until the
// context ends and return only "context deadline exceeded". The answer is
// returned at once instead, with DigitalOcean's message, for the activity to
// retry later.
func noWaitPastDeadline(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, err := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if !retry || err != nil {
		return retry, err
	}
	wait, ok := retryAfter(resp)
	if !ok {
		wait = time.Second
	}
	deadline, bounded := ctx.Deadline()
	return !bounded || !time.Now().Add(wait).After(deadline), nil
}

// retryAfter reads the Retry-After header: seconds, or an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t), true
	}
	return 0, false
}

// Kind builds the provider of a dns01 solver's digitalocean section, with the
// token from its Secret.
var Kind = certflowdns.Kind{
	Name:       "digitalocean",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.DigitalOcean != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	sel := solver.DigitalOcean.Token
	if sel.Name == "" || sel.Key == "" {
		return nil, certflowdns.Permanent(errors.New("digitalocean: tokenSecretRef needs a name and a key"))
	}
	token, err := setup.Credentials.SecretValue(ctx, sel.Name, sel.Key)
	if err != nil {
		return nil, fmt.Errorf("digitalocean: reading the API token: %w", err)
	}
	p, err := New(Config{Token: strings.TrimSpace(string(token)), BaseURL: setup.Endpoint})
	return p, certflowdns.Permanent(err)
}

// Present adds a TXT record with the value unless the domain has one.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	fqdn := strings.ToLower(strings.TrimSuffix(rec.FQDN, "."))
	zone, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		return "", err
	}
	existing, err := p.records(ctx, zone, fqdn)
	if err != nil {
		return "", err
	}
	for _, r := range existing {
		if r.Data == rec.Value {
			return zone + ".", nil
		}
	}
	ttl := rec.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	_, _, err = p.client.Domains.CreateRecord(ctx, zone, &godo.DomainRecordEditRequest{
		Type: "TXT", Name: relativeName(fqdn, zone), Data: rec.Value, TTL: max(ttl, minTTL),
	})
	if err != nil {
		return "", classify(fmt.Errorf("digitalocean: adding TXT %s in domain %s: %w", fqdn, zone, err))
	}
	return zone + ".", nil
}

// CleanUp deletes the TXT records at the name that hold this value; other
// values stay.
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	fqdn := strings.ToLower(strings.TrimSuffix(rec.FQDN, "."))
	zone, err := p.zoneOf(ctx, fqdn)
	if err != nil {
		return err
	}
	existing, err := p.records(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	for _, r := range existing {
		if r.Data != rec.Value {
			continue
		}
		resp, err := p.client.Domains.DeleteRecord(ctx, zone, r.ID)
		if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
			return classify(fmt.Errorf("digitalocean: removing TXT %s (record %d) in domain %s: %w", fqdn, r.ID, zone, err))
		}
	}
	return nil
}

// zoneOf is the account's most specific domain that holds fqdn.
func (p *Provider) zoneOf(ctx context.Context, fqdn string) (string, error) {
	zone := ""
	opt := &godo.ListOptions{PerPage: pageSize}
	for {
		domains, resp, err := p.client.Domains.List(ctx, opt)
		if err != nil {
			return "", classify(fmt.Errorf("digitalocean: listing the account's domains: %w", err))
		}
		for _, d := range domains {
			name := strings.ToLower(strings.TrimSuffix(d.Name, "."))
			if (fqdn == name || strings.HasSuffix(fqdn, "."+name)) && len(name) > len(zone) {
				zone = name
			}
		}
		if resp.Links == nil || resp.Links.IsLastPage() {
			break
		}
		if opt.Page, err = resp.Links.CurrentPage(); err != nil {
			return "", fmt.Errorf("digitalocean: listing the account's domains: %w", err)
		}
		opt.Page++
	}
	if zone == "" {
		return "", certflowdns.PermanentBecause(certflowdns.ZoneNotServed, fmt.Errorf("digitalocean: no domain of the account holds %s: add the domain, or use a token of the account that has it", fqdn))
	}
	return zone, nil
}

// records are the TXT records at fqdn in zone; the API filters by the full
// name.
func (p *Provider) records(ctx context.Context, zone, fqdn string) ([]godo.DomainRecord, error) {
	var all []godo.DomainRecord
	opt := &godo.ListOptions{PerPage: pageSize}
	for {
		records, resp, err := p.client.Domains.RecordsByTypeAndName(ctx, zone, "TXT", fqdn, opt)
		if err != nil {
			return nil, classify(fmt.Errorf("digitalocean: looking up TXT %s in domain %s: %w", fqdn, zone, err))
		}
		all = append(all, records...)
		if resp.Links == nil || resp.Links.IsLastPage() {
			return all, nil
		}
		if opt.Page, err = resp.Links.CurrentPage(); err != nil {
			return nil, fmt.Errorf("digitalocean: looking up TXT %s in domain %s: %w", fqdn, zone, err)
		}
		opt.Page++
	}
}

// relativeName is the record's name as the API takes it: relative to the
// domain, "@" for the domain itself.
func relativeName(fqdn, zone string) string {
	if fqdn == zone {
		return "@"
	}
	return strings.TrimSuffix(fqdn, "."+zone)
}

// classify marks the answers no retry mends as Permanent: a refused token
// (401, 403), a domain or record the API does not know (404) and a request it
// will not take (400, 422). Rate limits (429, already retried within the
// call as Retry-After said), server errors and network errors may pass on a
// retry.
func classify(err error) error {
	var apiErr *godo.ErrorResponse
	if !errors.As(err, &apiErr) || apiErr.Response == nil {
		return err
	}
	switch code := apiErr.Response.StatusCode; {
	case code == http.StatusTooManyRequests, code >= 500:
		return err
	case code >= 400:
		return certflowdns.RefusedWith(code, err)
	}
	return err
}
