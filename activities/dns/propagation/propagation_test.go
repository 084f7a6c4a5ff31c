package propagation_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/propagation"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	"github.com/certflow/certflow/internal/sandbox"
)

func TestCheckFindsTheAuthoritativeServerAndFollowsCNAMEs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := sandbox.StartBIND(ctx, sandbox.BINDOptions{
		Dir:     t.TempDir(),
		Records: []string{"_acme-challenge.alias IN CNAME _acme-challenge.target"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	provider, err := rfc2136.New(rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGSecret: b.TSIGSecret})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(b.Addr)
	authPort, _ := strconv.Atoi(port)
	// The walk asks BIND for SOA, NS and A; NS says ns1.certflow.test is
	// 127.0.0.1, and the port is BIND's.
	walk := &propagation.Checker{Resolvers: []string{b.Addr}, AuthoritativePort: authPort}
	resolversOnly := &propagation.Checker{Resolvers: []string{b.Addr}, ResolversOnly: true}

	cases := []struct {
		name    string
		checker *propagation.Checker
		asked   string // the name the CA looks up
		written string // where the record is made (the CNAME target when delegated)
	}{
		{"a record on the zone's nameserver is found by the SOA/NS walk", walk, "_acme-challenge.www", "_acme-challenge.www"},
		{"a CNAME-delegated record is found at the CNAME's target", walk, "_acme-challenge.alias", "_acme-challenge.target"},
		{"resolvers-only mode asks the resolvers directly", resolversOnly, "_acme-challenge.api", "_acme-challenge.api"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked, written := tc.asked+"."+b.Zone+".", tc.written+"."+b.Zone+"."
			value := "token-" + strings.ReplaceAll(tc.asked, ".", "-")

			res, err := tc.checker.Check(ctx, asked, value)
			if err != nil {
				t.Fatal(err)
			}
			if res.Ready || len(res.Missing) != 1 || !strings.HasSuffix(res.Missing[0], " answered NXDOMAIN") && !strings.HasSuffix(res.Missing[0], " answered no TXT record") {
				t.Fatalf("before the record exists: %+v, want not ready with one server missing, which answered NXDOMAIN or no TXT record", res)
			}
			if _, err := provider.Present(ctx, certflowdns.TXT{FQDN: written, Value: value}); err != nil {
				t.Fatal(err)
			}
			res, err = tc.checker.Check(ctx, asked, value)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Ready {
				t.Fatalf("after presenting: %+v, want ready", res)
			}
			if tc.checker == walk && (res.Zone != b.Zone+"." || res.Missing != nil) {
				t.Fatalf("walk result %+v, want zone %s.", res, b.Zone)
			}
			// Another value at the same name does not count.
			res, _ = tc.checker.Check(ctx, asked, "other-value")
			if want := ` answered only "` + value + `"`; res.Ready || len(res.Missing) != 1 || !strings.HasSuffix(res.Missing[0], want) {
				t.Fatalf("checking another value: %+v, want not ready, the server having%s", res, want)
			}
		})
	}
}

func TestCheckReportsAnUnreachableResolver(t *testing.T) {
	c := &propagation.Checker{Resolvers: []string{"127.0.0.1:1"}, Timeout: 500 * time.Millisecond}
	_, err := c.Check(context.Background(), "_acme-challenge.example.test.", "v")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error = %v, want one naming the resolver", err)
	}
}

// TestCheckSaysWhatEachServerAnswered: a server that does not answer lacks
// the record, and the others are still asked, so that what each said is
// known.
func TestCheckSaysWhatEachServerAnswered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := sandbox.StartBIND(ctx, sandbox.BINDOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	c := &propagation.Checker{Resolvers: []string{"127.0.0.1:1", b.Addr}, ResolversOnly: true, Timeout: 500 * time.Millisecond}
	res, err := c.Check(ctx, "_acme-challenge.www."+b.Zone+".", "v")
	if err != nil {
		t.Fatal(err)
	}
	if res.Ready || len(res.Missing) != 2 || !strings.HasPrefix(res.Missing[0], "127.0.0.1:1 failed: ") || res.Missing[1] != b.Addr+" answered no TXT record" {
		t.Fatalf("result %+v, want the silent server's failure and what BIND answered", res)
	}
}
