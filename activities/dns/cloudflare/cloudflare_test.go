package cloudflare_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/cloudflare"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standincf "github.com/certflow/certflow/internal/standin/cloudflare"
)

const (
	token = "token-with-zone-read-and-dns-edit"
	key   = "global-api-key"
	email = "owner@certflow.test"
)

func startBIND(t *testing.T) (*sandbox.BIND, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	b, _ := dnstest.StartBIND(t)
	return b, ctx
}

// startStandIn starts a stand-in writing into b; cfg.BIND is filled in.
func startStandIn(t *testing.T, b *sandbox.BIND, cfg standincf.Config) *standincf.Server {
	t.Helper()
	cfg.BIND = standin.BIND{Addr: b.Addr, Zone: b.Zone, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: b.TSIGAlgorithm, TSIGSecret: b.TSIGSecret}
	s, err := standincf.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// tokenSolver is a solver with its API token in Secret "cloudflare", key
// "api-token"; keySolver one with a global API key in key "api-key".
func tokenSolver() *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{Cloudflare: &certflowv1.ACMEIssuerDNS01ProviderCloudflare{
		APIToken: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "cloudflare"}, Key: "api-token"},
	}}
}

func keySolver(email string) *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{Cloudflare: &certflowv1.ACMEIssuerDNS01ProviderCloudflare{
		Email:  email,
		APIKey: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "cloudflare"}, Key: "api-key"},
	}}
}

// build builds the provider of solver through the registry, pointed at url.
func build(t *testing.T, solver *certflowv1.ACMEChallengeSolverDNS01, secrets dnstest.Secrets, url string) certflowdns.Provider {
	t.Helper()
	return dnstest.BuildWith(t, dns01.Providers, solver, certflowdns.Setup{Credentials: secrets, Endpoint: url, AmbientCredentials: true})
}

func tokenSecret(tok string) dnstest.Secrets {
	return dnstest.Secrets{"cloudflare": {"api-token": tok}}
}

// TestConformance runs the providers' suite against the stand-in writing
// into BIND, with providers built from solvers through the registry.
func TestConformance(t *testing.T) {
	t.Parallel()
	b, _ := startBIND(t)
	s := startStandIn(t, b, standincf.Config{APIToken: token})
	dnstest.Run(t, dnstest.Subject{
		Provider: build(t, tokenSolver(), tokenSecret(token), s.URL()),
		Zone:     b.Zone + ".",
		TXT:      func(_ context.Context, fqdn string) ([]string, error) { return dnstest.TXTValues(t, b.Addr, fqdn), nil },
		Refused:  build(t, tokenSolver(), tokenSecret("not-the-token"), s.URL()),
		Silent:   build(t, tokenSolver(), tokenSecret(token), "http://"+dnstest.Silent(t)+"/client/v4"),
	})
}

func TestAnAPIKeyWithItsEmailWorks(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	s := startStandIn(t, b, standincf.Config{APIKey: key, Email: email})
	p := build(t, keySolver(email), dnstest.Secrets{"cloudflare": {"api-key": key}}, s.URL())
	rec := certflowdns.TXT{FQDN: "_acme-challenge.key." + b.Zone + ".", Value: "key-value"}
	zone, err := p.Present(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if zone != b.Zone+"." {
		t.Fatalf("zone %q, want %q", zone, b.Zone+".")
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want %q", rec.FQDN, got, rec.Value)
	}
	if err := p.CleanUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); len(got) != 0 {
		t.Fatalf("TXT %s after CleanUp = %v", rec.FQDN, got)
	}
}

