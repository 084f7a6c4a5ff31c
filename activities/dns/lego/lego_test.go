package lego_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	legodns01 "github.com/go-acme/lego/v5/challenge/dns01"

	"github.com/certflow/certflow/activities/challenges/dns01"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin/httpreq"
)

const username, password = "certflow", "s3cret-password"

// world is BIND, an httpreq stand-in writing into it, and lego's zone
// lookups pointed at BIND.
type world struct {
	bind    *sandbox.BIND
	standIn *httpreq.Server
}

func start(t *testing.T) world {
	t.Helper()
	b, bind := dnstest.StartBIND(t)
	s, err := httpreq.Start(bind,
		httpreq.Options{Username: username, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	legodns01.SetDefaultClient(legodns01.NewClient(&legodns01.Options{RecursiveNameservers: []string{b.Addr}}))
	return world{bind: b, standIn: s}
}

func solver(provider string) *certflowv1.ACMEChallengeSolverDNS01 {
	return &certflowv1.ACMEChallengeSolverDNS01{Lego: &certflowv1.ACMEIssuerDNS01ProviderLego{
		Provider: provider, Settings: certflowv1.LocalObjectReference{Name: "settings"},
	}}
}

func settings(endpoint, pass string, more ...string) dnstest.Secrets {
	s := map[string]string{"HTTPREQ_ENDPOINT": endpoint, "HTTPREQ_USERNAME": username, "HTTPREQ_PASSWORD": pass}
	for i := 0; i+1 < len(more); i += 2 {
		s[more[i]] = more[i+1]
	}
	return dnstest.Secrets{"settings": s}
}

// TestConformance runs the providers' suite through lego's httpreq against
// the stand-in and BIND. lego's providers take a key authorization and
// write its digest, so the suite's values stand for key authorizations
// (keyAuthorized) and BIND's digests are read back as them.
func TestConformance(t *testing.T) {
	w := start(t)
	build := func(s dnstest.Secrets) certflowdns.Provider {
		return keyAuthorized{dnstest.Build(t, dns01.Providers, solver("httpreq"), s)}
	}
	dnstest.Run(t, dnstest.Subject{
		Provider: build(settings(w.standIn.URL, password)),
		Zone:     w.bind.Zone + ".",
		TXT: func(_ context.Context, fqdn string) ([]string, error) {
			var values []string
			for _, v := range dnstest.TXTValues(t, w.bind.Addr, fqdn) {
				values = append(values, preimage(v))
			}
			return values, nil
		},
		Refused: build(settings(w.standIn.URL, "wrong-password")),
		Silent:  build(settings("http://"+dnstest.Silent(t), password)),
	})
}

// keyAuthorized presents value v as the key authorization v, whose digest
// goes into DNS, as the ACME activities hand lego's providers a record.
type keyAuthorized struct{ certflowdns.Provider }

var preimages sync.Map // digest -> key authorization

func (k keyAuthorized) record(rec certflowdns.TXT) certflowdns.TXT {
	sum := sha256.Sum256([]byte(rec.Value))
	digest := base64.RawURLEncoding.EncodeToString(sum[:])
	preimages.Store(digest, rec.Value)
	return certflowdns.TXT{FQDN: rec.FQDN, Value: digest, KeyAuthorization: rec.Value, TTL: rec.TTL}
}

func (k keyAuthorized) Present(ctx context.Context, rec certflowdns.TXT) (string, error) {
	return k.Provider.Present(ctx, k.record(rec))
}

func (k keyAuthorized) CleanUp(ctx context.Context, rec certflowdns.TXT) error {
	return k.Provider.CleanUp(ctx, k.record(rec))
}

func preimage(digest string) string {
	if v, ok := preimages.Load(digest); ok {
		return v.(string)
	}
	return digest
}

func TestConfigurationErrorsArePermanentAndClear(t *testing.T) {
	cases := []struct {
		name     string
		provider string
		secrets  dnstest.Secrets
		want     string
	}{
		{"an unknown provider names where the list is", "no-such-dns", settings("http://127.0.0.1:1", password),
			`lego has no DNS provider "no-such-dns"; the providers of this build are listed in certflow's docs/lego-providers.md`},
		{"a provider that runs programs is not in the build", "exec", settings("http://127.0.0.1:1", password),
			`lego provider "exec" is not in this build of certflow: it runs a program on the worker`},
		{"a provider whose SDK is not in go.mod says so", "linode", settings("http://127.0.0.1:1", password),
			`lego provider "linode" is not in this build of certflow: it does not build with certflow's go.mod`},
		{"a missing variable is named, and no value is shown", "httpreq",
			dnstest.Secrets{"settings": {"HTTPREQ_USERNAME": username, "HTTPREQ_PASSWORD": password}},
			"lego httpreq: httpreq: some credentials information are missing: HTTPREQ_ENDPOINT"},
		{"a missing Secret is said", "httpreq", dnstest.Secrets{},
			`Secret settings holds none of its variables: Secret settings has no key`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var kind certflowdns.Kind
			for _, k := range dns01.Providers {
				if k.Name == "lego" {
					kind = k
				}
			}
			_, err := kind.New(context.Background(), solver(tc.provider), certflowdns.Setup{Credentials: tc.secrets})
			if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a permanent one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error %q shows a value of the Secret", err)
			}
		})
	}
}

