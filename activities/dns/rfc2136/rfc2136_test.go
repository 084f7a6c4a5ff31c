package rfc2136_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	"github.com/certflow/certflow/activities/dns/propagation"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

func startBIND(t *testing.T) (*sandbox.BIND, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	b, _ := dnstest.StartBIND(t)
	return b, ctx
}

// solver is an issuer's dns01 solver for BIND, its TSIG secret in Secret
// "tsig" (key "secret").
func solver(b *sandbox.BIND, nameserver string) *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{RFC2136: &certflowv1.ACMEIssuerDNS01ProviderRFC2136{
		Nameserver: nameserver, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: "HMACSHA256",
		TSIGSecret: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "tsig"}, Key: "secret"},
	}}
}

// TestConformance runs the providers' suite against BIND, with providers
// built from solvers through the registry.
func TestConformance(t *testing.T) {
	t.Parallel()
	b, _ := startBIND(t)
	good := dnstest.Secrets{"tsig": {"secret": b.TSIGSecret}}
	wrong := dnstest.Secrets{"tsig": {"secret": "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE="}}
	dnstest.Run(t, dnstest.Subject{
		Provider: dnstest.Build(t, dns01.Providers, solver(b, b.Addr), good),
		Zone:     b.Zone + ".",
		TXT:      func(_ context.Context, fqdn string) ([]string, error) { return dnstest.TXTValues(t, b.Addr, fqdn), nil },
		Refused:  dnstest.Build(t, dns01.Providers, solver(b, b.Addr), wrong),
		Silent:   dnstest.Build(t, dns01.Providers, solver(b, dnstest.Silent(t)), good),
	})
}

// TestAnUnsignedAnswerIsNotTakenForSuccess: only the server holds the TSIG
// key, so a success it did not sign may be anyone's.
func TestAnUnsignedAnswerIsNotTakenForSuccess(t *testing.T) {
	t.Parallel()
	addr := unsignedServer(t, "certflow.test.")
	p, err := rfc2136.New(rfc2136.Config{Nameserver: addr, TSIGKeyName: "certflow", TSIGSecret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ="})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Present(context.Background(), certflowdns.TXT{FQDN: "_acme-challenge.www.certflow.test.", Value: "v"})
	if err == nil || !strings.Contains(err.Error(), "not signed with the TSIG key") {
		t.Fatalf("Present against a server that does not sign = %v, want an error saying so", err)
	}
}

// unsignedServer answers SOA queries for zone and every update with
// success, never signing: an impostor of the primary.
func unsignedServer(t *testing.T, zone string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) > 0 && r.Question[0].Qtype == dns.TypeSOA {
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
				Ns: "ns1." + zone, Mbox: "admin." + zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60}}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return l.Addr().String()
}

func TestBadConfigurationIsReportedClearly(t *testing.T) {
	t.Parallel()
	b, ctx := startBIND(t)
	rec := certflowdns.TXT{FQDN: "_acme-challenge.bad." + b.Zone + ".", Value: "v"}
	cases := []struct {
		name   string
		cfg    rfc2136.Config
		want   string
		reason string
	}{
		{"a wrong TSIG secret says the key does not match",
			rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGSecret: "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE="},
			"NOTAUTH (the TSIG key name, algorithm or secret does not match", certflowdns.AuthFailed},
		{"an unknown TSIG key name says the key does not match",
			rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: "someone-else", TSIGSecret: b.TSIGSecret},
			"NOTAUTH", certflowdns.AuthFailed},
		{"an unsigned update is refused",
			rfc2136.Config{Nameserver: b.Addr},
			"REFUSED (the server does not allow", certflowdns.AuthFailed},
		{"a name outside the server's zones is reported",
			rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGSecret: b.TSIGSecret},
			"is not authoritative for the record's zone (it answered REFUSED)", certflowdns.ZoneNotServed},
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
			if got := certflowdns.PermanentReason(err); got != tc.reason {
				t.Errorf("class %q, want %q", got, tc.reason)
			}
			if got := dnstest.TXTValues(t, b.Addr, rec.FQDN); len(got) != 0 {
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

// TestLiveCheck runs the live tests' check against BIND, so that the check
// the skipped live tests would run is known to work.
func TestLiveCheck(t *testing.T) {
	t.Parallel()
	b, _ := startBIND(t)
	_, port, _ := net.SplitHostPort(b.Addr)
	authPort, _ := strconv.Atoi(port)
	p := dnstest.Build(t, dns01.Providers, solver(b, b.Addr), dnstest.Secrets{"tsig": {"secret": b.TSIGSecret}})
	dnstest.LiveWith(t, p, b.Zone, &propagation.Checker{Resolvers: []string{b.Addr}, AuthoritativePort: authPort})
}
