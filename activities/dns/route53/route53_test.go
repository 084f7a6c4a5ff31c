package route53_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	"github.com/certflow/certflow/activities/dns/route53"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	route53standin "github.com/certflow/certflow/internal/standin/route53"
)

const (
	keyID  = "AKIASTANDIN000000001"
	secret = "standin-secret-access-key"
	role   = "arn:aws:iam::000000000000:role/certflow-dns01"
)

// world is BIND and a Route 53 stand-in writing into it.
type world struct {
	bind *sandbox.BIND
	srv  *route53standin.Server
	url  string
}

func newWorld(t *testing.T, opts route53standin.Options) *world {
	t.Helper()
	b, bind := dnstest.StartBIND(t)
	if opts.Keys == nil {
		opts.Keys = map[string]string{keyID: secret}
	}
	srv, err := route53standin.New(bind, opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &world{bind: b, srv: srv, url: hs.URL}
}

// secrets hold the access key pair in Secret "aws" (keys "id", "secret").
func secrets(id, key string) dnstest.Secrets {
	return dnstest.Secrets{"aws": {"id": id, "secret": key}}
}

// solver refers to the access key pair of secrets.
func solver(edit func(*certflowv1.ACMEIssuerDNS01ProviderRoute53)) *certflowv1.ACMEChallengeSolverDNS01 {
	spec := &certflowv1.ACMEIssuerDNS01ProviderRoute53{
		Region:            "eu-west-1",
		SecretAccessKeyID: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "aws"}, Key: "id"},
		SecretAccessKey:   &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "aws"}, Key: "secret"},
	}
	if edit != nil {
		edit(spec)
	}
	return &certflowv1.ACMEChallengeSolverDNS01{Route53: spec}
}

func (w *world) build(t *testing.T, s *certflowv1.ACMEChallengeSolverDNS01, creds dnstest.Secrets) certflowdns.Provider {
	t.Helper()
	return dnstest.BuildWith(t, dns01.Providers, s, certflowdns.Setup{Credentials: creds, Endpoint: w.url})
}

func (w *world) fqdn(label string) string {
	return "_acme-challenge." + label + "." + w.bind.Zone + "."
}

func (w *world) txt(t *testing.T, fqdn string) []string {
	return dnstest.TXTValues(t, w.bind.Addr, fqdn)
}

func (w *world) actions(action string) []standin.Request {
	return slices.DeleteFunc(w.srv.Requests(), func(r standin.Request) bool { return r.Action != action })
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestConformance runs the providers' suite against the stand-in, with keys
// from Secrets; the refused provider signs with a key AWS does not know.
func TestConformance(t *testing.T) {
	t.Parallel()
	w := newWorld(t, route53standin.Options{})
	silent := dnstest.BuildWith(t, dns01.Providers, solver(nil), certflowdns.Setup{Credentials: secrets(keyID, secret), Endpoint: "http://" + dnstest.Silent(t)})
	dnstest.Run(t, dnstest.Subject{
		Provider: w.build(t, solver(nil), secrets(keyID, secret)),
		Zone:     w.bind.Zone + ".",
		TXT:      func(_ context.Context, fqdn string) ([]string, error) { return w.txt(t, fqdn), nil },
		Refused:  w.build(t, solver(nil), secrets("AKIAUNKNOWN000000000", secret)),
		Silent:   silent,
	})
	if got := w.actions("GetChange"); len(got) == 0 {
		t.Error("the provider never asked whether a change was INSYNC")
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t, route53standin.Options{Roles: []string{role}})

	t.Run("an access key ID written in the solver is taken with the Secret's secret key", func(t *testing.T) {
		p := w.build(t, solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) {
			s.SecretAccessKeyID, s.AccessKeyID = nil, keyID
		}), secrets("", secret))
		if _, err := p.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("inline"), Value: "inline-value"}); err != nil {
			t.Fatal(err)
		}
		if got := w.txt(t, w.fqdn("inline")); !slices.Equal(got, []string{"inline-value"}) {
			t.Fatalf("TXT = %v", got)
		}
	})

	t.Run("an Issuer without keys is refused the worker's credentials", func(t *testing.T) {
		noKeys := solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.SecretAccessKeyID, s.SecretAccessKey = nil, nil })
		_, err := route53.Kind.New(testContext(t), noKeys, certflowdns.Setup{Credentials: dnstest.Secrets{}, Endpoint: w.url, AmbientCredentials: false})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "--issuer-ambient-credentials") {
			t.Fatalf("error = %v, want a permanent one naming --issuer-ambient-credentials", err)
		}
	})

	t.Run("a role is assumed, and its temporary key signs the Route 53 calls", func(t *testing.T) {
		p := w.build(t, solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.Role = role }), secrets(keyID, secret))
		before := len(w.srv.Signers())
		if _, err := p.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("role"), Value: "role-value"}); err != nil {
			t.Fatal(err)
		}
		if len(w.actions("AssumeRole")) == 0 {
			t.Fatal("the stand-in's STS was never asked to AssumeRole")
		}
		signers := w.srv.Signers()[before:]
		if len(signers) == 0 || slices.ContainsFunc(signers, func(k string) bool { return !strings.HasPrefix(k, "ASIA") }) {
			t.Fatalf("Route 53 calls signed by %v, want the role's temporary keys only", signers)
		}
		if got := w.txt(t, w.fqdn("role")); !slices.Equal(got, []string{"role-value"}) {
			t.Fatalf("TXT = %v", got)
		}
	})

	t.Run("a role STS refuses is a permanent error with AWS's message", func(t *testing.T) {
		p := w.build(t, solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.Role = role + "-other" }), secrets(keyID, secret))
		_, err := p.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("other-role"), Value: "v"})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "not authorized to perform: sts:AssumeRole") {
			t.Fatalf("error = %v, want a permanent AccessDenied", err)
		}
	})
}