// TestRefusedCredentialsSayWhy: each refusal is permanent, carries
// Cloudflare's own message and code, makes nothing, and holds no secret.
func TestRefusedCredentialsSayWhy(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	const readOnly = "token-with-zone-read-only"
	s := startStandIn(t, b, standincf.Config{APIToken: token, ReadOnlyToken: readOnly, APIKey: key, Email: email})
	cases := []struct {
		name    string
		solver  *certflowv1.ACMEChallengeSolverDNS01
		secrets dnstest.Secrets
		secret  string
		want    string
	}{
		{"a token Cloudflare does not know is refused with its message",
			tokenSolver(), tokenSecret("not-the-token"), "not-the-token", "HTTP 403: Invalid access token (9109)"},
		{"a token without DNS:Edit is refused when it adds the record",
			tokenSolver(), tokenSecret(readOnly), readOnly, "adding TXT _acme-challenge.refused." + b.Zone + ". in zone " + b.Zone + ": HTTP 403: Authentication error (10000)"},
		{"an API key with another account's email is refused",
			keySolver("someone@else.test"), dnstest.Secrets{"cloudflare": {"api-key": key}}, key, "Unknown X-Auth-Key or X-Auth-Email (9103)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.solver, tc.secrets, s.URL())
			rec := certflowdns.TXT{FQDN: "_acme-challenge.refused." + b.Zone + ".", Value: "refused"}
			_, err := p.Present(ctx, rec)
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Present error = %v, want a permanent one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
			if !strings.Contains(err.Error(), "Zone:Read and DNS:Edit") {
				t.Fatalf("the error does not say what the token needs: %v", err)
			}
			if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); len(got) != 0 {
				t.Fatalf("a refused call left TXT %v", got)
			}
		})
	}
}

