package acme_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

func TestBadCasesAreClassified(t *testing.T) {
	t.Parallel()
	otherCA, err := pki.NewCA("not Pebble's web CA")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedPort(t)
	request := func(names ...string) activities.BeginOrderInput {
		return activities.BeginOrderInput{Revision: 1, Request: activities.Request{DNSNames: names, SecretName: "bad-tls"}}
	}
	cases := []struct {
		name      string
		edit      func(*certflowv1.IssuerSpec) // nil: no issuer at all
		activity  string                       // "account", "key" (EnsurePendingKey) or "order" (it and BeginOrder)
		in        activities.BeginOrderInput   // Issuer is filled in
		wantType  string                       // "" for a retryable error
		wantInMsg string
	}{
		{"an identifier no solver covers is refused, naming it",
			func(s *certflowv1.IssuerSpec) {
				s.ACME.Solvers[0].Selector = &certflowv1.CertificateDNSNameSelector{DNSZones: []string{"web.certflow.test"}}
			},
			"key", request("www.web.certflow.test", "mail.certflow.test"),
			activities.ErrTypeConfig, "no solver of ClusterIssuer/{name} that certflow can use is for mail.certflow.test"},
		{"a wildcard with only an http01 solver is refused",
			func(s *certflowv1.IssuerSpec) {
				s.ACME.Solvers = []certflowv1.ACMEChallengeSolver{{HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{
					Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{Name: "web"}}}}
			},
			"key", request("*.wild.certflow.test"),
			activities.ErrTypeConfig, "*.wild.certflow.test (a wildcard needs a dns01 or dnsPersist01 solver)"},
		{"an IP address with only a dns01 solver is refused (RFC 8738)",
			nil, "key", activities.BeginOrderInput{Revision: 1, Request: activities.Request{IPAddresses: []string{"192.0.2.7"}, SecretName: "ip-tls"}},
			activities.ErrTypeConfig, "192.0.2.7 (an IP address needs an http01 solver: RFC 8738 forbids dns-01 for it"},
		{"a missing issuer is reported as not found",
			nil, "account", activities.BeginOrderInput{},
			activities.ErrTypeIssuerNotFound, "ClusterIssuer/{name} not found"},
		{"an issuer that is not ACME is a config error",
			func(s *certflowv1.IssuerSpec) { *s = certflowv1.IssuerSpec{SelfSigned: &certflowv1.SelfSignedIssuer{}} },
			"account", activities.BeginOrderInput{},
			activities.ErrTypeConfig, "is not an ACME issuer"},
		{"an unreachable CA is a retryable error that says so",
			func(s *certflowv1.IssuerSpec) { s.ACME.Server = "https://127.0.0.1:" + closed + "/dir" },
			"account", activities.BeginOrderInput{},
			"", "ACME server 127.0.0.1:" + closed + " is unreachable"},
		{"a CA certificate the caBundle does not verify is a config error",
			func(s *certflowv1.IssuerSpec) { s.ACME.CABundle = otherCA.CertPEM },
			"account", activities.BeginOrderInput{},
			activities.ErrTypeConfig, "check spec.acme.caBundle"},
		{"a missing account key Secret with disableAccountKeyGeneration is a config error",
			func(s *certflowv1.IssuerSpec) { s.ACME.DisableAccountKeyGeneration = true },
			"order", request("nokey.certflow.test"),
			activities.ErrTypeConfig, "account key Secret certflow-system/{name}-account not found and disableAccountKeyGeneration is set"},
		{"skipTLSVerify the worker does not allow is a config error",
			func(s *certflowv1.IssuerSpec) { s.ACME.SkipTLSVerify, s.ACME.CABundle = true, nil },
			"account", activities.BeginOrderInput{},
			activities.ErrTypeConfig, "spec.acme.skipTLSVerify is refused"},
		{"a missing external account binding Secret is a config error",
			func(s *certflowv1.IssuerSpec) {
				s.ACME.ExternalAccountBinding = &certflowv1.ACMEExternalAccountBinding{KeyID: "kid-1",
					Key: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "no-eab"}, Key: "secret"}}
			},
			"account", activities.BeginOrderInput{},
			activities.ErrTypeConfig, "Secret certflow-system/no-eab not found"},
	}
	names := []string{"nosolver", "wildcard", "ip", "missing", "selfsigned", "unreachable", "cabundle", "nokey", "skiptls", "eab"}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issuer := activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: unique("bad-" + names[i])}
			if tc.edit != nil || tc.activity != "account" {
				issuer = createIssuer(t, "bad-"+names[i], tc.edit)
			}
			name := issuer.Name
			in := tc.in
			in.Issuer = issuer
			var err error
			a := newActivities()
			switch tc.activity {
			case "account":
				_, err = call(t, a, activities.EnsureAccount, activities.EnsureAccountInput{Issuer: issuer, Generation: 1})
			case "key":
				in.Certificate = createCertificate(t, issuer.Name, issuer, in.Request)
				_, err = call(t, a, activities.EnsurePendingKey, activities.EnsurePendingKeyInput{
					Certificate: in.Certificate, Issuer: issuer, Request: in.Request, Revision: in.Revision,
				})
			case "order":
				in.Certificate = createCertificate(t, issuer.Name, issuer, in.Request)
				must(t, a, activities.EnsurePendingKey, activities.EnsurePendingKeyInput{
					Certificate: in.Certificate, Issuer: issuer, Request: in.Request, Revision: in.Revision,
				})
				_, err = call(t, a, activities.BeginOrder, in)
			}
			if err == nil {
				t.Fatal("no error")
			}
			app := applicationError(t, err)
			mustContain(t, "message", app.Message(), strings.ReplaceAll(tc.wantInMsg, "{name}", name))
			if tc.activity != "key" && !strings.HasPrefix(app.Message(), "acme: ") {
				t.Fatalf("message %q does not start with the package's path", app.Message())
			}
			if tc.wantType == "" {
				if app.NonRetryable() || app.Type() == activities.ErrTypeConfig || app.Type() == activities.ErrTypeACMEPermanent {
					t.Fatalf("error %v: want a retryable error", err)
				}
				return
			}
			if app.Type() != tc.wantType || !app.NonRetryable() {
				t.Fatalf("error type %q (non-retryable %v), want non-retryable %q: %v", app.Type(), app.NonRetryable(), tc.wantType, err)
			}
		})
	}
}

