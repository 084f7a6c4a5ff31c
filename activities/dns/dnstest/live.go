package dnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/propagation"
)

// Live checks a provider against the real service, in a zone the
// credentials may write: a record it presents is served by every
// authoritative nameserver of the zone within five minutes, and is gone
// from them within five minutes of its clean-up. The resolvers of
// /etc/resolv.conf find the nameservers. The tests that call it skip
// unless credentials are in their environment.
func Live(t *testing.T, p certflowdns.Provider, zone string) {
	t.Helper()
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		t.Fatalf("reading /etc/resolv.conf: %v", err)
	}
	var resolvers []string
	for _, s := range conf.Servers {
		resolvers = append(resolvers, net.JoinHostPort(s, conf.Port))
	}
	LiveWith(t, p, zone, &propagation.Checker{Resolvers: resolvers})
}

// LiveWith is Live with the nameservers found by checker.
func LiveWith(t *testing.T, p certflowdns.Provider, zone string, checker *propagation.Checker) {
	t.Helper()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	rec := certflowdns.TXT{FQDN: "_acme-challenge.certflow-live-" + hex.EncodeToString(suffix) + "." + dns.Fqdn(zone), Value: "certflow-live-" + hex.EncodeToString(suffix)}

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	got, err := p.Present(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.CleanUp(context.Background(), rec) })
	if got != dns.Fqdn(zone) && got+"." != dns.Fqdn(zone) {
		t.Logf("Present says zone %q for a record in %s", got, zone)
	}
	wait := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			res, err := checker.Check(ctx, rec.FQDN, rec.Value)
			if err == nil && res.Ready == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("TXT %s present=%v not seen within 5m: %+v %v", rec.FQDN, want, res, err)
			}
			time.Sleep(5 * time.Second)
		}
	}
	wait(true)
	if err := p.CleanUp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	wait(false)
}

// LiveEnv returns the environment variables a live test needs, or skips the
// test when one is unset.
func LiveEnv(t *testing.T, names ...string) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, name := range names {
		v := os.Getenv(name)
		if v == "" {
			t.Skipf("set %v to run this test against the real service", names)
		}
		values[name] = v
	}
	return values
}