// TestAmbientCredentialsOfAClusterIssuer: without keys, the SDK's default
// chain finds the worker's (here from the environment).
func TestAmbientCredentialsOfAClusterIssuer(t *testing.T) {
	w := newWorld(t, route53standin.Options{Keys: map[string]string{"AKIAAMBIENT000000000": "ambient-secret"}})
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT000000000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret")
	noKeys := solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.SecretAccessKeyID, s.SecretAccessKey = nil, nil })
	p := dnstest.BuildWith(t, dns01.Providers, noKeys, certflowdns.Setup{Credentials: dnstest.Secrets{}, Endpoint: w.url, AmbientCredentials: true})
	if _, err := p.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("ambient"), Value: "ambient-value"}); err != nil {
		t.Fatal(err)
	}
	if signers := w.srv.Signers(); !slices.Contains(signers, "AKIAAMBIENT000000000") {
		t.Fatalf("Route 53 calls signed by %v, want the environment's key", signers)
	}
}

// TestZoneDiscovery: zones are listed a page at a time, the most specific
// public zone that holds the name wins.
func TestZoneDiscovery(t *testing.T) {
	t.Parallel()
	zones := []route53standin.Zone{{Name: "test"}, {Name: "private.certflow.test", Private: true}, {Name: "deep.certflow.test"}, {Name: "example.org"}}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		zones = append(zones, route53standin.Zone{Name: n + ".certflow.test"})
	}
	w := newWorld(t, route53standin.Options{Zones: zones, PageSize: 2})
	p := w.build(t, solver(nil), secrets(keyID, secret))
	cases := []struct {
		name, fqdn, zone string
	}{
		{"a name in a child zone goes there, not to its parent", "_acme-challenge.www.deep.certflow.test.", "deep.certflow.test."},
		{"a name under a private zone goes to the public zone above it", "_acme-challenge.www.private.certflow.test.", "certflow.test."},
		{"a name of BIND's zone goes there, not to the top-level zone", "_acme-challenge.zz.certflow.test.", "certflow.test."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			zone, err := p.Present(testContext(t), certflowdns.TXT{FQDN: tc.fqdn, Value: "discovered"})
			if err != nil {
				t.Fatal(err)
			}
			if zone != tc.zone {
				t.Fatalf("zone %q, want %q", zone, tc.zone)
			}
			if err := p.CleanUp(testContext(t), certflowdns.TXT{FQDN: tc.fqdn, Value: "discovered"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := w.txt(t, "_acme-challenge.zz.certflow.test."); len(got) != 0 {
		t.Errorf("TXT left in BIND: %v", got)
	}
	if pages := len(w.actions("ListHostedZonesByName")); pages < 3*3 {
		t.Errorf("%d ListHostedZonesByName calls for 3 lookups, want the later pages read too", pages)
	}

	t.Run("the solver's hostedZoneID skips the lookup", func(t *testing.T) {
		byID := w.build(t, solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.HostedZoneID = w.srv.ZoneID(w.bind.Zone) }), secrets(keyID, secret))
		listed := len(w.actions("ListHostedZonesByName"))
		if _, err := byID.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("by-id"), Value: "by-id"}); err != nil {
			t.Fatal(err)
		}
		if got := w.txt(t, w.fqdn("by-id")); !slices.Equal(got, []string{"by-id"}) {
			t.Fatalf("TXT = %v", got)
		}
		if len(w.actions("ListHostedZonesByName")) != listed {
			t.Error("zones were listed although the solver names the hosted zone")
		}
	})

	t.Run("a hostedZoneID Route 53 does not have is a permanent error", func(t *testing.T) {
		byID := w.build(t, solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.HostedZoneID = "ZNOSUCHZONE" }), secrets(keyID, secret))
		_, err := byID.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("no-zone"), Value: "v"})
		if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "NoSuchHostedZone") {
			t.Fatalf("error = %v, want a permanent NoSuchHostedZone", err)
		}
	})
}

