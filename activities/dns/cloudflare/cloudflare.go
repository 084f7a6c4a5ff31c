// Package cloudflare is the DNS-01 provider for zones hosted by Cloudflare,
// through its API v4 and Cloudflare's own Go SDK. It authenticates with an
// API token (Zone:Read and DNS:Edit on the zone) or with a global API key and
// the account's email, finds the zone by asking for the record's name and
// each parent in turn (the most specific active one), and adds and removes TXT records by value, so that a
// retried Present finds the record an earlier attempt made and CleanUp
// leaves other values at the same name. Refusals that only a user can mend
// (credentials, permissions, a name in no zone) are certflowdns.Permanent,
// with Cloudflare's own message.
package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/cloudflare/cloudflare-go/v6/zones"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// DefaultBaseURL is Cloudflare's API v4.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4"

// defaultTTL is the TTL of a record whose TXT names none: a minute, so that a
// value left behind by a lost CleanUp is not cached for long.
const defaultTTL = 60

// maxRetries bounds the SDK's own retries of one call (429, 5xx, network);
// the activity's retry policy takes over after them.
const maxRetries = 3

// Config of one Cloudflare account. The token or key comes from a Kubernetes
// Secret, read by the activity that builds the provider; it never travels in
// workflow history.
type Config struct {
	// APIToken is sent as "Authorization: Bearer"; it is used when set.
	APIToken string
	// APIKey and Email are the global API key and its account's email,
	// sent as X-Auth-Key and X-Auth-Email when there is no APIToken.
	APIKey, Email string
	// BaseURL of the API; DefaultBaseURL when empty.
	BaseURL string
	// HTTPClient sends the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Provider adds and removes TXT records in the zones one account holds.
type Provider struct {
	zones   *zones.ZoneService
	records *dns.RecordService
}

var _ certflowdns.Provider = (*Provider)(nil)

// New checks the configuration and returns a provider.
func New(cfg Config) (*Provider, error) {
	opts := []option.RequestOption{
		option.WithBaseURL(DefaultBaseURL),
		option.WithMaxRetries(maxRetries),
		option.WithMiddleware(noWaitPastDeadline),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	switch {
	case cfg.APIToken != "":
		opts = append(opts, option.WithAPIToken(cfg.APIToken))
	case cfg.APIKey != "" && cfg.Email != "":
		opts = append(opts, option.WithAPIKey(cfg.APIKey), option.WithAPIEmail(cfg.Email))
	case cfg.APIKey != "":
		return nil, errors.New("cloudflare: an API key needs the account's email")
	default:
		return nil, errors.New("cloudflare: no API token or API key")
	}
	// The services are made from these options alone: cloudflare.NewClient
	// would add the worker's CLOUDFLARE_* environment to every issuer's
	// credentials.
	return &Provider{zones: zones.NewZoneService(opts...), records: dns.NewRecordService(opts...)}, nil
}

// Kind builds the provider of a dns01 solver's cloudflare section, with the
// token or key from its Secret.
var Kind = certflowdns.Kind{
	Name:       "cloudflare",
	Configured: func(s *certflowv1.ACMEChallengeSolverDNS01) bool { return s.Cloudflare != nil },
	New:        fromSolver,
}

func fromSolver(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) (certflowdns.Provider, error) {
	spec := solver.Cloudflare
	cfg := Config{Email: spec.Email, BaseURL: setup.Endpoint}
	var err error
	switch {
	case spec.APIToken != nil && spec.APIKey != nil:
		return nil, certflowdns.Permanent(errors.New("cloudflare: set apiTokenSecretRef or apiKeySecretRef, not both"))
	case spec.APIToken != nil:
		cfg.APIToken, err = secret(ctx, setup.Credentials, "apiTokenSecretRef", spec.APIToken)
	case spec.APIKey != nil:
		if spec.Email == "" {
			return nil, certflowdns.Permanent(errors.New("cloudflare: apiKeySecretRef needs email"))
		}
		cfg.APIKey, err = secret(ctx, setup.Credentials, "apiKeySecretRef", spec.APIKey)
	default:
		return nil, certflowdns.Permanent(errors.New("cloudflare: set apiTokenSecretRef or apiKeySecretRef"))
	}
	if err != nil {
		return nil, err
	}
	p, err := New(cfg)
	return p, certflowdns.Permanent(err)
}

// secret reads the value a selector names; an empty value is a
// configuration error that says where, never what.
func secret(ctx context.Context, creds certflowdns.Credentials, field string, sel *certflowv1.SecretKeySelector) (string, error) {
	if sel.Key == "" {
		return "", certflowdns.Permanent(fmt.Errorf("cloudflare: %s needs a key", field))
	}
	value, err := creds.SecretValue(ctx, sel.Name, sel.Key)
	if err != nil {
		return "", fmt.Errorf("cloudflare: reading %s: %w", field, err)
	}
	v := strings.TrimSpace(string(value))
	if v == "" {
		return "", certflowdns.Permanent(fmt.Errorf("cloudflare: Secret %s key %q (%s) is empty", sel.Name, sel.Key, field))
	}
	return v, nil
}

// Present adds the TXT record unless the zone already has it.
func (p *Provider) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	z, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return "", err
	}
	existing, err := p.txtRecords(ctx, z, rec)
	if err != nil {
		return "", err
	}
	if len(existing) > 0 {
		return z.fqdn(), nil
	}
	ttl := rec.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	var body dns.TXTRecordParam
	body.Type.Value, body.Type.Present = dns.TXTRecordTypeTXT, true
	body.Name.Value, body.Name.Present = recordName(rec.FQDN), true
	body.Content.Value, body.Content.Present = rec.Value, true
	body.TTL.Value, body.TTL.Present = dns.TTL(ttl), true
	var params dns.RecordNewParams
	params.ZoneID.Value, params.ZoneID.Present = z.id, true
	params.Body = body
	if _, err := p.records.New(ctx, params); err != nil && !hasCode(err, codeIdenticalRecordExists) {
		// An identical record is one an earlier attempt made, whose
		// answer was lost: the SDK's retry of the same POST finds it.
		return "", classify(err, "adding TXT %s in zone %s", rec.FQDN, z.name)
	}
	return z.fqdn(), nil
}

