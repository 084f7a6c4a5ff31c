package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/rest"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	"github.com/certflow/certflow/activities/dns/webhook"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// apiServer answers every request with status and body, and keeps the
// requests' paths and bodies.
type apiServer struct {
	mu     sync.Mutex
	paths  []string
	bodies [][]byte
}

func startAPIServer(t *testing.T, status int, body string) (*apiServer, *rest.Config) {
	t.Helper()
	a := &apiServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.paths, a.bodies = append(a.paths, r.Method+" "+r.URL.Path), append(a.bodies, b)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return a, &rest.Config{Host: srv.URL}
}

// zoneServer answers every SOA query with zone's SOA in the authority
// section, as a resolver answers for a name that does not exist in it.
func zoneServer(t *testing.T, zone string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "ns1." + zone, Mbox: "admin." + zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60}}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

const success = `{"apiVersion":"acme.cert-manager.io/v1alpha1","kind":"ChallengePayload","response":{"uid":"u","success":true}}`

var uid = regexp.MustCompile(`"uid":"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`)

// TestThePayloadIsCertManagers: the requests as sent, for an Issuer in
// namespace team without ambient credentials, match the golden files; the
// record's Present and CleanUp carry one uid, as a Challenge's do.
func TestThePayloadIsCertManagers(t *testing.T) {
	t.Parallel()
	api, kube := startAPIServer(t, http.StatusCreated, success)
	p := dnstest.BuildWith(t, dns01.Providers, solver("acme.example.com"), certflowdns.Setup{
		Credentials: dnstest.Secrets{}, ResourceNamespace: "team", Resolvers: []string{zoneServer(t, "example.com.")}, Kubernetes: kube,
	})
	rec := certflowdns.TXT{FQDN: "_acme-challenge.www.example.com.", Value: "key-authorization-digest"}
	zone, err := p.Present(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if zone != "example.com." {
		t.Errorf("zone %q, want example.com.", zone)
	}
	if err := p.CleanUp(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"present.json", "cleanup.json"} {
		if want := "POST /apis/acme.example.com/v1alpha1/bind"; api.paths[i] != want {
			t.Errorf("request %d went to %s, want %s", i, api.paths[i], want)
		}
		if !uid.Match(api.bodies[i]) {
			t.Errorf("request %s has no version 5 UUID as uid: %s", name, api.bodies[i])
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, api.bodies[i], "", "  "); err != nil {
			t.Fatal(err)
		}
		golden(t, name, append(indented.Bytes(), '\n'))
	}
	if present, cleanUp := uid.Find(api.bodies[0]), uid.Find(api.bodies[1]); !bytes.Equal(present, cleanUp) {
		t.Errorf("Present carries %s and CleanUp %s, want one uid for the record", present, cleanUp)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to rewrite it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestAnswersAreClassified: what the API server or the webhook answers
// decides whether a retry may help.
func TestAnswersAreClassified(t *testing.T) {
	t.Parallel()
	resolvers := []string{zoneServer(t, "example.com.")}
	status := func(code int, reason, message string) string {
		b, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code})
		return string(b)
	}
	cases := []struct {
		name      string
		status    int
		body      string
		permanent bool
		want      string
	}{
		{"a webhook that does not succeed is retried, with its reason", http.StatusCreated,
			`{"apiVersion":"acme.cert-manager.io/v1alpha1","kind":"ChallengePayload","response":{"uid":"u","success":false,"status":{"status":"Failed","message":"zone example.com. not found in this account"}}}`,
			false, "the webhook did not succeed: zone example.com. not found in this account"},
		{"a failure without a reason is retried", http.StatusCreated,
			`{"apiVersion":"acme.cert-manager.io/v1alpha1","kind":"ChallengePayload","response":{"uid":"u","success":false}}`,
			false, "did not succeed and gave no reason"},
		{"an answer without a response is retried", http.StatusCreated,
			`{"apiVersion":"acme.cert-manager.io/v1alpha1","kind":"ChallengePayload"}`, false, "without a response"},
		{"a group the API server does not serve is permanent", http.StatusNotFound,
			status(404, "NotFound", "the server could not find the requested resource"), true,
			"no webhook serves /apis/acme.example.com/v1alpha1/bind (is APIService v1alpha1.acme.example.com installed"},
		{"RBAC's refusal is permanent and names the rule", http.StatusForbidden,
			status(403, "Forbidden", `bind.acme.example.com is forbidden: User "system:serviceaccount:certflow:certflow-worker" cannot create resource "bind" in API group "acme.example.com" at the cluster scope`), true,
			"grant it verbs [create] on apiGroups [acme.example.com] resources [bind]"},
		{"a payload the webhook rejects is permanent, with its message", http.StatusBadRequest,
			status(400, "BadRequest", "config: apiTokenSecretRef is required"), true, "the webhook rejects the ChallengePayload: config: apiTokenSecretRef is required"},
		{"a method the webhook does not take is permanent", http.StatusMethodNotAllowed,
			status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"), true, "the webhook rejects the ChallengePayload"},
		{"a payload the webhook finds invalid is permanent", http.StatusUnprocessableEntity,
			status(422, "Invalid", `ChallengePayload "" is invalid: request.key: Required value`), true, "request.key: Required value"},
		{"a webhook that is down is retried", http.StatusServiceUnavailable, "service unavailable\n", false, ""},
		{"a webhook's internal error is retried", http.StatusInternalServerError,
			status(500, "InternalError", `unknown action type "Present"`), false, "unknown action type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, kube := startAPIServer(t, tc.status, tc.body)
			p := dnstest.BuildWith(t, dns01.Providers, solver("acme.example.com"), certflowdns.Setup{
				Credentials: dnstest.Secrets{}, Resolvers: resolvers, Kubernetes: kube,
			})
			_, err := p.Present(context.Background(), certflowdns.TXT{FQDN: "_acme-challenge.www.example.com.", Value: "v"})
			if err == nil {
				t.Fatal("Present succeeded")
			}
			if certflowdns.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", certflowdns.IsPermanent(err), tc.permanent, err)
			}
			wantIn(t, err, tc.want)
			wantIn(t, err, "webhook: presenting TXT _acme-challenge.www.example.com. in zone example.com. through /apis/acme.example.com/v1alpha1/bind: ")
		})
	}
}

