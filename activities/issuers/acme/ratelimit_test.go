package acme_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers/acme"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Pebble has no rate limits, so these tests put a proxy in front of it that
// answers new-order requests itself, as Let's Encrypt does when it refuses.
func TestRefusedOrdersAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		status        int
		problem       string
		retryAfter    string
		wantType      string // "" for retryable
		wantRetryWait int64
	}{
		{"a 429 rateLimited is non-retryable and carries the CA's Retry-After",
			http.StatusTooManyRequests, "rateLimited", "3600", activities.ErrTypeRateLimited, 3600},
		{"a 503 is left to the retry policy",
			http.StatusServiceUnavailable, "serverInternal", "", "", 0},
		{"a rejected identifier is permanent",
			http.StatusBadRequest, "rejectedIdentifier", "", activities.ErrTypeACMEPermanent, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy, _ := refusingProxy(t, tc.status, tc.problem, tc.retryAfter)
			issuer := createIssuer(t, "refused", func(s *certflowv1.IssuerSpec) {
				s.ACME.Server = proxy.URL + "/dir"
				s.ACME.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
			})
			name := issuer.Name
			asked := time.Now()
			req := activities.Request{DNSNames: []string{name + ".certflow.test"}, SecretName: name + "-tls"}
			a := newActivities()
			in := activities.BeginOrderInput{Certificate: createCertificate(t, issuer.Name, issuer, req), Issuer: issuer, Revision: 1, Request: req}
			must(t, a, activities.EnsurePendingKey, activities.EnsurePendingKeyInput{
				Certificate: in.Certificate, Issuer: issuer, Request: req, Revision: 1,
			})
			_, err := call(t, a, activities.BeginOrder, in)
			if err == nil {
				t.Fatal("the refused order succeeded")
			}
			app := applicationError(t, err)
			mustContain(t, "message", app.Message(), "acme: ordering for default/"+name+": creating order at ")
			mustContain(t, "message", app.Message(), tc.problem+": refused by the test proxy")
			if tc.wantType == "" {
				if app.NonRetryable() {
					t.Fatalf("error %v: want retryable", err)
				}
				return
			}
			if app.Type() != tc.wantType || !app.NonRetryable() {
				t.Fatalf("error %v: want non-retryable %s", err, tc.wantType)
			}
			if tc.wantType == activities.ErrTypeRateLimited {
				var d activities.RateLimitDetails
				if err := app.Details(&d); err != nil {
					t.Fatal(err)
				}
				if d.RetryAfterSeconds != tc.wantRetryWait || d.Detail != "refused by the test proxy" {
					t.Fatalf("details %+v", d)
				}
				if d.RefusedAt.Before(asked) || d.RefusedAt.After(time.Now()) {
					t.Fatalf("refused at %s, want between the request at %s and now", d.RefusedAt, asked)
				}
			}
		})
	}
}

// refusingProxy forwards to Pebble, except new-order requests, which it
// answers with a problem document. Pebble builds its URLs from the Host
// header, which the proxy keeps, so every URL the client sees is the proxy's.
// It counts the new-order requests it refused.
func refusingProxy(t *testing.T, status int, problem, retryAfter string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var refused atomic.Int32
	target, err := url.Parse(pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = pebble.HTTPClient().Transport
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "order-plz") {
			rp.ServeHTTP(w, r)
			return
		}
		refused.Add(1)
		w.Header().Set("Content-Type", "application/problem+json")
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type": "urn:ietf:params:acme:error:" + problem, "detail": "refused by the test proxy", "status": status,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &refused
}

// rateLimitedIssuer is an issuer whose CA (refusingProxy) answers every new
// order with a 429 and Retry-After retryAfter.
func rateLimitedIssuer(t *testing.T, retryAfter string, edit func(*certflowv1.ACMEIssuer)) (activities.IssuerRef, *atomic.Int32) {
	t.Helper()
	proxy, refused := refusingProxy(t, http.StatusTooManyRequests, "rateLimited", retryAfter)
	issuer := createIssuer(t, "limited", func(s *certflowv1.IssuerSpec) {
		s.ACME.Server = proxy.URL + "/dir"
		s.ACME.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
		if edit != nil {
			edit(s.ACME)
		}
	})
	return issuer, refused
}

// beginOrder runs BeginOrder for a new Certificate of the issuer named
// name.certflow.test and returns its error.
func beginOrder(t *testing.T, a *acme.Activities, issuer activities.IssuerRef, name string) error {
	t.Helper()
	req := activities.Request{DNSNames: []string{name + ".certflow.test"}, SecretName: name + "-tls"}
	in := activities.BeginOrderInput{Certificate: createCertificate(t, name, issuer, req), Issuer: issuer, Revision: 1, Request: req}
	must(t, a, activities.EnsurePendingKey, activities.EnsurePendingKeyInput{Certificate: in.Certificate, Issuer: issuer, Request: req, Revision: 1})
	_, err := call(t, a, activities.BeginOrder, in)
	return err
}

// retryAfterOf is the wait a rate-limit error carries.
func retryAfterOf(t *testing.T, err error) time.Duration {
	t.Helper()
	app := applicationError(t, err)
	var d activities.RateLimitDetails
	if app.Type() != activities.ErrTypeRateLimited || app.Details(&d) != nil {
		t.Fatalf("error %v: want a rate limit", err)
	}
	return time.Duration(d.RetryAfterSeconds) * time.Second
}

func TestARetryAfterIsCappedByTheIssuer(t *testing.T) {
	t.Parallel()
	const tenYears = "315360000"
	cases := []struct {
		name string
		max  *metav1.Duration
		want time.Duration
	}{
		{"by default at 7 days, Let's Encrypt's longest window", nil, 7 * 24 * time.Hour},
		{"at the issuer's maxRetryAfter", &metav1.Duration{Duration: time.Hour}, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			issuer, _ := rateLimitedIssuer(t, tenYears, func(s *certflowv1.ACMEIssuer) { s.MaxRetryAfter = tc.max })
			err := beginOrder(t, newActivities(), issuer, issuer.Name)
			if got := retryAfterOf(t, err); got != tc.want {
				t.Fatalf("the CA asked for ten years; the error carries %s, want %s", got, tc.want)
			}
		})
	}
}

// TestARateLimitedAccountSendsNoFurtherOrders: after one 429, the worker
// sends no new order of that account until the Retry-After has passed,
// before any limiter has heard of it, and answers with what is left of the
// wait; another account's orders go out.
func TestARateLimitedAccountSendsNoFurtherOrders(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer, refused := rateLimitedIssuer(t, "3600", nil)
	if err := beginOrder(t, a, issuer, issuer.Name+"-first"); retryAfterOf(t, err) != time.Hour {
		t.Fatalf("first order: %v, want the CA's hour", err)
	}
	err := beginOrder(t, a, issuer, issuer.Name+"-second")
	if wait := retryAfterOf(t, err); wait > time.Hour || wait < time.Hour-time.Minute || refused.Load() != 1 {
		t.Fatalf("second order: %v after %d refusals at the CA; want held by the worker for the rest of the hour", err, refused.Load())
	}
	mustContain(t, "message", err.Error(), "not sent: the CA rate-limited an order of this account at ")

	other, otherRefused := rateLimitedIssuer(t, "3600", nil)
	if err := beginOrder(t, a, other, other.Name); retryAfterOf(t, err) != time.Hour || otherRefused.Load() != 1 {
		t.Fatalf("another account's order: %v, %d refusals; want it sent to its CA", err, otherRefused.Load())
	}
}
