package rfc2136_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	"github.com/certflow/certflow/internal/sandbox"
)

func startBIND(t *testing.T) (*sandbox.BIND, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	b, err := sandbox.StartBIND(ctx, sandbox.BINDOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	return b, ctx
}

func TestPresentAndCleanUpAgainstBIND(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	p, err := rfc2136.New(rfc2136.Config{
		Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: "HMACSHA256", TSIGSecret: b.TSIGSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	fqdn := "_acme-challenge.www." + b.Zone + "."
	first := certflowdns.TXT{FQDN: fqdn, Value: "first-token"}
	second := certflowdns.TXT{FQDN: fqdn, Value: "second-token"}

	zone, err := p.Present(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if zone != b.Zone+"." {
		t.Fatalf("zone = %q, want %q", zone, b.Zone+".")
	}
	// A retried Present finds its record and adds no duplicate.
	if _, err := p.Present(ctx, first); err != nil {
		t.Fatalf("present again: %v", err)
	}
	if _, err := p.Present(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := txtValues(t, b.Addr, fqdn); strings.Join(got, ",") != "first-token,second-token" {
		t.Fatalf("TXT values after presenting twice and a second value: %v", got)
	}

	// CleanUp removes its value only, and may be repeated.
	for range 2 {
		if err := p.CleanUp(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	if got := txtValues(t, b.Addr, fqdn); strings.Join(got, ",") != "second-token" {
		t.Fatalf("TXT values after cleaning up the first: %v", got)
	}
	if err := p.CleanUp(ctx, second); err != nil {
		t.Fatal(err)
	}
	if got := txtValues(t, b.Addr, fqdn); len(got) != 0 {
		t.Fatalf("TXT values after cleaning up both: %v", got)
	}
}

func TestBadConfigurationIsReportedClearly(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	rec := certflowdns.TXT{FQDN: "_acme-challenge.bad." + b.Zone + ".", Value: "v"}
	cases := []struct {
		name string
		cfg  rfc2136.Config
		want string
	}{
		{"a wrong TSIG secret says the key does not match",
			rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGSecret: "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE="},
			"NOTAUTH (the TSIG key name, algorithm or secret does not match"},
		{"an unknown TSIG key name says the key does not match",
			rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: "someone-else", TSIGSecret: b.TSIGSecret},
			"NOTAUTH"},
		{"an unsigned update is refused",
			rfc2136.Config{Nameserver: b.Addr},
			"REFUSED (the server does not allow"},
		{"a name outside the server's zones is reported",
			rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGSecret: b.TSIGSecret},
			"is the server authoritative for it?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rfc2136.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := rec
			if strings.Contains(tc.name, "outside") {
				r.FQDN = "_acme-challenge.example.org."
			}
			_, err = p.Present(ctx, r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Present error = %v, want it to contain %q", err, tc.want)
			}
			if got := txtValues(t, b.Addr, rec.FQDN); len(got) != 0 {
				t.Fatalf("a refused update left TXT %v", got)
			}
		})
	}
}

func TestNewRefusesAnUnknownAlgorithm(t *testing.T) {
	_, err := rfc2136.New(rfc2136.Config{Nameserver: "127.0.0.1", TSIGKeyName: "k", TSIGAlgorithm: "HMACSHA3", TSIGSecret: "c2VjcmV0"})
	if err == nil || !strings.Contains(err.Error(), `unsupported TSIG algorithm "HMACSHA3"`) {
		t.Fatalf("error = %v", err)
	}
}

func txtValues(t *testing.T, addr, fqdn string) []string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(fqdn, dns.TypeTXT)
	resp, _, err := new(dns.Client).Exchange(q, addr)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, rr := range resp.Answer {
		values = append(values, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	slices.Sort(values)
	return values
}
