package sandbox_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/internal/sandbox"
)

// Each part starts on its own ports, so these tests run in parallel.

func TestBINDAnswersSOAAndTakesOnlySignedUpdates(t *testing.T) {
	t.Parallel()
	b := startBIND(t)

	soa := query(t, b.Addr, b.Zone+".", dns.TypeSOA)
	if len(soa.Answer) != 1 || !soa.Authoritative {
		t.Fatalf("SOA %s: want one authoritative answer, got %v (aa=%v)", b.Zone, soa.Answer, soa.Authoritative)
	}

	fqdn := "_acme-challenge.web." + b.Zone + "."
	cases := []struct {
		name      string
		secret    string // "" sends the update unsigned
		wantRcode int
		wantTXT   bool
	}{
		{"an unsigned update is refused", "", dns.RcodeRefused, false},
		{"an update signed with the wrong secret is refused", "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE=", dns.RcodeNotAuth, false},
		{"an update signed with the TSIG key is applied", b.TSIGSecret, dns.RcodeSuccess, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			value := tc.name // distinct per case, so one case cannot satisfy another
			rr, err := dns.NewRR(fqdn + ` 60 IN TXT "` + value + `"`)
			if err != nil {
				t.Fatal(err)
			}
			update := new(dns.Msg)
			update.SetUpdate(b.Zone + ".")
			update.Insert([]dns.RR{rr})
			c := new(dns.Client)
			if tc.secret != "" {
				update.SetTsig(b.TSIGKeyFQDN(), dns.HmacSHA256, 300, time.Now().Unix())
				c.TsigSecret = map[string]string{b.TSIGKeyFQDN(): tc.secret}
			}
			resp, _, err := c.Exchange(update, b.Addr)
			if err != nil && tc.wantRcode == dns.RcodeSuccess {
				t.Fatalf("update: %v", err)
			}
			if resp != nil && resp.Rcode != tc.wantRcode {
				t.Fatalf("update rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			if got := hasTXT(query(t, b.Addr, fqdn, dns.TypeTXT), value); got != tc.wantTXT {
				t.Fatalf("TXT %q present = %v, want %v", value, got, tc.wantTXT)
			}
		})
	}
}

func TestPebbleServesItsDirectoryOverTLS(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p, err := sandbox.StartPebble(ctx, sandbox.PebbleOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })

	// A client that trusts only CACertPEM reaches the directory.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.CACertPEM) {
		t.Fatal("CACertPEM holds no certificate")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.DirectoryURL, nil)
	resp, err := p.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir struct {
		NewNonce, NewAccount, NewOrder, RenewalInfo string
		Meta                                        struct{ Profiles map[string]string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatal(err)
	}
	if dir.NewOrder == "" || dir.NewNonce == "" || dir.RenewalInfo == "" {
		t.Fatalf("directory lacks newOrder/newNonce/renewalInfo: %+v", dir)
	}
	if _, ok := dir.Meta.Profiles["shortlived"]; !ok {
		t.Fatalf("directory offers profiles %v, want Let's Encrypt's", dir.Meta.Profiles)
	}

	// A client with the system roots only must not trust Pebble.
	if _, err := http.Get(p.DirectoryURL); err == nil {
		t.Fatal("Pebble's directory was trusted without its CA")
	}

	root, err := p.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(root)
	if block == nil {
		t.Fatalf("issuance root is not PEM: %q", root)
	}
	if cert, err := x509.ParseCertificate(block.Bytes); err != nil || !cert.IsCA {
		t.Fatalf("issuance root: %v (CA=%v)", err, cert != nil && cert.IsCA)
	}
}

func TestTemporalRunsAWorkflow(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tmp, err := sandbox.StartTemporal(ctx, sandbox.TemporalOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Stop() })
	c, err := tmp.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	w := worker.New(c, "sandbox-test", worker.Options{})
	w.RegisterWorkflow(greet)
	w.RegisterActivity(greeting)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "greet", TaskQueue: "sandbox-test"}, greet, "certflow")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "hello, certflow" {
		t.Fatalf("workflow returned %q", got)
	}
}

func greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var s string
	err := workflow.ExecuteActivity(ctx, greeting, name).Get(ctx, &s)
	return s, err
}

func greeting(_ context.Context, name string) (string, error) { return "hello, " + name, nil }

func query(t *testing.T, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	msg := new(dns.Msg)
	msg.SetQuestion(name, qtype)
	resp, _, err := new(dns.Client).Exchange(msg, addr)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

func hasTXT(resp *dns.Msg, value string) bool {
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok && len(txt.Txt) == 1 && txt.Txt[0] == value {
			return true
		}
	}
	return false
}

// startBIND runs a BIND of its own for the test, stopped when it ends.
func startBIND(t *testing.T) *sandbox.BIND {
	t.Helper()
	b, err := sandbox.StartBIND(testContext(t), sandbox.BINDOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	return b
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
