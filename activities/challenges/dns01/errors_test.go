package dns01_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

func TestPresentErrorsAreClearAndClassified(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-wrong", "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE=")
	tsigSecret(t, clusterNS, "tsig-good", bind.TSIGSecret)
	tsigSecret(t, clusterNS, "tsig-garbled", "not base64 at all!")
	// The Secret exists, but in a namespace a ClusterIssuer may not read from.
	tsigSecret(t, "default", "tsig-elsewhere", bind.TSIGSecret)

	wrong := clusterIssuer(t, "wrong-tsig", rfc2136Solver("tsig-wrong", false))
	cloudflare := clusterIssuer(t, "cloudflare", rfc2136Solver("tsig-good", false), cloudflareSolver())
	elsewhere := clusterIssuer(t, "elsewhere", rfc2136Solver("tsig-elsewhere", false))
	garbled := clusterIssuer(t, "garbled", rfc2136Solver("tsig-garbled", false))
	good := clusterIssuer(t, "good", rfc2136Solver("tsig-good", false))
	mixed := clusterIssuer(t, "mixed", rfc2136Solver("tsig-good", false), rfc2136Solver("tsig-wrong", false))
	down := rfc2136Solver("tsig-good", false)
	down.DNS01.RFC2136.Nameserver = closedPort(t)
	unreachable := clusterIssuer(t, "unreachable", down)

	httpAuthz := dnsAuthorization("http.certflow.test", "x", 0)
	httpAuthz.Challenge.Type = "http-01"

	cases := []struct {
		name string
		in   activities.PresentInput
		// errType is "" for a retryable error.
		errType string
		want    string
		// gone are records that must not be left on BIND.
		gone []string
	}{
		{"a wrong TSIG secret is a configuration error that says the key does not match",
			present(t, wrong, dnsAuthorization("wrong.certflow.test", "v", 0)),
			activities.ErrTypeConfig, "NOTAUTH (the TSIG key name, algorithm or secret does not match the server's)", nil},
		{"a name the server is not authoritative for is a configuration error that says so",
			present(t, good, dnsAuthorization("www.example.org", "v", 0)),
			activities.ErrTypeConfig, "rfc2136 server " + bind.Addr + " is not authoritative for the record's zone (it answered REFUSED)", nil},
		{"an unreachable server is retried",
			present(t, unreachable, dnsAuthorization("down.certflow.test", "v", 0)),
			"", "connection refused", nil},
		{"a solver pointing at cloudflare is not supported yet",
			present(t, cloudflare, dnsAuthorization("cf.certflow.test", "v", 1)),
			activities.ErrTypeConfig, "ClusterIssuer/cloudflare solver 1: dns01 provider cloudflare is not supported yet (certflow serves rfc2136)", nil},
		{"a ClusterIssuer's TSIG Secret outside the cluster-resource namespace is not read",
			present(t, elsewhere, dnsAuthorization("elsewhere.certflow.test", "v", 0)),
			activities.ErrTypeConfig, "Secret certflow/tsig-elsewhere not found", nil},
		{"a TSIG secret that is not base64 is a configuration error",
			present(t, garbled, dnsAuthorization("garbled.certflow.test", "v", 0)),
			activities.ErrTypeConfig, `the TSIG secret in Secret tsig-garbled key "secret" is not base64`, nil},
		{"an http-01 challenge is not supported yet",
			present(t, good, httpAuthz),
			activities.ErrTypeConfig, "challenge type http-01 is not supported", nil},
		{"a solver index the issuer does not have is a configuration error",
			present(t, good, dnsAuthorization("index.certflow.test", "v", 3)),
			activities.ErrTypeConfig, "ClusterIssuer/good has no solver 3", nil},
		{"a missing issuer is reported as such",
			present(t, activities.IssuerRef{Kind: "ClusterIssuer", Name: "nope"}, dnsAuthorization("nope.certflow.test", "v", 0)),
			activities.ErrTypeIssuerNotFound, "ClusterIssuer/nope not found", nil},
		{"a record made before another failed is removed again",
			present(t, mixed, dnsAuthorization("first.certflow.test", "first", 0), dnsAuthorization("second.certflow.test", "second", 1)),
			activities.ErrTypeConfig, "presenting TXT _acme-challenge.second.certflow.test.: rfc2136", []string{"_acme-challenge.first.certflow.test."}},
	}
	e := env(onlyRFC2136())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execute(t, e, activities.Present, tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), bind.TSIGSecret) {
				t.Fatal("the error carries the TSIG secret")
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) {
				t.Fatalf("error %v is not an application error", err)
			}
			if tc.errType == "" && app.NonRetryable() {
				t.Fatalf("error is non-retryable (%s), want it retried: the user may fix it meanwhile", app.Type())
			}
			if tc.errType != "" && (!app.NonRetryable() || app.Type() != tc.errType) {
				t.Fatalf("error type %s (non-retryable %v), want non-retryable %s", app.Type(), app.NonRetryable(), tc.errType)
			}
			for _, fqdn := range append(tc.gone, tc.in.Authorizations[0].Challenge.FQDN) {
				if got := txtValues(t, fqdn); len(got) != 0 {
					t.Fatalf("TXT %s left behind: %v", fqdn, got)
				}
			}
		})
	}
}