func TestASolverCloudflareCannotUseIsRefused(t *testing.T) {
	t.Parallel()
	tokenRef := &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "cloudflare"}, Key: "api-token"}
	keyRef := &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "cloudflare"}, Key: "api-key"}
	secrets := dnstest.Secrets{"cloudflare": {"api-token": token, "api-key": key, "blank": " \n"}}
	cases := []struct {
		name string
		spec certflowv1.ACMEIssuerDNS01ProviderCloudflare
		want string
	}{
		{"no credentials", certflowv1.ACMEIssuerDNS01ProviderCloudflare{}, "set apiTokenSecretRef or apiKeySecretRef"},
		{"both a token and a key", certflowv1.ACMEIssuerDNS01ProviderCloudflare{APIToken: tokenRef, APIKey: keyRef, Email: email}, "not both"},
		{"a key without an email", certflowv1.ACMEIssuerDNS01ProviderCloudflare{APIKey: keyRef}, "apiKeySecretRef needs email"},
		{"a Secret key that is blank", certflowv1.ACMEIssuerDNS01ProviderCloudflare{APIToken: &certflowv1.SecretKeySelector{
			LocalObjectReference: certflowv1.LocalObjectReference{Name: "cloudflare"}, Key: "blank"}}, `Secret cloudflare key "blank" (apiTokenSecretRef) is empty`},
		{"a Secret key that is missing", certflowv1.ACMEIssuerDNS01ProviderCloudflare{APIToken: &certflowv1.SecretKeySelector{
			LocalObjectReference: certflowv1.LocalObjectReference{Name: "cloudflare"}, Key: "absent"}}, `reading apiTokenSecretRef: Secret cloudflare has no key "absent"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			_, err := cloudflare.Kind.New(context.Background(), &certflowv1.ACMEChallengeSolverDNS01{Cloudflare: &spec}, certflowdns.Setup{Credentials: secrets})
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a permanent one containing %q", err, tc.want)
			}
		})
	}
}

// TestARateLimitIsWaitedOut: a 429 is retried after the server's
// Retry-After, within the call.
func TestARateLimitIsWaitedOut(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	s := startStandIn(t, b, standincf.Config{APIToken: token})
	p := build(t, tokenSolver(), tokenSecret(token), s.URL())
	rec := certflowdns.TXT{FQDN: "_acme-challenge.throttled." + b.Zone + ".", Value: "throttled"}
	s.Throttle(1, time.Second)
	start := time.Now()
	if _, err := p.Present(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Fatalf("Present took %s, less than the Retry-After of 1s", took)
	}
	reqs := s.Requests()
	if len(reqs) < 2 || reqs[0].Status != http.StatusTooManyRequests || reqs[1].Action != reqs[0].Action || reqs[1].Status != http.StatusOK {
		t.Fatalf("want a 429 and then the same call answered: %v", reqs)
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want %q", rec.FQDN, got, rec.Value)
	}
}

// TestARateLimitPastTheDeadlineIsLeftToTheActivity: a Retry-After that ends
// after the context is not slept through; the 429 comes back at once, with
// Cloudflare's message, to be retried.
func TestARateLimitPastTheDeadlineIsLeftToTheActivity(t *testing.T) {
	t.Parallel()
	b, _ := startBIND(t)
	s := startStandIn(t, b, standincf.Config{APIToken: token})
	p := build(t, tokenSolver(), tokenSecret(token), s.URL())
	s.Throttle(100, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := p.Present(ctx, certflowdns.TXT{FQDN: "_acme-challenge.later." + b.Zone + ".", Value: "later"})
	if err == nil || certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 429: Please wait and consider throttling your request speed (971) (Cloudflare asks to wait 1m0s)") {
		t.Fatalf("Present error = %v, want a retryable 429 with Cloudflare's message and wait", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Present took %s; it should not wait for a Retry-After past its deadline", took)
	}
	if n := len(s.Requests()); n != 1 {
		t.Fatalf("%d requests, want the one that was refused", n)
	}
}

// TestAZoneOnALaterPageIsFound: other accounts hold zones of the same name,
// moved away, on the first page; the active zone is on the second.
func TestAZoneOnALaterPageIsFound(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	moved := standincf.Zone{Name: b.Zone, Status: "moved"}
	s := startStandIn(t, b, standincf.Config{APIToken: token, Zones: []standincf.Zone{moved, moved, moved}, MaxPerPage: 2})
	p := build(t, tokenSolver(), tokenSecret(token), s.URL())
	rec := certflowdns.TXT{FQDN: "_acme-challenge.paged." + b.Zone + ".", Value: "paged"}
	if _, err := p.Present(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Only the active zone, BIND's, writes into BIND.
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want %q: the record went to a moved zone", rec.FQDN, got, rec.Value)
	}
	if err := p.CleanUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); len(got) != 0 {
		t.Fatalf("TXT %s after CleanUp = %v", rec.FQDN, got)
	}
}

// TestTheMostSpecificZoneWins: a delegated sub-zone the token sees holds its
// names, not the parent zone.
func TestTheMostSpecificZoneWins(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	sub := "acme." + b.Zone
	s := startStandIn(t, b, standincf.Config{APIToken: token, Zones: []standincf.Zone{{Name: sub}}})
	p := build(t, tokenSolver(), tokenSecret(token), s.URL())
	rec := certflowdns.TXT{FQDN: "_acme-challenge.www." + sub + ".", Value: "sub"}
	zone, err := p.Present(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if zone != sub+"." {
		t.Fatalf("zone %q, want %q", zone, sub+".")
	}
	created := actions(s.Requests(), "create")
	if len(created) != 1 || created[0].Zone != sub {
		t.Fatalf("creates %v, want one in zone %s", created, sub)
	}
	if err := p.CleanUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if deleted := actions(s.Requests(), "delete"); len(deleted) != 1 || deleted[0].Zone != sub || deleted[0].Value != rec.Value {
		t.Fatalf("deletes %v, want one of %q in zone %s", deleted, rec.Value, sub)
	}
}

// TestARecordAlreadyThereIsReused: a record with the value, written plain or
// quoted (as Cloudflare keeps content written in zone-file syntax), is not
// made again, and CleanUp removes it.
func TestARecordAlreadyThereIsReused(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	s := startStandIn(t, b, standincf.Config{APIToken: token})
	p := build(t, tokenSolver(), tokenSecret(token), s.URL())
	for _, tc := range []struct{ name, content string }{
		{"written plain", "reused-value"},
		{"written quoted", `"reused-value"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := certflowdns.TXT{FQDN: "_acme-challenge." + strings.ReplaceAll(tc.name, " ", "-") + "." + b.Zone + ".", Value: "reused-value"}
			if err := s.AddTXT(ctx, b.Zone, strings.TrimSuffix(rec.FQDN, "."), tc.content); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Present(ctx, rec); err != nil {
				t.Fatal(err)
			}
			for _, r := range actions(s.Requests(), "create") {
				if r.Name == strings.TrimSuffix(rec.FQDN, ".") {
					t.Fatalf("Present created %s again: %v", rec.FQDN, r)
				}
			}
			if err := p.CleanUp(ctx, rec); err != nil {
				t.Fatal(err)
			}
			if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); len(got) != 0 {
				t.Fatalf("TXT %s after CleanUp = %v", rec.FQDN, got)
			}
		})
	}
}

