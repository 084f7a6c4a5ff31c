package acmedns_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinacmedns "github.com/certflow/certflow/internal/standin/acmedns"
)

// start starts BIND with records (zone file lines) and the stand-in.
func start(t *testing.T, records ...string) (*sandbox.BIND, *standinacmedns.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := sandbox.StartBIND(ctx, sandbox.BINDOptions{Dir: t.TempDir(), Records: records})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	api, err := standinacmedns.Start(standin.BIND{Addr: b.Addr, Zone: b.Zone, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: b.TSIGAlgorithm, TSIGSecret: b.TSIGSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	return b, api
}

// provider is built from a solver for host whose accounts are in Secret
// "acme-dns", key "acmedns.json", for a worker with resolvers.
func provider(t *testing.T, host string, accounts map[string]standinacmedns.Account, resolvers ...string) certflowdns.Provider {
	t.Helper()
	raw, err := json.Marshal(accounts)
	if err != nil {
		t.Fatal(err)
	}
	solver := &certflowv1.ACMEChallengeSolverDNS01{AcmeDNS: &certflowv1.ACMEIssuerDNS01ProviderAcmeDNS{
		Host:          host,
		AccountSecret: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "acme-dns"}, Key: "acmedns.json"},
	}}
	return dnstest.BuildWith(t, dns01.Providers, solver, certflowdns.Setup{
		Credentials: dnstest.Secrets{"acme-dns": {"acmedns.json": string(raw)}}, AmbientCredentials: true, Resolvers: resolvers,
	})
}

