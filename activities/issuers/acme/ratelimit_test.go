package acme_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
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
			proxy := refusingProxy(t, tc.status, tc.problem, tc.retryAfter)
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
func refusingProxy(t *testing.T, status int, problem, retryAfter string) *httptest.Server {
	t.Helper()
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
	return srv
}