// TestUpsertKeepsOtherValues: a value someone else wrote at the name
// survives our Present and our CleanUp.
func TestUpsertKeepsOtherValues(t *testing.T) {
	t.Parallel()
	w := newWorld(t, route53standin.Options{})
	p := w.build(t, solver(nil), secrets(keyID, secret))
	fqdn := w.fqdn("upsert")
	other, ours := certflowdns.TXT{FQDN: fqdn, Value: "someone else's value"}, certflowdns.TXT{FQDN: fqdn, Value: "our-value"}
	for _, rec := range []certflowdns.TXT{other, ours} {
		if _, err := p.Present(testContext(t), rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.txt(t, fqdn); !slices.Equal(got, []string{"our-value", "someone else's value"}) {
		t.Fatalf("TXT = %v, want both values", got)
	}
	if err := p.CleanUp(testContext(t), ours); err != nil {
		t.Fatal(err)
	}
	if got := w.txt(t, fqdn); !slices.Equal(got, []string{"someone else's value"}) {
		t.Fatalf("TXT after our clean-up = %v, want the other value only", got)
	}
	for _, r := range w.actions("delete") {
		if r.Value != ours.Value {
			t.Errorf("the stand-in deleted %q", r.Value)
		}
	}
}

// TestServiceErrors: throttling and 5xx are retried, a refusal is not.
func TestServiceErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, route53standin.Options{})
	p := w.build(t, solver(nil), secrets(keyID, secret))

	t.Run("throttling is retried and the record is made", func(t *testing.T) {
		w.srv.Fail(1, http.StatusBadRequest, "Throttling")
		w.srv.Fail(1, http.StatusBadRequest, "PriorRequestNotComplete")
		rec := certflowdns.TXT{FQDN: w.fqdn("throttled"), Value: "throttled-value"}
		if _, err := p.Present(testContext(t), rec); err != nil {
			t.Fatal(err)
		}
		if got := w.txt(t, rec.FQDN); !slices.Equal(got, []string{rec.Value}) {
			t.Fatalf("TXT = %v", got)
		}
	})

	cases := []struct {
		name      string
		status    int
		code      string
		attempts  int // the SDK's: 3 for what it retries
		permanent bool
	}{
		{"a service that stays unavailable is an error a retry may mend", http.StatusServiceUnavailable, "ServiceUnavailable", 3, false},
		{"throttling that goes on is an error a retry may mend", http.StatusBadRequest, "Throttling", 3, false},
		{"access denied is permanent, with AWS's code", http.StatusForbidden, "AccessDenied", 1, true},
		{"a bad signature is permanent, with AWS's code", http.StatusForbidden, "SignatureDoesNotMatch", 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.srv.Fail(tc.attempts, tc.status, tc.code)
			_, err := p.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("failing"), Value: "v"})
			if err == nil || certflowdns.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("error = %v, want permanent=%v with %s", err, tc.permanent, tc.code)
			}
		})
	}
}

// TestAmbientWebIdentity: IRSA's token file and role, exchanged with the
// stand-in's STS (the endpoint serves the default chain's STS calls too).
func TestAmbientWebIdentity(t *testing.T) {
	w := newWorld(t, route53standin.Options{Roles: []string{role}, WebIdentityTokens: []string{"irsa-token"}})
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/token", []byte("irsa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", dir+"/token")
	t.Setenv("AWS_ROLE_ARN", role)
	noKeys := solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) { s.SecretAccessKeyID, s.SecretAccessKey = nil, nil })
	p := dnstest.BuildWith(t, dns01.Providers, noKeys, certflowdns.Setup{Credentials: dnstest.Secrets{}, Endpoint: w.url, AmbientCredentials: true})
	if _, err := p.Present(testContext(t), certflowdns.TXT{FQDN: w.fqdn("irsa"), Value: "irsa-value"}); err != nil {
		t.Fatal(err)
	}
	if len(w.actions("AssumeRoleWithWebIdentity")) == 0 {
		t.Fatal("the stand-in's STS was never asked to AssumeRoleWithWebIdentity")
	}
	if signers := w.srv.Signers(); len(signers) == 0 || !strings.HasPrefix(signers[0], "ASIA") {
		t.Fatalf("Route 53 calls signed by %v, want the role's temporary keys", signers)
	}
}