// digest is a value of the shape acme-dns takes: a key authorization's
// SHA-256, base64url, 43 characters.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestProvider runs the cases of the conformance suite (dnstest) that apply
// to acme-dns, by their sentences, against the stand-in writing into BIND.
// dnstest.Run itself cannot: its names are made up as it runs, and
// acme-dns needs an account registered for each domain beforehand; and its
// "clean-up removes only its own value" cannot pass, since acme-dns has no
// delete (it keeps the two most recent values instead, checked here).
func TestProvider(t *testing.T) {
	t.Parallel()
	b, api := start(t)
	twice, shared, refused := api.Register(""), api.Register(""), api.Register("")
	p := provider(t, api.URL(), map[string]standinacmedns.Account{"twice.example.org": twice, "shared.example.org": shared})
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("presenting twice makes one record, in the zone", func(t *testing.T) {
		rec := certflowdns.TXT{FQDN: "_acme-challenge.twice.example.org.", Value: digest("twice")}
		for range 2 {
			zone, err := p.Present(ctx(t), rec)
			if err != nil {
				t.Fatal(err)
			}
			if zone != b.Zone+"." {
				t.Fatalf("zone %q, want acme-dns's zone %s.", zone, b.Zone)
			}
		}
		if got := dnstest.TXTValues(t, b.Addr, twice.FullDomain+"."); !slices.Equal(got, []string{rec.Value}) {
			t.Fatalf("TXT %s = %v, want one %q", twice.FullDomain, got, rec.Value)
		}
	})

	t.Run("a wildcard and its apex keep both values, and a third drops the oldest", func(t *testing.T) {
		wildcard := certflowdns.TXT{FQDN: "_acme-challenge.*.shared.example.org.", Value: digest("wildcard")}
		apex := certflowdns.TXT{FQDN: "_acme-challenge.shared.example.org.", Value: digest("apex")}
		third := certflowdns.TXT{FQDN: "_acme-challenge.shared.example.org.", Value: digest("third")}
		for _, rec := range []certflowdns.TXT{wildcard, apex} {
			if _, err := p.Present(ctx(t), rec); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{wildcard.Value, apex.Value}
		slices.Sort(want)
		if got := dnstest.TXTValues(t, b.Addr, shared.FullDomain+"."); !slices.Equal(got, want) {
			t.Fatalf("TXT = %v, want both values %v", got, want)
		}
		if _, err := p.Present(ctx(t), third); err != nil {
			t.Fatal(err)
		}
		want = []string{apex.Value, third.Value}
		slices.Sort(want)
		if got := dnstest.TXTValues(t, b.Addr, shared.FullDomain+"."); !slices.Equal(got, want) {
			t.Fatalf("TXT = %v, want the two most recent %v", got, want)
		}
	})

	t.Run("removing a record, made or never made, is fine and changes nothing", func(t *testing.T) {
		before := dnstest.TXTValues(t, b.Addr, shared.FullDomain+".")
		for _, rec := range []certflowdns.TXT{
			{FQDN: "_acme-challenge.shared.example.org.", Value: digest("third")},
			{FQDN: "_acme-challenge.never.example.org.", Value: digest("never")},
		} {
			if err := p.CleanUp(ctx(t), rec); err != nil {
				t.Fatal(err)
			}
		}
		if got := dnstest.TXTValues(t, b.Addr, shared.FullDomain+"."); !slices.Equal(got, before) {
			t.Fatalf("TXT after CleanUp = %v, want %v as it was", got, before)
		}
	})

	t.Run("refused credentials are a permanent error and make nothing", func(t *testing.T) {
		wrong := refused
		wrong.Password = "not-the-password"
		_, err := provider(t, api.URL(), map[string]standinacmedns.Account{"refused.example.org": wrong}).
			Present(ctx(t), certflowdns.TXT{FQDN: "_acme-challenge.refused.example.org.", Value: digest("refused")})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "forbidden") {
			t.Fatalf("error %v, want a permanent forbidden", err)
		}
		if strings.Contains(err.Error(), "not-the-password") {
			t.Fatalf("the error shows the key: %v", err)
		}
		if got := dnstest.TXTValues(t, b.Addr, refused.FullDomain+"."); len(got) != 0 {
			t.Fatalf("a refused update left TXT %v", got)
		}
	})

	t.Run("a name outside the provider's zones is a permanent error naming the domain", func(t *testing.T) {
		_, err := p.Present(ctx(t), certflowdns.TXT{FQDN: "_acme-challenge.outside.example.invalid.", Value: digest("v")})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "no account for domain outside.example.invalid") {
			t.Fatalf("error %v, want a permanent one naming the domain", err)
		}
	})

	t.Run("a value acme-dns cannot hold is a permanent error", func(t *testing.T) {
		_, err := p.Present(ctx(t), certflowdns.TXT{FQDN: "_acme-challenge.twice.example.org.", Value: "too short"})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "bad_txt") {
			t.Fatalf("error %v, want a permanent bad_txt", err)
		}
	})

	t.Run("a service that does not answer is retried, and a cancelled context ends the wait", func(t *testing.T) {
		silent := provider(t, "http://"+dnstest.Silent(t), map[string]standinacmedns.Account{"twice.example.org": twice})
		cctx, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := silent.Present(cctx, certflowdns.TXT{FQDN: "_acme-challenge.twice.example.org.", Value: digest("silent")})
		if err == nil || certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want one that may pass on a retry", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Present returned %s after its context ended", took-300*time.Millisecond)
		}
	})
}

// TestTheCAFindsTheValueThroughTheDelegation: with the user's CNAME in
// place, a TXT query for _acme-challenge.<domain> answers the account's
// values, as the CA's query does.
func TestTheCAFindsTheValueThroughTheDelegation(t *testing.T) {
	t.Parallel()
	const sub = "0b5c6f1e-2d3a-4c5b-8e9f-a0b1c2d3e4f5"
	b, api := start(t, "_acme-challenge.delegated IN CNAME "+sub)
	acct := api.Register(sub)
	domain := "delegated." + b.Zone
	rec := certflowdns.TXT{FQDN: "_acme-challenge." + domain + ".", Value: digest("delegated")}
	if _, err := provider(t, api.URL(), map[string]standinacmedns.Account{domain: acct}).Present(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want %q through the CNAME", rec.FQDN, got, rec.Value)
	}
}

func TestBadAccountsAreReportedWithoutTheirText(t *testing.T) {
	solver := &certflowv1.ACMEChallengeSolverDNS01{AcmeDNS: &certflowv1.ACMEIssuerDNS01ProviderAcmeDNS{
		Host:          "https://auth.acme-dns.io",
		AccountSecret: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "acme-dns"}, Key: "acmedns.json"},
	}}
	_, err := dns01Kind(t).New(context.Background(), solver, certflowdns.Setup{Credentials: dnstest.Secrets{"acme-dns": {"acmedns.json": `{"example.com": "secret-password"}`}}})
	if err == nil || !certflowdns.IsPermanent(err) || strings.Contains(err.Error(), "secret-password") {
		t.Fatalf("error %v, want a permanent one without the Secret's text", err)
	}
}