func TestAServerErrorIsRetriedAndTheRetryMakesTheRecord(t *testing.T) {
	w := start(t)
	p := keyAuthorized{dnstest.Build(t, dns01.Providers, solver("httpreq"), settings(w.standIn.URL, password))}
	rec := certflowdns.TXT{FQDN: "_acme-challenge.retried." + w.bind.Zone + ".", Value: "retried-key-authorization"}
	w.standIn.FailNext(503)
	if _, err := p.Present(context.Background(), rec); err == nil || certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %v, want a retryable one with the status", err)
	}
	if _, err := p.Present(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, rec.FQDN); len(got) != 1 || preimage(got[0]) != rec.Value {
		t.Fatalf("TXT %s = %v after the retry", rec.FQDN, got)
	}
}

// TestRawModeSendsTheKeyAuthorization: in RAW mode the server computes the
// digest, and BIND holds the value the CA looks for.
func TestRawModeSendsTheKeyAuthorization(t *testing.T) {
	w := start(t)
	p := keyAuthorized{dnstest.Build(t, dns01.Providers, solver("httpreq"), settings(w.standIn.URL, password, "HTTPREQ_MODE", "RAW"))}
	rec := certflowdns.TXT{FQDN: "_acme-challenge.raw." + w.bind.Zone + ".", Value: "token.thumbprint"}
	if _, err := p.Present(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, rec.FQDN); len(got) != 1 || preimage(got[0]) != rec.Value {
		t.Fatalf("TXT %s = %v", rec.FQDN, got)
	}
	if err := p.CleanUp(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if got := dnstest.TXTValues(t, w.bind.Addr, rec.FQDN); len(got) != 0 {
		t.Fatalf("TXT %s = %v after clean-up", rec.FQDN, got)
	}
}

func TestARecordWithoutItsKeyAuthorizationIsRefused(t *testing.T) {
	p := dnstest.Build(t, dns01.Providers, solver("httpreq"), settings("http://127.0.0.1:1", password))
	_, err := p.Present(context.Background(), certflowdns.TXT{FQDN: "_acme-challenge.x.certflow.test.", Value: "digest"})
	if err == nil || !certflowdns.IsPermanent(err) || !strings.Contains(err.Error(), "compute the value from the key authorization") {
		t.Fatalf("error %v", err)
	}
}

// TestTheWorkersEnvironmentIsNeitherUsedNorChanged: a variable the Secret
// lacks is not taken from the worker (nor its _FILE variant, which would
// read a file), and the worker's values are back afterwards.
func TestTheWorkersEnvironmentIsNeitherUsedNorChanged(t *testing.T) {
	const fileUser = "user-from-the-workers-file"
	file := filepath.Join(t.TempDir(), "httpreq-username")
	if err := os.WriteFile(file, []byte(fileUser), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HTTPREQ_ENDPOINT", "http://worker.invalid")
	t.Setenv("HTTPREQ_USERNAME_FILE", file)
	var kind certflowdns.Kind
	for _, k := range dns01.Providers {
		if k.Name == "lego" {
			kind = k
		}
	}
	_, err := kind.New(context.Background(), solver("httpreq"), certflowdns.Setup{Credentials: dnstest.Secrets{"settings": {"HTTPREQ_PASSWORD": password}}})
	if err == nil || !strings.Contains(err.Error(), "HTTPREQ_ENDPOINT") {
		t.Fatalf("error %v, want the Secret's missing HTTPREQ_ENDPOINT", err)
	}

	// httpreq sends basic auth when it has a user and a password: with the
	// password from the Secret, a user from the worker's file would show.
	var mu sync.Mutex
	var users []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		mu.Lock()
		users = append(users, user)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	p, err := kind.New(context.Background(), solver("httpreq"), certflowdns.Setup{Credentials: dnstest.Secrets{"settings": {
		"HTTPREQ_ENDPOINT": srv.URL, "HTTPREQ_PASSWORD": password,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := keyAuthorized{p}.record(certflowdns.TXT{FQDN: "_acme-challenge.file.certflow.test.", Value: "file-key-authorization"})
	if err := p.CleanUp(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(users) != 1 || users[0] != "" {
		t.Fatalf("the stand-in saw basic-auth users %q, want one call without (HTTPREQ_USERNAME_FILE of the worker was read)", users)
	}

	for name, want := range map[string]string{"HTTPREQ_ENDPOINT": "http://worker.invalid", "HTTPREQ_USERNAME_FILE": file} {
		if got := os.Getenv(name); got != want {
			t.Fatalf("%s = %q after building, want the worker's %q", name, got, want)
		}
	}
	if _, ok := os.LookupEnv("HTTPREQ_PASSWORD"); ok {
		t.Fatal("the Secret's HTTPREQ_PASSWORD stayed in the environment")
	}
}