// TestConfigurationErrors: a provider the worker cannot build says why.
func TestConfigurationErrors(t *testing.T) {
	t.Parallel()
	_, kube := startAPIServer(t, http.StatusCreated, success)
	for _, tc := range []struct {
		name  string
		setup certflowdns.Setup
		want  string
	}{
		{"a worker without resolvers cannot find zones", certflowdns.Setup{Kubernetes: kube}, "needs DNS resolvers"},
		{"a worker without a Kubernetes client cannot call webhooks", certflowdns.Setup{Resolvers: []string{"127.0.0.1:53"}}, "no Kubernetes client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.Kind.New(context.Background(), solver("acme.example.com"), tc.setup)
			if err == nil || !certflowdns.IsPermanent(err) {
				t.Fatalf("error %v, want a permanent one", err)
			}
			wantIn(t, err, tc.want)
		})
	}
}

// dnsServer answers every query as answer says.
func dnsServer(t *testing.T, answer func(m *dns.Msg)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		answer(m)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestZoneLookupsAreClassified: only an answer that names no zone is
// permanent; resolvers that refuse, fail or are silent may answer later,
// whichever of them is asked first.
func TestZoneLookupsAreClassified(t *testing.T) {
	t.Parallel()
	rcode := func(code int) string { return dnsServer(t, func(m *dns.Msg) { m.Rcode = code }) }
	refused, servfail, nxdomain := rcode(dns.RcodeRefused), rcode(dns.RcodeServerFailure), rcode(dns.RcodeNameError)
	silent := dnstest.Silent(t)
	root := dnsServer(t, func(m *dns.Msg) {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "a.root-servers.net.", Mbox: "nstld.verisign-grs.com.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60}}
	})
	_, kube := startAPIServer(t, http.StatusCreated, success)
	for _, tc := range []struct {
		name      string
		resolvers []string
		permanent bool
		want      string
	}{
		{"a resolver that refuses is retried", []string{refused}, false, "REFUSED"},
		{"a resolver that refuses, then one that fails, is retried", []string{refused, servfail}, false, "SERVFAIL"},
		{"a resolver that fails, then one that refuses, is retried", []string{servfail, refused}, false, "REFUSED"},
		{"a silent resolver is retried", []string{silent}, false, ""},
		{"NXDOMAIN without an SOA is permanent", []string{nxdomain}, true, "answered NXDOMAIN without an SOA record"},
		{"only the root's SOA is permanent", []string{root}, true, "know only the root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := dnstest.BuildWith(t, dns01.Providers, solver("acme.example.com"), certflowdns.Setup{
				Credentials: dnstest.Secrets{}, Resolvers: tc.resolvers, Kubernetes: kube,
			})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			_, err := p.Present(ctx, certflowdns.TXT{FQDN: "_acme-challenge.www.example.com.", Value: "v"})
			if err == nil {
				t.Fatal("Present succeeded")
			}
			if certflowdns.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", certflowdns.IsPermanent(err), tc.permanent, err)
			}
			wantIn(t, err, tc.want)
		})
	}
}

// TestDNSNameIsTheIdentifier: with cnameStrategy Follow the record is at the
// CNAME's target, and dnsName is still the name the certificate asks for,
// as in cert-manager's Challenge.
func TestDNSNameIsTheIdentifier(t *testing.T) {
	t.Parallel()
	api, kube := startAPIServer(t, http.StatusCreated, success)
	p := dnstest.BuildWith(t, dns01.Providers, solver("acme.example.com"), certflowdns.Setup{
		Credentials: dnstest.Secrets{}, ResourceNamespace: "team", Resolvers: []string{zoneServer(t, "example.net.")}, Kubernetes: kube,
	})
	rec := certflowdns.TXT{FQDN: "www.acme.example.net.", Value: "v", Identifier: "www.example.com"}
	if _, err := p.Present(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Request struct {
			DNSName      string `json:"dnsName"`
			ResolvedFQDN string `json:"resolvedFQDN"`
		} `json:"request"`
	}
	if err := json.Unmarshal(api.bodies[0], &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Request.DNSName != "www.example.com" || sent.Request.ResolvedFQDN != "www.acme.example.net." {
		t.Fatalf("dnsName %q resolvedFQDN %q, want the identifier and the CNAME's target", sent.Request.DNSName, sent.Request.ResolvedFQDN)
	}
}
