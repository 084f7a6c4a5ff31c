package sandbox_test

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/internal/sandbox"
)

func TestDNSProxyForwardsSignedUpdatesAndHoldsWhatItIsTold(t *testing.T) {
	t.Parallel()
	b := startBIND(t)
	proxy, err := sandbox.StartDNSProxy(b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Stop() })
	// The same server, reached through the proxy: its key signs the proxy's
	// updates (the bytes pass unchanged) and its answers come back over UDP.
	viaProxy := *b
	viaProxy.Addr = proxy.Addr
	fqdn := "_acme-challenge.proxied." + b.Zone + "."

	const delay = time.Second
	proxy.Delay(sandbox.DNSUpdate, delay)
	start := time.Now()
	addTXT(t, &viaProxy, fqdn, "through the proxy")
	if took := time.Since(start); took < delay {
		t.Errorf("a delayed update took %s, want at least %s", took, delay)
	}
	start = time.Now()
	if !hasTXT(query(t, proxy.Addr, fqdn, dns.TypeTXT), "through the proxy") {
		t.Fatal("the record added through the proxy is not answered through it")
	}
	if took := time.Since(start); took >= delay {
		t.Errorf("a query took %s while only updates are delayed", took)
	}
	if u, q := proxy.Count(sandbox.DNSUpdate), proxy.Count(sandbox.DNSQuery); u != 1 || q != 1 {
		t.Errorf("counted %d updates and %d queries, want 1 and 1", u, q)
	}

	// A long delay freezes updates; a shorter one lets the held ones go.
	proxy.Delay(sandbox.DNSUpdate, time.Hour)
	done := make(chan error, 1)
	go func() { done <- sendTXT(&viaProxy, fqdn, "held, then let go") }()
	select {
	case err := <-done:
		t.Fatalf("an update went through while updates were frozen (%v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	proxy.Delay(sandbox.DNSUpdate, 0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held update was not let go when the delay ended")
	}
	if !hasTXT(query(t, b.Addr, fqdn, dns.TypeTXT), "held, then let go") {
		t.Error("the update held, then let go, did not reach BIND")
	}
}
