package acme

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestPollsWaitForTheCAsRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("retry-after"); v != "" {
			w.Header().Set("Retry-After", v)
		}
	}))
	defer srv.Close()
	hints := &retryAfters{rt: http.DefaultTransport}
	client := &http.Client{Transport: hints}
	const fallback = 500 * time.Millisecond
	httpDate := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name       string
		retryAfter string
		min, max   time.Duration
	}{
		{"no Retry-After polls at the fallback interval", "", fallback, fallback},
		{"a Retry-After in seconds is honoured", "2", 2 * time.Second, 2 * time.Second},
		{"a Retry-After as an HTTP date is honoured", httpDate, time.Second, 3 * time.Second},
		{"a long Retry-After is capped so the activity keeps heartbeating", "3600", maxPollWait, maxPollWait},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := srv.URL + "/order?retry-after=" + neturl.QueryEscape(tc.retryAfter)
			resp, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := hints.wait(url, fallback); got < tc.min || got > tc.max {
				t.Fatalf("wait = %s, want between %s and %s", got, tc.min, tc.max)
			}
		})
	}
}

// TestABurstReusesItsConnectionsToAnHTTP1CA: a CA that speaks only
// HTTP/1.1 gets a connection per request in flight; a second burst reuses
// the first's instead of making a TLS handshake for most of its requests.
func TestABurstReusesItsConnectionsToAnHTTP1CA(t *testing.T) {
	const burst = 20
	var (
		opened   atomic.Int32
		release  atomic.Pointer[chan struct{}]
		inFlight sync.WaitGroup
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		wait := *release.Load()
		inFlight.Done()
		<-wait
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.StartTLS() // without EnableHTTP2: HTTP/1.1 only
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	iss := &issuers.Issuer{Spec: certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{Server: srv.URL, CABundle: caPEM}}}
	client, err := (&Activities{}).DefaultHTTPClient(iss)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		// All of a burst's requests are at the CA at once.
		inFlight.Add(burst)
		gate := make(chan struct{})
		release.Store(&gate)
		var done sync.WaitGroup
		for range burst {
			done.Go(func() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		inFlight.Wait()
		close(gate)
		done.Wait()
		if n := opened.Load(); n != burst {
			t.Fatalf("after burst %d: %d connections opened, want %d (one per request in flight, kept)", round+1, n, burst)
		}
	}
}
