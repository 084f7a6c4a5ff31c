// Package dnstest is the conformance suite every DNS-01 provider passes,
// against the real service (BIND for rfc2136) or a stand-in that follows the
// service's documented API and does what it says. A provider under test is
// built the way the worker builds it: from an issuer's dns01 solver, through
// the registry of provider kinds, with its credentials.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	certflowdns "github.com/certflow/certflow/activities/dns"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
)

// Subject is a provider under test and what the suite needs around it.
type Subject struct {
	// Provider writes in Zone.
	Provider certflowdns.Provider
	// Zone is a zone the provider writes in, with the trailing dot.
	Zone string
	// TXT reads the values at a name from the service, as the CA would.
	TXT func(ctx context.Context, fqdn string) ([]string, error)
	// Refused is a provider of the same service whose credentials the
	// service refuses.
	Refused certflowdns.Provider
	// Silent is a provider whose service accepts connections and never
	// answers (Silent starts one for providers that take an address).
	Silent certflowdns.Provider
}

var seq atomic.Int64

// Run runs the suite. The names it writes are unique to the run, under Zone.
func Run(t *testing.T, s Subject) {
	name := func(label string) string {
		return fmt.Sprintf("_acme-challenge.%s-%d.%s", label, seq.Add(1), s.Zone)
	}
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	values := func(t *testing.T, fqdn string) []string {
		t.Helper()
		got, err := s.TXT(ctx(t), fqdn)
		if err != nil {
			t.Fatalf("reading TXT %s: %v", fqdn, err)
		}
		slices.Sort(got)
		return got
	}

	t.Run("presenting twice makes one record, in the zone", func(t *testing.T) {
		rec := certflowdns.TXT{FQDN: name("twice"), Value: "twice-value"}
		for range 2 {
			zone, err := s.Provider.Present(ctx(t), rec)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(zone, s.Zone) {
				t.Fatalf("zone %q, want %q", zone, s.Zone)
			}
		}
		if got := values(t, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
			t.Fatalf("TXT %s = %v, want one %q", rec.FQDN, got, rec.Value)
		}
		if err := s.Provider.CleanUp(ctx(t), rec); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("clean-up removes only its own value, and may be repeated", func(t *testing.T) {
		fqdn := name("shared")
		first, second := certflowdns.TXT{FQDN: fqdn, Value: "first-value"}, certflowdns.TXT{FQDN: fqdn, Value: "second-value"}
		for _, rec := range []certflowdns.TXT{first, second} {
			if _, err := s.Provider.Present(ctx(t), rec); err != nil {
				t.Fatal(err)
			}
		}
		if got := values(t, fqdn); !slices.Equal(got, []string{first.Value, second.Value}) {
			t.Fatalf("TXT %s = %v, want both values", fqdn, got)
		}
		for range 2 {
			if err := s.Provider.CleanUp(ctx(t), first); err != nil {
				t.Fatal(err)
			}
		}
		if got := values(t, fqdn); !slices.Equal(got, []string{second.Value}) {
			t.Fatalf("TXT %s after removing the first = %v, want the second to survive", fqdn, got)
		}
		if err := s.Provider.CleanUp(ctx(t), second); err != nil {
			t.Fatal(err)
		}
		if got := values(t, fqdn); len(got) != 0 {
			t.Fatalf("TXT %s after removing both = %v", fqdn, got)
		}
	})

	t.Run("removing a record that was never made is fine", func(t *testing.T) {
		if err := s.Provider.CleanUp(ctx(t), certflowdns.TXT{FQDN: name("never"), Value: "never-value"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refused credentials are a permanent error and make nothing", func(t *testing.T) {
		rec := certflowdns.TXT{FQDN: name("refused"), Value: "refused-value"}
		_, err := s.Refused.Present(ctx(t), rec)
		if err == nil || !certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want a permanent one", err)
		}
		if got := values(t, rec.FQDN); len(got) != 0 {
			t.Fatalf("a refused update left TXT %v", got)
		}
	})

	t.Run("a name outside the provider's zones is a permanent error", func(t *testing.T) {
		_, err := s.Provider.Present(ctx(t), certflowdns.TXT{FQDN: "_acme-challenge.outside.example.invalid.", Value: "v"})
		if err == nil || !certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want a permanent one", err)
		}
	})

	t.Run("a service that does not answer is retried, and a cancelled context ends the wait", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Silent.Present(cctx, certflowdns.TXT{FQDN: name("silent"), Value: "v"})
		if err == nil || certflowdns.IsPermanent(err) {
			t.Fatalf("error %v, want one that may pass on a retry", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("Present returned %s after its context ended", took-300*time.Millisecond)
		}
	})
}

// TXTValues reads the values of TXT fqdn from the server at addr, sorted,
// each as a CA reads it (its strings joined).
func TXTValues(t testing.TB, addr, fqdn string) []string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	resp, _, err := new(dns.Client).Exchange(q, addr)
	if err != nil {
		t.Fatalf("reading TXT %s at %s: %v", fqdn, addr, err)
	}
	var values []string
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			values = append(values, strings.Join(txt.Txt, ""))
		}
	}
	slices.Sort(values)
	return values
}

// Secrets are credentials for a provider under test: values by Secret name
// and key, as an issuer's Secrets would hold them.
type Secrets map[string]map[string]string

// SecretValue reads one key, or fails as a missing Secret does.
func (s Secrets) SecretValue(_ context.Context, name, key string) ([]byte, error) {
	v, ok := s[name][key]
	if !ok {
		return nil, certflowdns.Permanent(fmt.Errorf("Secret %s has no key %q", name, key))
	}
	return []byte(v), nil
}

// Build builds the provider a solver configures, through the registry, as
// the worker does for a ClusterIssuer; exactly one kind must claim the
// solver.
func Build(t *testing.T, kinds []certflowdns.Kind, solver *certflowv1.ACMEChallengeSolverDNS01, secrets Secrets) certflowdns.Provider {
	t.Helper()
	return BuildWith(t, kinds, solver, certflowdns.Setup{Credentials: secrets, AmbientCredentials: true})
}

// BuildWith is Build with the setup the worker would give the provider: an
// endpoint of a stand-in, an Issuer's ambient-credentials rule.
func BuildWith(t *testing.T, kinds []certflowdns.Kind, solver *certflowv1.ACMEChallengeSolverDNS01, setup certflowdns.Setup) certflowdns.Provider {
	t.Helper()
	var claimed []certflowdns.Kind
	for _, k := range kinds {
		if k.Configured(solver) {
			claimed = append(claimed, k)
		}
	}
	if len(claimed) != 1 {
		t.Fatalf("%d kinds of the registry claim the solver, want 1", len(claimed))
	}
	p, err := claimed[0].New(context.Background(), solver, setup)
	if err != nil {
		t.Fatalf("building the %s provider: %v", claimed[0].Name, err)
	}
	return p
}

// Silent starts a server on loopback that accepts TCP connections, and UDP
// datagrams on the same port, and never answers; it returns its address.
func Silent(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		_ = l.Close()
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				conns = append(conns, c) // held open, never read
			}
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		_ = udp.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// StartBIND starts BIND for a test, stopped when the test ends, and returns
// it with what a stand-in needs to write into it.
func StartBIND(t *testing.T) (*sandbox.BIND, standin.BIND) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := sandbox.StartBIND(ctx, sandbox.BINDOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	return b, standin.BIND{Addr: b.Addr, Zone: b.Zone, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: b.TSIGAlgorithm, TSIGSecret: b.TSIGSecret}
}