// TestKubernetesAuth: auth.kubernetes exchanges a bound token of the named
// ServiceAccount, requested from a real API server, for the role's
// credentials; the stand-in's STS takes only a token whose claims name that
// ServiceAccount and the STS audience. A ServiceAccount that does not exist
// is a permanent error.
func TestKubernetesAuth(t *testing.T) {
	ctx := testContext(t)
	kube, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Stop() })
	clientset := kubernetes.NewForConfigOrDie(kube.Config)
	const ns, name = "default", "certflow-route53"
	if _, err := clientset.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, route53standin.Options{Roles: []string{role}, WebIdentity: func(token string) bool {
		claims := jwtClaims(t, token)
		return claims.Subject == "system:serviceaccount:"+ns+":"+name && slices.Contains(claims.Audience, "sts.amazonaws.com")
	}})
	withAuth := func(sa string) *certflowv1.ACMEChallengeSolverDNS01 {
		return solver(func(s *certflowv1.ACMEIssuerDNS01ProviderRoute53) {
			s.SecretAccessKeyID, s.SecretAccessKey, s.Role = nil, nil, role
			s.Auth = &certflowv1.Route53Auth{Kubernetes: &certflowv1.Route53KubernetesAuth{ServiceAccountRef: &certflowv1.ServiceAccountRef{Name: sa}}}
		})
	}
	setup := certflowdns.Setup{Credentials: dnstest.Secrets{}, Endpoint: w.url, Kubernetes: kube.Config, ResourceNamespace: ns}

	p := dnstest.BuildWith(t, dns01.Providers, withAuth(name), setup)
	if _, err := p.Present(ctx, certflowdns.TXT{FQDN: w.fqdn("sa"), Value: "sa-value"}); err != nil {
		t.Fatal(err)
	}
	if got := w.txt(t, w.fqdn("sa")); !slices.Equal(got, []string{"sa-value"}) {
		t.Fatalf("TXT = %v", got)
	}
	if signers := w.srv.Signers(); len(signers) == 0 || !strings.HasPrefix(signers[0], "ASIA") {
		t.Fatalf("Route 53 calls signed by %v, want the role's temporary keys", signers)
	}

	missing := dnstest.BuildWith(t, dns01.Providers, withAuth("nobody"), setup)
	_, err = missing.Present(ctx, certflowdns.TXT{FQDN: w.fqdn("nobody"), Value: "v"})
	if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "ServiceAccount default/nobody (auth.kubernetes) does not exist") {
		t.Fatalf("error = %v, want a permanent one naming the ServiceAccount", err)
	}
}

// jwtClaims reads a token's claims without checking its signature: the
// stand-in, like STS, only looks at whom it names.
func jwtClaims(t *testing.T, token string) (claims struct {
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
}) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Errorf("token payload: %v", err)
		return claims
	}
	_ = json.Unmarshal(payload, &claims)
	return claims
}

// TestCleanUpAfterAConcurrentWrite: CleanUp DELETEs the set it read; when
// another issuance adds its value in between, Route 53 refuses the batch.
// The refusal may pass on a retry, which reads again and keeps the other
// value.
func TestCleanUpAfterAConcurrentWrite(t *testing.T) {
	w := newWorld(t, route53standin.Options{})
	ctx := testContext(t)
	fqdn := w.fqdn("race")
	ours, theirs := certflowdns.TXT{FQDN: fqdn, Value: "ours"}, certflowdns.TXT{FQDN: fqdn, Value: "theirs"}
	other := w.build(t, solver(nil), secrets(keyID, secret))
	var raced atomic.Bool
	racing := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("<Action>DELETE</Action>")) && raced.CompareAndSwap(false, true) {
			if _, err := other.Present(r.Context(), theirs); err != nil {
				t.Errorf("the concurrent Present: %v", err)
			}
		}
		w.srv.ServeHTTP(rw, r)
	}))
	t.Cleanup(racing.Close)
	p := dnstest.BuildWith(t, dns01.Providers, solver(nil), certflowdns.Setup{Credentials: secrets(keyID, secret), Endpoint: racing.URL})

	if _, err := p.Present(ctx, ours); err != nil {
		t.Fatal(err)
	}
	err := p.CleanUp(ctx, ours)
	if !raced.Load() || err == nil || certflowdns.IsPermanent(err) {
		t.Fatalf("CleanUp across a concurrent write = %v (raced %v), want an error that may pass on a retry", err, raced.Load())
	}
	if err := p.CleanUp(ctx, ours); err != nil {
		t.Fatal(err)
	}
	if got := w.txt(t, fqdn); !slices.Equal(got, []string{"theirs"}) {
		t.Fatalf("TXT after the retried CleanUp = %v, want the other issuance's value only", got)
	}
}
