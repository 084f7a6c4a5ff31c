// Package acmedns is the DNS-01 provider for acme-dns
// (github.com/joohoi/acme-dns), a small DNS server that holds challenge
// records only. It works by delegation: the user points
// _acme-challenge.<domain> at an acme-dns account's fulldomain with a CNAME,
// once, and certflow then sets the account's TXT value through acme-dns's
// /update API with the account's user and key. The accounts come from a
// Secret, as JSON keyed by domain (the file acme-dns-client and
// cert-manager use).
//
// acme-dns has no delete: it keeps the two most recent values of each
// account and drops the older as a new one comes, which is enough for a
// wildcard and its apex. So CleanUp does nothing, and Present cannot look
// before it acts (acme-dns cannot be asked what it holds); presenting a
// value again only makes it the most recent.
package acmedns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Account is one acme-dns registration, as /register answers it.
type Account struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	FullDomain string   `json:"fulldomain"`
	SubDomain  string   `json:"subdomain"`
	AllowFrom  []string `json:"allowfrom"`
}

// Config of one acme-dns server.
type Config struct {
	// Host is the server's base URL ("https://auth.acme-dns.io").
	Host string
	// Accounts by domain ("example.com"), the name a record is for without
	// _acme-challenge. and a leading wildcard label.
	Accounts map[string]Account
	// HTTPClient sends the updates; one with a 30s timeout when nil.
	HTTPClient *http.Client
}

// Provider updates the TXT values of acme-dns accounts.
type Provider struct {
	cfg Config
}

var _ certflowdns.Provider = (*Provider)(nil)

// New checks the configuration and returns a provider.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Host)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("acmedns: host %q is not an http or https URL", cfg.Host)
	}
	accounts := map[string]Account{}
	for domain, acct := range cfg.Accounts {
		accounts[canonical(domain)] = acct
	}
	cfg.Accounts = accounts
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Provider{cfg: cfg}, nil
}

// Kind builds the provider of a dns01 solver's acmeDNS section, with the
// accounts from its Secret. The server's address is the solver's host, so
// the worker's --dns01-endpoint is not used.
var Kind = certflowdns.Kind{
	Name:       "acmeDNS",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.AcmeDNS != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.AcmeDNS
	sel := spec.AccountSecret
	if sel.Name == "" || sel.Key == "" {
		return nil, certflowdns.Permanent(errors.New("acmedns: accountSecretRef needs a name and a key"))
	}
	raw, err := setup.Credentials.SecretValue(ctx, sel.Name, sel.Key)
	if err != nil {
		return nil, fmt.Errorf("acmedns: reading the accounts: %w", err)
	}
	var accounts map[string]Account
	if err := json.Unmarshal(raw, &accounts); err != nil {
		// json's errors name an offset or a type, never the text.
		return nil, certflowdns.Permanent(fmt.Errorf("acmedns: the accounts in Secret %s key %q are not a JSON object of accounts by domain: %w", sel.Name, sel.Key, err))
	}
	p, err := New(Config{Host: spec.Host, Accounts: accounts})
	return p, certflowdns.Permanent(err)
}

// Present sets the TXT value of the domain's account. The zone it returns
// is the one acme-dns serves, where the value is: the fulldomain's parent.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	domain := canonical(rec.FQDN)
	acct, ok := p.cfg.Accounts[domain]
	if !ok {
		return "", certflowdns.Permanent(fmt.Errorf("acmedns: no account for domain %s in the solver's accounts: register one with %s and add it under %q", domain, p.cfg.Host, domain))
	}
	if err := p.update(ctx, acct, rec.Value); err != nil {
		return "", fmt.Errorf("acmedns: setting TXT %s (for %s) at %s: %w", acct.FullDomain, rec.FQDN, p.cfg.Host, err)
	}
	_, zone, _ := strings.Cut(strings.TrimSuffix(acct.FullDomain, "."), ".")
	return zone + ".", nil
}

// CleanUp does nothing: acme-dns has no delete, and drops a value once two
// newer ones have come.
func (p *Provider) CleanUp(context.Context, certflowdns.TXT) error { return nil }

// update posts {subdomain, txt} to /update, as acme-dns's API says. Its
// refusals are permanent: 401 (user or key wrong, or the subdomain is not
// the account's) and 400 (bad_subdomain, bad_txt). Rate limits, server
// errors and network errors may pass on a retry.
func (p *Provider) update(ctx context.Context, acct Account, value string) error {
	body, _ := json.Marshal(map[string]string{"subdomain": acct.SubDomain, "txt": value})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.cfg.Host, "/")+"/update", bytes.NewReader(body))
	if err != nil {
		return certflowdns.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-User", acct.Username)
	req.Header.Set("X-Api-Key", acct.Password)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var apiErr struct {
		Error string `json:"error"`
	}
	reason := strings.TrimSpace(string(answer))
	if json.Unmarshal(answer, &apiErr) == nil && apiErr.Error != "" {
		reason = apiErr.Error
	}
	err = fmt.Errorf("acme-dns answered %s: %s", resp.Status, reason)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return certflowdns.Permanent(err)
}

// canonical is the domain whose account serves a record: its name without
// the trailing dot, _acme-challenge. and a leading wildcard label.
func canonical(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	name = strings.TrimPrefix(name, "_acme-challenge.")
	return strings.TrimPrefix(name, "*.")
}
