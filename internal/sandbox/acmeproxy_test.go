package sandbox_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"

	"github.com/certflow/certflow/internal/sandbox"
)

// An ACME client (lego, as certflow uses) talks to Pebble through the proxy;
// each case sets a fault, sends orders, and checks what each got. Pebble
// rejects no nonces here, so a count that is one higher than the orders sent
// would show a nonce of the proxy's that Pebble refused.
func TestACMEProxyFaults(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	pebble := startPebble(t, ctx)
	const (
		rejected = "urn:ietf:params:acme:error:rejectedIdentifier"
		limited  = "429 " + legoacme.RateLimitedErrorType
		internal = "500 urn:ietf:params:acme:error:serverInternal"
	)

	cases := []struct {
		name   string
		fault  func(*sandbox.ACMEProxy)
		orders [][]string
		want   []string // per order: "" passes, else what orderOutcome says
	}{
		{
			name:   "RateLimitAfter lets k new orders pass, then answers 429 with the Retry-After",
			fault:  func(p *sandbox.ACMEProxy) { p.RateLimitAfter(sandbox.ActionNewOrder, 2, 90*time.Second) },
			orders: [][]string{{"a.certflow.test"}, {"b.certflow.test"}, {"c.certflow.test"}, {"d.certflow.test"}},
			want:   []string{"", "", limited + " (retry after 1m30s)", limited + " (retry after 1m30s)"},
		},
		{
			name:   "RateLimitAfter 0 refuses the first new order",
			fault:  func(p *sandbox.ACMEProxy) { p.RateLimitAfter(sandbox.ActionNewOrder, 0, time.Second) },
			orders: [][]string{{"a.certflow.test"}},
			want:   []string{limited + " (retry after 1s)"},
		},
		{
			name:   "RateLimitNames refuses only orders naming a limited identifier",
			fault:  func(p *sandbox.ACMEProxy) { p.RateLimitNames("limited.certflow.test", "*.wild.certflow.test") },
			orders: [][]string{{"free.certflow.test"}, {"free.certflow.test", "LIMITED.certflow.test"}, {"wild.certflow.test"}, {"*.wild.certflow.test"}},
			want:   []string{"", limited + " (retry after 1h0m0s)", "", limited + " (retry after 1h0m0s)"},
		},
		{
			name: "Refuse answers 403 with the problem every time",
			fault: func(p *sandbox.ACMEProxy) {
				p.Refuse(sandbox.ActionNewOrder, rejected, "certflow.test is not allowed here")
			},
			orders: [][]string{{"a.certflow.test"}, {"b.certflow.test"}},
			want:   []string{"403 " + rejected, "403 " + rejected},
		},
		{
			name:   "FailNext answers the next k requests with 500 serverInternal, then lets them pass",
			fault:  func(p *sandbox.ACMEProxy) { p.FailNext(2) },
			orders: [][]string{{"a.certflow.test"}, {"b.certflow.test"}, {"c.certflow.test"}},
			want:   []string{internal, internal, ""},
		},
		{
			name:   "FailNext of an action leaves the others alone",
			fault:  func(p *sandbox.ACMEProxy) { p.FailNext(2, sandbox.ActionAuthorization) },
			orders: [][]string{{"a.certflow.test"}, {"b.certflow.test"}},
			want:   []string{"", ""},
		},
		{
			name:   "FailFor answers every request with 500 serverInternal until it ends",
			fault:  func(p *sandbox.ACMEProxy) { p.FailFor(time.Minute) },
			orders: [][]string{{"a.certflow.test"}, {"b.certflow.test"}},
			want:   []string{internal, internal},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy := startProxy(t, pebble)
			core := newAccount(t, ctx, proxy)
			tc.fault(proxy)
			refused := 0
			for i, names := range tc.orders {
				got := orderOutcome(t, ctx, core, names)
				if got != tc.want[i] {
					t.Fatalf("order %d for %v: got %q, want %q", i+1, names, got, tc.want[i])
				}
				if got != "" {
					refused++
				}
			}
			if n := proxy.Count(sandbox.ActionNewOrder); n != len(tc.orders) {
				t.Errorf("Count = %d after %d orders", n, len(tc.orders))
			}
			if n := proxy.Refused(sandbox.ActionNewOrder); n != refused {
				t.Errorf("Refused = %d, want %d", n, refused)
			}

			proxy.ClearFaults()
			if got := orderOutcome(t, ctx, core, []string{"after.certflow.test"}); got != "" {
				t.Fatalf("after ClearFaults an order got %q", got)
			}
			// One request more: the nonce the refusal carried was good.
			if n := proxy.Count(sandbox.ActionNewOrder); n != len(tc.orders)+1 {
				t.Errorf("Count = %d after %d orders", n, len(tc.orders)+1)
			}
			// Requests says how each was answered: 201 for an order Pebble
			// made, the refusal's status otherwise.
			var statuses []string
			for _, r := range proxy.Requests() {
				if r.Action == sandbox.ActionNewOrder {
					statuses = append(statuses, strconv.Itoa(r.Status))
					if created := r.Status == http.StatusCreated; created != (r.Location != "") {
						t.Errorf("a new order answered %d has Location %q: want the order's URL exactly when created", r.Status, r.Location)
					}
				}
			}
			var want []string
			for _, w := range append(tc.want, "") {
				status, _, _ := strings.Cut(w, " ")
				want = append(want, cmp.Or(status, "201"))
			}
			if !slices.Equal(statuses, want) {
				t.Errorf("new-order answers %v, want %v", statuses, want)
			}
			times := proxy.Times(sandbox.ActionNewOrder)
			if len(times) != len(tc.orders)+1 {
				t.Fatalf("Times has %d entries for %d orders", len(times), len(tc.orders)+1)
			}
			for i := 1; i < len(times); i++ {
				if times[i].Before(times[i-1]) {
					t.Errorf("Times out of order: %v", times)
				}
			}
		})
	}
}