func dns01Kind(t *testing.T) certflowdns.Kind {
	i := slices.IndexFunc(dns01.Providers, func(k certflowdns.Kind) bool { return k.Name == "acmeDNS" })
	if i < 0 {
		t.Fatal("acmeDNS is not in the registry")
	}
	return dns01.Providers[i]
}

// TestAValueServedAlreadyIsNotSentAgain: acme-dns overwrites the older of
// its two values on every update, so presenting the apex's value again (a
// retried activity) would push out the wildcard's; with the worker's
// resolvers, Present sees the value served and leaves both.
func TestAValueServedAlreadyIsNotSentAgain(t *testing.T) {
	t.Parallel()
	b, api := start(t)
	acct := api.Register("")
	p := provider(t, api.URL(), map[string]standinacmedns.Account{"again.example.org": acct}, b.Addr)
	wildcard := certflowdns.TXT{FQDN: "_acme-challenge.*.again.example.org.", Value: digest("wildcard")}
	apex := certflowdns.TXT{FQDN: "_acme-challenge.again.example.org.", Value: digest("apex")}
	for _, rec := range []certflowdns.TXT{wildcard, apex, apex} {
		if _, err := p.Present(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{wildcard.Value, apex.Value}
	slices.Sort(want)
	if got := dnstest.TXTValues(t, b.Addr, acct.FullDomain+"."); !slices.Equal(got, want) {
		t.Fatalf("TXT = %v, want both values %v", got, want)
	}
	if n := len(api.Requests()); n != 2 {
		t.Fatalf("%d updates, want one per value: %v", n, api.Requests())
	}
}

// TestARecordAtTheFulldomainIsItsAccounts: with cnameStrategy Follow the
// record's name is the account's fulldomain, in any case, and the account
// is found by it.
func TestARecordAtTheFulldomainIsItsAccounts(t *testing.T) {
	t.Parallel()
	b, api := start(t)
	acct := api.Register("")
	p := provider(t, api.URL(), map[string]standinacmedns.Account{"followed.example.org": acct})
	rec := certflowdns.TXT{FQDN: strings.ToUpper(acct.FullDomain) + ".", Value: digest("followed")}
	zone, err := p.Present(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if zone != b.Zone+"." {
		t.Fatalf("zone %q, want acme-dns's zone %s.", zone, b.Zone)
	}
	if got := dnstest.TXTValues(t, b.Addr, acct.FullDomain+"."); !slices.Equal(got, []string{rec.Value}) {
		t.Fatalf("TXT %s = %v, want %q", acct.FullDomain, got, rec.Value)
	}
}

// TestARedirectIsNotFollowed: following it would send the account's user
// and key to whatever host it names (and turn a POST into a GET); it is a
// permanent error naming where it pointed.
func TestARedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, `{"txt":"ok"}`)
	}))
	t.Cleanup(elsewhere.Close)
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/update", status))
			t.Cleanup(redirecting.Close)
			acct := standinacmedns.Account{Username: "user", Password: "key", SubDomain: "0b5c6f1e-2d3a-4c5b-8e9f-a0b1c2d3e4f5",
				FullDomain: "0b5c6f1e-2d3a-4c5b-8e9f-a0b1c2d3e4f5.auth.example.org"}
			p := provider(t, redirecting.URL, map[string]standinacmedns.Account{"redirected.example.org": acct})
			_, err := p.Present(context.Background(), certflowdns.TXT{FQDN: "_acme-challenge.redirected.example.org.", Value: digest("redirected")})
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), elsewhere.URL+"/update") {
				t.Fatalf("error %v, want a permanent one naming %s/update", err, elsewhere.URL)
			}
			if n := reached.Load(); n != 0 {
				t.Fatalf("the redirect was followed: %d requests reached the other host", n)
			}
		})
	}
}