// CleanUp removes this value of the TXT record; other values stay (another
// certificate's challenge for the same name may still need them).
func (p *Provider) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	z, err := p.zoneOf(ctx, rec.FQDN)
	if err != nil {
		return err
	}
	ids, err := p.txtRecords(ctx, z, rec)
	if err != nil {
		return err
	}
	for _, id := range ids {
		var params dns.RecordDeleteParams
		params.ZoneID.Value, params.ZoneID.Present = z.id, true
		if _, err := p.records.Delete(ctx, id, params); err != nil && !hasCode(err, codeRecordDoesNotExist) {
			return classify(err, "removing TXT %s (record %s) in zone %s", rec.FQDN, id, z.name)
		}
	}
	return nil
}

// txtRecords returns the IDs of the zone's TXT records at the record's name
// that hold its value. The value is matched here rather than with a content
// filter: Cloudflare keeps TXT content as it was written, quoted ("\"v\"")
// or not, and a filter would miss the other spelling.
func (p *Provider) txtRecords(ctx context.Context, z zone, rec certflowdns.TXT) ([]string, error) {
	var name dns.RecordListParamsName
	name.Exact.Value, name.Exact.Present = recordName(rec.FQDN), true
	var params dns.RecordListParams
	params.ZoneID.Value, params.ZoneID.Present = z.id, true
	params.Name.Value, params.Name.Present = name, true
	params.Type.Value, params.Type.Present = dns.RecordListParamsTypeTXT, true
	params.PerPage.Value, params.PerPage.Present = recordsPerPage, true
	var ids []string
	for page := 1; ; page++ {
		params.Page.Value, params.Page.Present = float64(page), true
		res, err := p.records.List(ctx, params)
		if err != nil {
			return nil, classify(err, "listing TXT %s in zone %s", rec.FQDN, z.name)
		}
		for _, r := range res.Result {
			if txtValue(r.Content) == rec.Value && strings.EqualFold(r.Name, recordName(rec.FQDN)) {
				ids = append(ids, r.ID)
			}
		}
		if lastPage(len(res.Result), res.ResultInfo.PerPage) {
			return ids, nil
		}
	}
}

// recordsPerPage is how many records one list asks for; a challenge name
// rarely holds more than two.
const recordsPerPage = 100

// lastPage says whether a page of n results, of a server that put at most
// perPage on it, was the last: pages are full until the last one.
func lastPage(n int, perPage int64) bool {
	return n == 0 || perPage <= 0 || int64(n) < perPage
}

// recordName is a name as Cloudflare writes it: no trailing dot, lower case.
func recordName(fqdn string) string {
	return strings.ToLower(strings.TrimSuffix(fqdn, "."))
}

// txtValue is the text of TXT content: its quoted character strings joined
// (RFC 1035 zone-file syntax, as Cloudflare returns content written so), or
// the content itself when it is not quoted.
func txtValue(content string) string {
	if len(content) < 2 || content[0] != '"' || content[len(content)-1] != '"' {
		return content
	}
	var b strings.Builder
	quoted, escaped := false, false
	for _, r := range content {
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case quoted:
			b.WriteRune(r)
		}
	}
	return b.String()
}