// An outage answers requests as they reach the CA: one held back by Delay
// when the outage starts fails when it is let through.
func TestACMEProxyOutageMeetsARequestHeldBackByDelay(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	proxy := startProxy(t, startPebble(t, ctx))
	core := newAccount(t, ctx, proxy)
	proxy.Delay(sandbox.ActionNewOrder, time.Second)
	outcome := make(chan string, 1)
	go func() {
		_, err := core.Orders.New(ctx, []string{"held.certflow.test"}, nil)
		var p *legoacme.ProblemDetails
		switch {
		case err == nil:
			outcome <- "created"
		case errors.As(err, &p):
			outcome <- fmt.Sprintf("%d %s", p.HTTPStatus, p.Type)
		default:
			outcome <- err.Error()
		}
	}()
	for proxy.Count(sandbox.ActionNewOrder) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	proxy.FailNext(1) // while the order is held
	if got, want := <-outcome, "500 urn:ietf:params:acme:error:serverInternal"; got != want {
		t.Fatalf("the held order got %q, want %q", got, want)
	}
	if n := proxy.Refused(sandbox.ActionNewOrder); n != 1 {
		t.Errorf("Refused = %d, want 1", n)
	}
}

// The refusal itself, on the wire: what Let's Encrypt sends with a 429.
func TestACMEProxyRateLimitResponse(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	proxy := startProxy(t, startPebble(t, ctx))
	proxy.RateLimitAfter(sandbox.ActionNewOrder, 0, 1500*time.Millisecond)
	newOrder := strings.Replace(proxy.DirectoryURL, "/dir", "/"+sandbox.ActionNewOrder, 1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, newOrder, strings.NewReader(`{"protected":"","payload":"","signature":""}`))
	req.Header.Set("Content-Type", "application/jose+json")
	resp, err := proxyClient(t, proxy).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var problem struct {
		Type   string
		Detail string
		Status int
	}
	if err := json.NewDecoder(resp.Body).Decode(&problem); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || problem.Status != http.StatusTooManyRequests || problem.Type != legoacme.RateLimitedErrorType {
		t.Errorf("got %s with problem %+v, want 429 rateLimited", resp.Status, problem)
	}
	for header, want := range map[string]string{"Retry-After": "2", "Content-Type": "application/problem+json"} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
	if resp.Header.Get("Replay-Nonce") == "" {
		t.Error("no Replay-Nonce")
	}
	if !strings.Contains(problem.Detail, "too many new orders") || !strings.Contains(problem.Detail, "retry after ") {
		t.Errorf("detail %q", problem.Detail)
	}
	if n := proxy.Refused(sandbox.ActionNewOrder); n != 1 {
		t.Errorf("Refused = %d, want 1", n)
	}
}

func startPebble(t *testing.T, ctx context.Context) *sandbox.Pebble {
	t.Helper()
	noRejects := 0
	p, err := sandbox.StartPebble(ctx, sandbox.PebbleOptions{Dir: t.TempDir(), NonceRejectPercent: &noRejects})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

func startProxy(t *testing.T, pebble *sandbox.Pebble) *sandbox.ACMEProxy {
	t.Helper()
	p, err := sandbox.StartACMEProxy(pebble)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

func proxyClient(t *testing.T, p *sandbox.ACMEProxy) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.CACertPEM) {
		t.Fatal("the proxy's CACertPEM holds no certificate")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig.RootCAs = roots
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}
}

// newAccount registers an account at Pebble through the proxy.
func newAccount(t *testing.T, ctx context.Context, p *sandbox.ACMEProxy) *api.Core {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	core, err := api.New(proxyClient(t, p), "certflow-sandbox-test", p.DirectoryURL, "", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Accounts.New(ctx, legoacme.Account{TermsOfServiceAgreed: true}); err != nil {
		t.Fatalf("registering an account through the proxy: %v", err)
	}
	return core
}

// orderOutcome sends a new order: "" when the CA took it, else the refusal as
// "<HTTP status> <problem type>", and for a 429 the Retry-After lego read.
func orderOutcome(t *testing.T, ctx context.Context, core *api.Core, names []string) string {
	t.Helper()
	_, err := core.Orders.New(ctx, names, nil)
	if err == nil {
		return ""
	}
	var p *legoacme.ProblemDetails
	if !errors.As(err, &p) {
		t.Fatalf("order for %v: %v", names, err)
	}
	if p.Detail == "" {
		t.Errorf("order for %v: a problem without a detail: %v", names, err)
	}
	outcome := fmt.Sprintf("%d %s", p.HTTPStatus, p.Type)
	if p.HTTPStatus == http.StatusTooManyRequests {
		var rl *legoacme.RateLimitedError
		if !errors.As(err, &rl) {
			t.Fatalf("order for %v: a 429 lego does not read as a rate limit: %v", names, err)
		}
		outcome += fmt.Sprintf(" (retry after %s)", rl.RetryAfter)
	}
	return outcome
}