func TestCleanUpTriesEveryRecordAndJoinsTheErrors(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-cleanup", bind.TSIGSecret)
	down := rfc2136Solver("tsig-cleanup", false)
	down.DNS01.RFC2136.Nameserver = closedPort(t)
	ref := clusterIssuer(t, "cleanup", rfc2136Solver("tsig-cleanup", false), cloudflareSolver(), down)
	e := env(onlyRFC2136())
	in := present(t, ref, dnsAuthorization("kept.certflow.test", "kept", 0))
	res, err := execute(t, e, activities.Present, in)
	if err != nil {
		t.Fatal(err)
	}
	cf, downRecord := presented("cf.certflow.test", "v"), presented("down.certflow.test", "v")
	cf.Solver, downRecord.Solver = 1, 2
	all := append([]activities.Presented{cf, downRecord}, res.Presented...)

	cert := certificateFor(t, ref, "kept.certflow.test", "cf.certflow.test", "down.certflow.test")
	_, err = execute(t, e, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: cert, Issuer: ref, Presented: all})
	var app *temporal.ApplicationError
	if err == nil || !errors.As(err, &app) || app.NonRetryable() {
		t.Fatalf("error = %v, want a retryable error: one record's server may answer next time", err)
	}
	for _, want := range []string{"removing 2 of 3 challenge responses", "dns01 provider cloudflare is not supported yet", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error = %v, want it to contain %q", err, want)
		}
	}
	if got := txtValues(t, "_acme-challenge.kept.certflow.test."); len(got) != 0 {
		t.Fatalf("the record after the failing ones was not removed: %v", got)
	}
}

// present is the input that presents the authorizations of a Certificate
// issued by ref that asks for their names.
func present(t *testing.T, ref activities.IssuerRef, authzs ...activities.Authorization) activities.PresentInput {
	t.Helper()
	var names []string
	for _, az := range authzs {
		names = append(names, az.Name())
	}
	return activities.PresentInput{Certificate: certificateFor(t, ref, names...), Issuer: ref, Authorizations: authzs}
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestPresentWritesOnlyTheCertificatesChallengeRecords: whoever can start a
// workflow can hand Present any input; the issuer's DNS credentials still
// write only the challenge records of names the Certificate asks for.
func TestPresentWritesOnlyTheCertificatesChallengeRecords(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-only", bind.TSIGSecret)
	ref := clusterIssuer(t, "only", rfc2136Solver("tsig-only", false))
	e := env(newActivities())

	otherName := present(t, ref, dnsAuthorization("mine.certflow.test", "v", 0))
	otherName.Authorizations = append(otherName.Authorizations, dnsAuthorization("theirs.certflow.test", "v", 0))
	otherRecord := present(t, ref, dnsAuthorization("mine2.certflow.test", "v", 0))
	otherRecord.Authorizations[0].Challenge.FQDN = "www.certflow.test."
	for name, tc := range map[string]struct {
		in   activities.PresentInput
		want string
	}{
		"a name the Certificate does not ask for": {otherName, "does not ask for theirs.certflow.test"},
		"a record at another name":                {otherRecord, "a dns-01 record for mine2.certflow.test goes at _acme-challenge.mine2.certflow.test., not www.certflow.test."},
	} {
		_, err := execute(t, e, activities.Present, tc.in)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != activities.ErrTypeMismatch || !strings.Contains(app.Message(), tc.want) {
			t.Errorf("%s: error %v, want a %s saying %q", name, err, activities.ErrTypeMismatch, tc.want)
		}
		for _, fqdn := range []string{"_acme-challenge.mine.certflow.test.", "_acme-challenge.theirs.certflow.test.", "www.certflow.test."} {
			if got := txtValues(t, fqdn); len(got) != 0 {
				t.Fatalf("%s: TXT %s was written: %v", name, fqdn, got)
			}
		}
	}
}
