package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Actions of ACME requests, the action label: cert-manager's names for the
// same requests (pkg/acme/client/middleware), so that the aliases match.
const (
	ActionDiscover           = "discover"
	ActionRegisterAccount    = "register_account"
	ActionUpdateRegistration = "update_registration"
	ActionAuthorizeOrder     = "authorize_order"
	ActionGetOrder           = "get_order"
	ActionGetAuthorization   = "get_authorization"
	ActionAcceptChallenge    = "accept_challenge"
	ActionGetChallenge       = "get_challenge"
	ActionCreateOrderCert    = "create_order_cert"
	ActionFetchCert          = "fetch_cert"
	ActionListCertAlternates = "list_cert_alternates"
	ActionGetRenewalInfo     = "get_renewal_info"
	// actionUnnamed is a request no action was given for.
	actionUnnamed = "unnamed_action"
)

// statusNoResponse is the status label of a request that got no response.
const statusNoResponse = "999"

const acmeRequestLabelsHelpText = "Labels: scheme (http/https), host (ACME host), action (logical ACME operation), method (HTTP verb), status (HTTP status code, 999 when no response)."

// acmeLabels are cert-manager's labels of the ACME request series. It labels
// the action, not the path: a path holds account, order and authorization IDs.
var acmeLabels = []string{"scheme", "host", "action", "method", "status"}

type actionKey struct{}

// WithAction labels the ACME requests made with ctx as action (an Action
// constant). A request of none is "unnamed_action", as cert-manager's, except
// the directory's, which is "discover".
func WithAction(ctx context.Context, action string) context.Context {
	return context.WithValue(ctx, actionKey{}, action)
}

// ACME counts and times the requests of the ACME client.
type ACME struct {
	counts    []*prometheus.CounterVec
	durations []*prometheus.SummaryVec
}

// NewACME registers the ACME request series on reg; with certManagerNames
// under cert-manager's names too.
func NewACME(reg prometheus.Registerer, certManagerNames bool) (*ACME, error) {
	a := &ACME{}
	for _, p := range prefixes(certManagerNames) {
		count := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: p + ACMERequestCount,
			Help: "Total number of outbound ACME HTTP requests. " + acmeRequestLabelsHelpText,
		}, acmeLabels)
		duration := prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name:       p + ACMERequestDuration,
			Help:       "Latency of outbound ACME HTTP requests in seconds. " + acmeRequestLabelsHelpText,
			Objectives: map[float64]float64{0.5: 0.05, 0.9: 0.01, 0.99: 0.001},
		}, acmeLabels)
		for _, c := range []prometheus.Collector{count, duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
		a.counts = append(a.counts, count)
		a.durations = append(a.durations, duration)
	}
	return a, nil
}

// Transport wraps rt so that each request is counted and timed: retries and
// nonce requests included, since they all pass through it. directory is the
// CA's directory URL.
func (a *ACME) Transport(rt http.RoundTripper, directory string) http.RoundTripper {
	return &acmeTransport{metrics: a, next: rt, directory: directory}
}

type acmeTransport struct {
	metrics   *ACME
	next      http.RoundTripper
	directory string
}

func (t *acmeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status := statusNoResponse
	if resp != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	labels := []string{req.URL.Scheme, req.URL.Host, t.action(req), req.Method, status}
	for i := range t.metrics.counts {
		t.metrics.counts[i].WithLabelValues(labels...).Inc()
		t.metrics.durations[i].WithLabelValues(labels...).Observe(time.Since(start).Seconds())
	}
	return resp, err
}

// action is the request's action label. lego reads the directory without a
// context of the caller's, so that request is known by its URL.
func (t *acmeTransport) action(req *http.Request) string {
	if a, ok := req.Context().Value(actionKey{}).(string); ok {
		return a
	}
	if req.URL.String() == t.directory {
		return ActionDiscover
	}
	return actionUnnamed
}
