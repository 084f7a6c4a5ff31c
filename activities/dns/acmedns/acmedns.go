// Package acmedns is the DNS-01 provider for acme-dns
// (github.com/joohoi/acme-dns), a small DNS server that holds challenge
// records only. It works by delegation: the user points
// _acme-challenge.<domain> at an acme-dns account's fulldomain with a CNAME,
// once, and certflow then sets the account's TXT value through acme-dns's
// /update API with the account's user and key. The accounts come from a
// Secret, as JSON keyed by domain (the file acme-dns-client and
// cert-manager use); a record at an account's fulldomain itself (the CNAME
// followed, with cnameStrategy Follow) is that account's.
//
// acme-dns has no delete and cannot be asked what it holds: each account has
// two slots, and every /update overwrites the older of the two, whatever it
// holds. An update with a value that is there already holds it twice and
// pushes out the other value, so Present first asks the worker's resolvers
// for the fulldomain's TXT values and updates only when the value is not
// among them (with no resolvers, or none that answers, it updates). CleanUp
// does nothing. Two values in flight is the limit per domain: a wildcard and
// its apex fit, and a third challenge for the same domain pushes out the
// older of them.
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

	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnsutil"
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
	// HTTPClient sends the updates; one with a 30s timeout when nil. It
	// never follows a redirect, which would take the account's key to
	// another host.
	HTTPClient *http.Client
	// Resolvers (host:port) are asked whether the fulldomain serves a
	// value already; with none, every Present updates.
	Resolvers []string
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
	client := http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &client
	return &Provider{cfg: cfg}, nil
}

// Kind builds the provider of a dns01 solver's acmeDNS section, with the
// accounts from its Secret and the worker's resolvers. The server's address
// is the solver's host, so the worker's --dns01-endpoint is not used.
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
	p, err := New(Config{Host: spec.Host, Accounts: accounts, Resolvers: setup.Resolvers})
	return p, certflowdns.Permanent(err)
}

// Present sets the TXT value of the domain's account, unless its fulldomain
// serves the value already. The zone it returns is the one acme-dns serves,
// where the value is: the fulldomain's parent.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	acct, ok := p.account(rec.FQDN)
	if !ok {
		domain := canonical(rec.FQDN)
		return "", certflowdns.Permanent(fmt.Errorf("acmedns: no account for domain %s in the solver's accounts: register one with %s and add it under %q", domain, p.cfg.Host, domain))
	}
	if !p.served(ctx, acct, rec.Value) {
		if err := p.update(ctx, acct, rec.Value); err != nil {
			return "", fmt.Errorf("acmedns: setting TXT %s (for %s) at %s: %w", acct.FullDomain, rec.FQDN, p.cfg.Host, err)
		}
	}
	_, zone, _ := strings.Cut(strings.TrimSuffix(acct.FullDomain, "."), ".")
	return zone + ".", nil
}

// account serves the record: the account of its domain, or, for a record
// at an account's fulldomain (the user's CNAME followed), that account.
func (p *Provider) account(fqdn string) (Account, bool) {
	if acct, ok := p.cfg.Accounts[canonical(fqdn)]; ok {
		return acct, true
	}
	name := strings.TrimSuffix(fqdn, ".")
	for _, acct := range p.cfg.Accounts {
		if strings.EqualFold(strings.TrimSuffix(acct.FullDomain, "."), name) {
			return acct, true
		}
	}
	return Account{}, false
}

// served says whether the resolvers answer the value at the account's
// fulldomain; no resolvers, or none that answers, is not.
func (p *Provider) served(ctx context.Context, acct Account, value string) bool {
	if len(p.cfg.Resolvers) == 0 {
		return false
	}
	resolvers := dnsutil.Resolver{Servers: p.cfg.Resolvers, Recurse: true}
	resp, err := resolvers.Query(ctx, acct.FullDomain, dns.TypeTXT)
	return err == nil && dnsutil.HasTXT(resp, value)
}

// CleanUp does nothing: acme-dns has no delete, and drops a value once two
// newer ones have come.
func (p *Provider) CleanUp(context.Context, certflowdns.TXT) error { return nil }

// update posts {subdomain, txt} to /update, as acme-dns's API says. Its
// refusals are permanent: 401 (user or key wrong, or the subdomain is not
// the account's) and 400 (bad_subdomain, bad_txt), and so is a redirect,
// which is not followed. Rate limits, server errors and network errors may
// pass on a retry.
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
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return certflowdns.Permanent(fmt.Errorf("acme-dns answered %s, redirecting to %q: not followed, as it would take the account's key there; set the solver's host to the address that serves /update", resp.Status, resp.Header.Get("Location")))
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
	return certflowdns.RefusedWith(resp.StatusCode, err)
}

// canonical is the domain whose account serves a record: its name without
// the trailing dot, _acme-challenge. and a leading wildcard label.
func canonical(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	name = strings.TrimPrefix(name, "_acme-challenge.")
	return strings.TrimPrefix(name, "*.")
}
