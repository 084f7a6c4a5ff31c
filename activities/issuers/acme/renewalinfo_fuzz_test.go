package acme

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/net/http/httpguts"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// caAnswer is what the test CA's renewalInfo endpoint says next.
type caAnswer struct {
	status     int
	retryAfter string
	body       []byte
	padded     bool // the body is followed by more than maxResponseSize of spaces
}

// FuzzRenewalInfoAnswer runs the RenewalInfo activity against a CA whose
// renewalInfo answer (status, Retry-After, body) is the fuzzer's. Whatever
// the CA says: no panic; a window is reported only when its start is before
// its end, and then it is the CA's; an answer over 1 MiB is an error; a 4xx
// other than 429 is no window; every error is classified (a non-retryable
// application error or a retryable one), and a 429 problem document is
// ErrTypeRateLimited.
func FuzzRenewalInfoAnswer(f *testing.F) {
	window := `{"suggestedWindow":{"start":"2026-03-01T00:00:00Z","end":"2026-03-03T00:00:00Z"},"explanationURL":"https://ca.test/why"}`
	f.Add(200, "21600", []byte(window), false)
	f.Add(200, "", []byte(window), true)
	f.Add(200, "", []byte(`{"suggestedWindow":{"start":"2026-03-03T00:00:00Z","end":"2026-03-01T00:00:00Z"}}`), false)
	f.Add(200, "", []byte(`{"suggestedWindow":{"start":"2026-03-01T00:00:00Z","end":"2026-03-01T00:00:00Z"}}`), false)
	f.Add(200, "", []byte(`{"suggestedWindow":{"start":"2026-03-01T00:00:00+14:00","end":"2026-02-28T11:00:00Z"}}`), false)
	f.Add(200, "-5", []byte(`{"suggestedWindow":{"start":"0001-01-01T00:00:00Z","end":"9999-12-31T23:59:59.999999999Z"}}`), false)
	f.Add(200, "", []byte(`{"suggestedWindow":{}}`), false)
	f.Add(200, "", []byte(`{"suggestedWindow":{"start":"yesterday"}}`), false)
	f.Add(200, "", []byte(`null`), false)
	f.Add(200, "", []byte(`[]`), false)
	f.Add(200, "", []byte{}, false)
	f.Add(404, "", []byte(`{"type":"urn:ietf:params:acme:error:malformed","detail":"unknown certificate"}`), false)
	f.Add(404, "", []byte(`<html>not found</html>`), false)
	f.Add(404, "", []byte(`null`), false)
	f.Add(429, "3600", []byte(`{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}`), false)
	f.Add(500, "", []byte(`{"type":"urn:ietf:params:acme:error:serverInternal","detail":"oops"}`), false)
	f.Add(503, "", []byte(`{"type":"urn:ietf:params:acme:error:serverInternal","detail":"oops"}`), true)

	var next atomic.Pointer[caAnswer]
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /dir", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"newNonce": srv.URL + "/nonce", "newAccount": srv.URL + "/account", "newOrder": srv.URL + "/order",
			"revokeCert": srv.URL + "/revoke", "keyChange": srv.URL + "/key", "renewalInfo": srv.URL + "/ari",
		})
	})
	mux.HandleFunc("GET /ari/", func(w http.ResponseWriter, r *http.Request) {
		a := next.Load()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		if a.status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
		if a.padded {
			_, _ = w.Write(bytes.Repeat([]byte(" "), maxResponseSize+1))
		}
	})
	srv = httptest.NewTLSServer(mux)
	f.Cleanup(srv.Close)

	spec := certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{Server: srv.URL + "/dir"}}
	a := &Activities{
		Issuers: &issuers.Resolver{Client: oneClusterIssuer{spec: spec}},
		HTTPClient: func(*issuers.Issuer) (*http.Client, error) {
			return &http.Client{Transport: srv.Client().Transport, Timeout: 10 * time.Second}, nil
		},
	}
	in := activities.RenewalInfoInput{
		Issuer:    activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: "ca"},
		ARICertID: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
	}

	f.Fuzz(func(t *testing.T, status int, retryAfterHeader string, body []byte, padded bool) {
		if status < 200 || status > 599 || status == http.StatusNoContent || status == http.StatusNotModified ||
			(status >= 300 && status < 400) || !httpguts.ValidHeaderFieldValue(retryAfterHeader) {
			return // answers net/http cannot send, or that redirect
		}
		next.Store(&caAnswer{status: status, retryAfter: retryAfterHeader, body: body, padded: padded})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		res, err := a.RenewalInfo(ctx, in)
		if res.Supported && !res.WindowStart.Before(res.WindowEnd) {
			t.Fatalf("window from %s to %s reported", res.WindowStart, res.WindowEnd)
		}
		if !res.Supported && (!res.WindowStart.IsZero() || !res.WindowEnd.IsZero()) {
			t.Fatalf("no window, yet %s to %s", res.WindowStart, res.WindowEnd)
		}
		if padded && (err == nil || res.Supported) {
			t.Fatalf("an answer over %d bytes was read: %+v, %v", maxResponseSize, res, err)
		}
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests && res.Supported {
			t.Fatalf("status %d reported a window", status)
		}
		var sent struct {
			SuggestedWindow struct{ Start, End time.Time }
		}
		if status == http.StatusOK && !padded && json.Unmarshal(body, &sent) == nil && sent.SuggestedWindow.Start.Before(sent.SuggestedWindow.End) {
			if err != nil || !res.Supported || !res.WindowStart.Equal(sent.SuggestedWindow.Start) || !res.WindowEnd.Equal(sent.SuggestedWindow.End) {
				t.Fatalf("the CA's window %s to %s came back as %+v, %v", sent.SuggestedWindow.Start, sent.SuggestedWindow.End, res, err)
			}
		}
		if err == nil {
			return
		}
		var transient *transientError
		var app *temporal.ApplicationError
		switch {
		case errors.As(err, &transient):
		case errors.As(err, &app) && app.NonRetryable():
		default:
			t.Fatalf("unclassified error %T: %v", err, err)
		}
		var problem *legoacme.ProblemDetails
		if status == http.StatusTooManyRequests && !padded && json.Unmarshal(body, &problem) == nil && problem != nil &&
			problem.HTTPStatus == 0 && (app == nil || app.Type() != activities.ErrTypeRateLimited) {
			t.Fatalf("a 429 with a problem document is not a rate limit: %v", err)
		}
	})
}

// oneClusterIssuer is a client.Reader that knows one ClusterIssuer, whatever
// its name, and nothing else: enough for Issuers.Get.
type oneClusterIssuer struct {
	spec certflowv1.IssuerSpec
}

func (r oneClusterIssuer) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ci, ok := obj.(*certflowv1.ClusterIssuer)
	if !ok {
		return errors.New("the test reader holds only a ClusterIssuer")
	}
	ci.Name = key.Name
	ci.Spec = *r.spec.DeepCopy()
	return nil
}

func (oneClusterIssuer) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("the test reader lists nothing")
}
