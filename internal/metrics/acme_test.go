package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The action label is the ACME operation, never the path: paths carry account,
// order and authorization IDs, one series each.
func TestACMETransportLabels(t *testing.T) {
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/order-plz") {
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer ca.Close()
	host := strings.TrimPrefix(ca.URL, "http://")
	directory := ca.URL + "/dir"

	tests := []struct {
		name         string
		ctx          context.Context
		method, path string
		want         []string // labels
	}{
		{"a request with an action is labelled by it", WithAction(context.Background(), ActionAuthorizeOrder),
			http.MethodPost, "/order-plz", []string{"http", host, "authorize_order", "POST", "201"}},
		{"an order's ID does not make a label of its own", WithAction(context.Background(), ActionGetOrder),
			http.MethodPost, "/my-order/Zx8ptNkD3o", []string{"http", host, "get_order", "POST", "200"}},
		{"the directory, read without the caller's context, is discover", context.Background(),
			http.MethodGet, "/dir", []string{"http", host, "discover", "GET", "200"}},
		{"another request without an action is unnamed, as cert-manager's", context.Background(),
			http.MethodHead, "/nonce-plz", []string{"http", host, "unnamed_action", "HEAD", "200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := NewACME(reg, true)
			if err != nil {
				t.Fatal(err)
			}
			rt := m.Transport(http.DefaultTransport, directory)
			req, err := http.NewRequestWithContext(tt.ctx, tt.method, ca.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			for i, prefix := range []string{Prefix, CertManagerPrefix} {
				if got := testutil.ToFloat64(m.counts[i].WithLabelValues(tt.want...)); got != 1 {
					t.Errorf("%s%s%v = %v, want 1", prefix, ACMERequestCount, tt.want, got)
				}
				if n := testutil.CollectAndCount(m.durations[i], prefix+ACMERequestDuration); n != 1 {
					t.Errorf("%s%s has %d series, want 1", prefix, ACMERequestDuration, n)
				}
			}
		})
	}
}

// A request that gets no answer is counted with status 999, as cert-manager's,
// and its error is returned unchanged.
func TestACMETransportNoResponse(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewACME(reg, false)
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("connection refused")
	rt := m.Transport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, refused }), "")
	req, err := http.NewRequestWithContext(WithAction(context.Background(), ActionCreateOrderCert),
		http.MethodPost, "https://acme.example.test/finalize/1/2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RoundTrip(req); !errors.Is(err, refused) {
		t.Fatalf("RoundTrip error = %v, want %v", err, refused)
	}
	labels := []string{"https", "acme.example.test", "create_order_cert", "POST", "999"}
	if got := testutil.ToFloat64(m.counts[0].WithLabelValues(labels...)); got != 1 {
		t.Errorf("count%v = %v, want 1", labels, got)
	}
	if len(m.counts) != 1 {
		t.Errorf("%d counters without cert-manager's names, want 1", len(m.counts))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
