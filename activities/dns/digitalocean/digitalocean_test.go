package digitalocean_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	standindo "github.com/certflow/certflow/internal/standin/digitalocean"
)

const token = "dop_v1_good-token"

// world is BIND and a stand-in of the API that writes into it.
type world struct {
	bind *sandbox.BIND
	api  *standindo.Server
}

func start(t *testing.T, opts standindo.Options) world {
	t.Helper()
	b, bind := dnstest.StartBIND(t)
	opts.Token = token
	api, err := standindo.Start(bind, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	return world{bind: b, api: api}
}

// provider is built from a solver whose token is in Secret "do", key
// "token", pointed at endpoint.
func provider(t *testing.T, endpoint, tok string) certflowdns.Provider {
	t.Helper()
	solver := &certflowv1.ACMEChallengeSolverDNS01{DigitalOcean: &certflowv1.ACMEIssuerDNS01ProviderDigitalOcean{
		Token: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "do"}, Key: "token"},
	}}
	return dnstest.BuildWith(t, dns01.Providers, solver, certflowdns.Setup{
		Credentials: dnstest.Secrets{"do": {"token": tok}},
		Endpoint:    endpoint,
	})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	w := start(t, standindo.Options{})
	dnstest.Run(t, dnstest.Subject{
		Provider: provider(t, w.api.URL(), token),
		Zone:     w.bind.Zone + ".",
		TXT: func(_ context.Context, fqdn string) ([]string, error) {
			return dnstest.TXTValues(t, w.bind.Addr, fqdn), nil
		},
		Refused: provider(t, w.api.URL(), "dop_v1_wrong-token"),
		Silent:  provider(t, "http://"+dnstest.Silent(t), token),
	})
}

// TestTheMostSpecificDomainIsFoundAcrossPages: the account's domains come
// two to a page, and a subdomain that is a domain of its own, listed last,
// takes its names from the parent.
func TestTheMostSpecificDomainIsFoundAcrossPages(t *testing.T) {
	t.Parallel()
	w := start(t, standindo.Options{PageSize: 2, Domains: []string{"a.example", "b.example", "c.example", "zz.certflow.test"}})
	p := provider(t, w.api.URL(), token)
	ctx := context.Background()

	zone, err := p.Present(ctx, certflowdns.TXT{FQDN: "_acme-challenge.www.zz.certflow.test.", Value: "deep"})
	if err != nil {
		t.Fatal(err)
	}
	if zone != "zz.certflow.test." {
		t.Fatalf("zone %q, want the subdomain zz.certflow.test.", zone)
	}
	got := w.api.Records("zz.certflow.test")
	if len(got) != 1 || got[0].Name != "_acme-challenge.www" || got[0].Data != "deep" {
		t.Fatalf("records of zz.certflow.test = %+v, want one TXT _acme-challenge.www = deep", got)
	}
	if zone, err := p.Present(ctx, certflowdns.TXT{FQDN: "_acme-challenge.www.certflow.test.", Value: "apex"}); err != nil || zone != "certflow.test." {
		t.Fatalf("Present in the parent = %q, %v", zone, err)
	}
}

func TestTTLIsAtLeastDigitalOceansMinimum(t *testing.T) {
	t.Parallel()
	w := start(t, standindo.Options{Domains: []string{"ttl.example"}})
	p := provider(t, w.api.URL(), token)
	for _, tc := range []struct{ ttl, want int }{{0, 60}, {10, 30}, {300, 300}} {
		rec := certflowdns.TXT{FQDN: "_acme-challenge.ttl.example.", Value: fmt.Sprintf("ttl-%d", tc.ttl), TTL: tc.ttl}
		if _, err := p.Present(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(w.api.Records("ttl.example"), func(r standindo.Record) bool { return r.Data == rec.Value })
		if got := w.api.Records("ttl.example")[i].TTL; got != tc.want {
			t.Errorf("a record asked with TTL %d got %d, want %d", tc.ttl, got, tc.want)
		}
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	w := start(t, standindo.Options{})
	rec := certflowdns.TXT{FQDN: "_acme-challenge.classify." + w.bind.Zone + ".", Value: "v"}

	t.Run("a refused token is permanent, with the API's message and without the token", func(t *testing.T) {
		_, err := provider(t, w.api.URL(), "dop_v1_wrong-token").Present(context.Background(), rec)
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "Unable to authenticate you.") {
			t.Fatalf("error %v, want a permanent one with DigitalOcean's message", err)
		}
		if strings.Contains(err.Error(), "wrong-token") {
			t.Fatalf("the error shows the token: %v", err)
		}
	})

	t.Run("a rate limit is waited out as Retry-After says", func(t *testing.T) {
		w.api.RateLimit(1)
		start := time.Now()
		if _, err := provider(t, w.api.URL(), token).Present(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < time.Second {
			t.Fatalf("Present took %s after a 429 with Retry-After: 1", took)
		}
		if got := dnstest.TXTValues(t, w.bind.Addr, rec.FQDN); !slices.Equal(got, []string{"v"}) {
			t.Fatalf("TXT = %v", got)
		}
	})

	t.Run("a Retry-After past the deadline is not slept through; the 429 comes back at once, with the API's message", func(t *testing.T) {
		w.api.RateLimitFor(100, time.Minute)
		defer w.api.RateLimit(0)
		before := len(w.api.Requests())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := provider(t, w.api.URL(), token).Present(ctx, rec)
		if err == nil || certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "API Rate limit exceeded.") {
			t.Fatalf("error %v, want a retryable 429 with DigitalOcean's message", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("Present took %s; it should not wait for a Retry-After past its deadline", took)
		}
		if n := len(w.api.Requests()) - before; n != 1 {
			t.Fatalf("%d requests, want the one that was refused", n)
		}
	})

	t.Run("a rate limit that lasts is an error that may pass on a retry", func(t *testing.T) {
		w.api.RateLimit(100)
		defer w.api.RateLimit(0)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := provider(t, w.api.URL(), token).Present(ctx, rec)
		if err == nil || certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want one that may pass on a retry", err)
		}
	})
}