// TestAnUnsolvedChallengeIsPermanentWithTheCAsReason lets Pebble look for a
// TXT record nobody presented.
func TestAnUnsolvedChallengeIsPermanentWithTheCAsReason(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer := createIssuer(t, "unsolved", nil)
	req := activities.Request{DNSNames: []string{"unsolved.certflow.test"}, SecretName: "unsolved-tls"}
	cert := createCertificate(t, issuer.Name, issuer, req)
	_, begun := ensureAndBegin(t, a, activities.BeginOrderInput{Certificate: cert, Issuer: issuer, Revision: 1, Request: req})
	_, err := call(t, a, activities.Validate, activities.ValidateInput{Certificate: cert, Issuer: issuer, Authorizations: begun.Authorizations})
	if err == nil {
		t.Fatal("Validate succeeded without a TXT record")
	}
	app := applicationError(t, err)
	if app.Type() != activities.ErrTypeACMEPermanent || !app.NonRetryable() {
		t.Fatalf("error %v: want non-retryable %s", err, activities.ErrTypeACMEPermanent)
	}
	mustContain(t, "message", app.Message(), "acme: validating dns-01 for unsolved.certflow.test: ")
	var res activities.ValidateResult
	if err := app.Details(&res); err != nil {
		t.Fatalf("details: %v", err)
	}
	if len(res.Authorizations) != 1 || res.Authorizations[0].Status != "invalid" || res.Authorizations[0].Challenge.ValidateError == "" {
		t.Fatalf("details %+v: want the invalid authorization with the CA's reason", res)
	}
	mustContain(t, "message", app.Message(), res.Authorizations[0].Challenge.ValidateError)
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return strconv.Itoa(port)
}

// TestSkipTLSVerifyWhenTheWorkerAllowsIt: with the worker's permission, an
// issuer without a caBundle reaches Pebble (whose certificate no system root
// signs) and registers its account.
func TestSkipTLSVerifyWhenTheWorkerAllowsIt(t *testing.T) {
	t.Parallel()
	issuer := createIssuer(t, "skiptls-allowed", func(s *certflowv1.IssuerSpec) { s.ACME.SkipTLSVerify, s.ACME.CABundle = true, nil })
	a := newActivities()
	a.AllowSkipTLSVerify = true
	if _, err := call(t, a, activities.EnsureAccount, activities.EnsureAccountInput{Issuer: issuer, Generation: 1}); err != nil {
		t.Fatalf("EnsureAccount with skipTLSVerify allowed: %v", err)
	}
}