// TestACreateWhoseAnswerWasLostIsNotMadeTwice: the SDK sends the create
// again, Cloudflare answers that an identical record exists, and Present
// takes that for success.
func TestACreateWhoseAnswerWasLostIsNotMadeTwice(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	s := startStandIn(t, b, standincf.Config{APIToken: token})
	p, err := cloudflare.New(cloudflare.Config{APIToken: token, BaseURL: s.URL(), HTTPClient: &http.Client{Transport: &losesFirstCreate{}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := certflowdns.TXT{FQDN: "_acme-challenge.lost." + b.Zone + ".", Value: "lost"}
	if _, err := p.Present(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for _, r := range actions(s.Requests(), "create") {
		statuses = append(statuses, r.Status)
	}
	if !slices.Equal(statuses, []int{http.StatusOK, http.StatusBadRequest}) {
		t.Fatalf("creates answered %v, want the first made and the second refused as identical", statuses)
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want one %q", rec.FQDN, got, rec.Value)
	}
}

// losesFirstCreate sends every request, and loses the answer to the first
// POST, as a connection that drops after the server acted would.
type losesFirstCreate struct{ lost atomic.Bool }

func (l *losesFirstCreate) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPost && l.lost.CompareAndSwap(false, true) {
		_ = res.Body.Close()
		return nil, errors.New("connection reset after the request was sent")
	}
	return res, err
}

func actions(reqs []standin.Request, action string) []standin.Request {
	return slices.DeleteFunc(reqs, func(r standin.Request) bool { return r.Action != action })
}

// TestAnInactiveSubZoneIsPassedOver: a sub-zone added to Cloudflare but
// not serving (pending, moved) is not where the world looks; its names go to
// the active parent. A name whose only zone is inactive is a permanent
// error naming the zone and its status.
func TestAnInactiveSubZoneIsPassedOver(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	for _, status := range []string{"pending", "moved"} {
		t.Run(status, func(t *testing.T) {
			sub := status + "." + b.Zone
			s := startStandIn(t, b, standincf.Config{APIToken: token, Zones: []standincf.Zone{
				{Name: sub, Status: status}, {Name: status + ".example", Status: status},
			}})
			p := build(t, tokenSolver(), tokenSecret(token), s.URL())
			rec := certflowdns.TXT{FQDN: "_acme-challenge.www." + sub + ".", Value: "parent-" + status}
			zone, err := p.Present(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			if zone != b.Zone+"." {
				t.Fatalf("zone %q, want the active parent %s.", zone, b.Zone)
			}
			if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
				t.Fatalf("TXT %s = %v, want %q in the active parent", rec.FQDN, got, rec.Value)
			}
			if err := p.CleanUp(ctx, rec); err != nil {
				t.Fatal(err)
			}

			_, err = p.Present(ctx, certflowdns.TXT{FQDN: "_acme-challenge.www." + status + ".example.", Value: "nowhere"})
			want := status + ".example, is " + status
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Present in a zone that is only %s = %v, want a permanent error containing %q", status, err, want)
			}
			if created := actions(s.Requests(), "create"); len(created) != 1 {
				t.Fatalf("creates %v, want the one in the active parent", created)
			}
		})
	}
}
