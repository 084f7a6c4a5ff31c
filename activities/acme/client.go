package acme

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme/api"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Activities are the ACME steps of an issuance. Register them with Register.
type Activities struct {
	// Issuers reads Issuers, ClusterIssuers and their credentials Secrets.
	Issuers *issuers.Loader
	// Kube reads and writes the Secrets of the account key and of the pending
	// key. It must read from the API server, not from a cache: certflow
	// caches no Secret data.
	Kube client.Client
	// HTTPClient returns the client that reaches the issuer's CA. It must
	// return a new *http.Client on every call (lego wraps its Transport); the
	// Transport may be shared. Nil uses DefaultHTTPClient.
	HTTPClient func(iss *issuers.Issuer) (*http.Client, error)
	// UserAgent prefixes lego's User-Agent; "certflow" when empty.
	UserAgent string
	// PollInterval is the wait between polls of an order or authorization
	// when the CA sends no Retry-After; 500ms when zero (Pebble with
	// PEBBLE_VA_NOSLEEP validates in milliseconds, Let's Encrypt in seconds).
	PollInterval time.Duration

	transports sync.Map // TLS settings -> *http.Transport, to reuse connections
}

// caRequestTimeout bounds one request to the CA. It stays below the
// heartbeat timeout of the polling steps, so a slow CA is an error of that
// request, retried, not a heartbeat timeout that looks like a dead worker.
const caRequestTimeout = 25 * time.Second

// Register registers every ACME activity under its name in package activities.
func (a *Activities) Register(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.RegisterActivityWithOptions(a.EnsureAccount, activity.RegisterOptions{Name: activities.EnsureAccountName})
	r.RegisterActivityWithOptions(a.BeginOrder, activity.RegisterOptions{Name: activities.BeginOrderName})
	r.RegisterActivityWithOptions(a.Validate, activity.RegisterOptions{Name: activities.ValidateName})
	r.RegisterActivityWithOptions(a.Finalize, activity.RegisterOptions{Name: activities.FinalizeName})
	r.RegisterActivityWithOptions(a.RenewalInfo, activity.RegisterOptions{Name: activities.RenewalInfoName})
}

// maxPollWait caps the CA's Retry-After between two polls inside one
// activity, so that the activity heartbeats often enough; a CA that asks for
// minutes gets them through the workflow's retry policy instead.
const maxPollWait = 10 * time.Second

func (a *Activities) pollInterval() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return 500 * time.Millisecond
}

// DefaultHTTPClient reaches the CA with the issuer's TLS settings: caBundle
// replaces the system roots when set; skipTLSVerify turns verification off.
func (a *Activities) DefaultHTTPClient(iss *issuers.Issuer) (*http.Client, error) {
	spec := iss.Spec.ACME
	key := fmt.Sprintf("%t/%x", spec.SkipTLSVerify, spec.CABundle)
	if t, ok := a.transports.Load(key); ok {
		return &http.Client{Transport: t.(*http.Transport), Timeout: caRequestTimeout}, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case spec.SkipTLSVerify:
		cfg.InsecureSkipVerify = true //nolint:gosec // the user asked for it (development only)
	case len(spec.CABundle) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(spec.CABundle) {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s: spec.acme.caBundle holds no PEM certificate", iss.Ref), activities.ErrTypeConfig, nil)
		}
		cfg.RootCAs = pool
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	t.ResponseHeaderTimeout = 30 * time.Second
	actual, _ := a.transports.LoadOrStore(key, t)
	return &http.Client{Transport: actual.(*http.Transport), Timeout: caRequestTimeout}, nil
}

// dial reads the CA's directory and returns a client that signs with key as
// account kid (both may be empty for unauthenticated requests such as ARI).
func (a *Activities) dial(iss *issuers.Issuer, kid string, key accountKey) (*api.Core, *retryAfters, error) {
	newClient := a.HTTPClient
	if newClient == nil {
		newClient = a.DefaultHTTPClient
	}
	base, err := newClient(iss)
	if err != nil {
		return nil, nil, err
	}
	hints := &retryAfters{rt: base.Transport, server: iss.Spec.ACME.Server}
	if hints.rt == nil {
		hints.rt = http.DefaultTransport
	}
	hc := *base
	hc.Transport = hints
	ua := a.UserAgent
	if ua == "" {
		ua = "certflow"
	}
	core, err := api.New(&hc, ua, iss.Spec.ACME.Server, kid, key.signer)
	if err != nil {
		return nil, nil, err // lego says "get directory at '<server>': ..."
	}
	return core, hints, nil
}

// maxResponseSize bounds what certflow reads of one answer from a CA.
const maxResponseSize = 1 << 20

// retryAfters is the HTTP transport to the CA. It remembers the Retry-After
// of the last answer per URL (lego's Orders.Get and Authorizations.Get do not
// return it), says plainly when the CA cannot be reached, and bounds the size
// of answers.
type retryAfters struct {
	rt     http.RoundTripper
	server string
	mu     sync.Mutex
	last   map[string]time.Duration
}

func (r *retryAfters) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		var verify *tls.CertificateVerificationError
		if errors.As(err, &verify) {
			return nil, fmt.Errorf("verifying the TLS certificate of ACME server %s (check spec.acme.caBundle): %w", req.URL.Host, err)
		}
		var netErr net.Error
		if errors.As(err, &netErr) {
			return nil, fmt.Errorf("ACME server %s is unreachable: %w", req.URL.Host, err)
		}
		return nil, err
	}
	// Answers from a CA are untrusted input: none of its documents (directory,
	// order, chain) comes near this size.
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxResponseSize)
	var wait time.Duration
	if v := resp.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			wait = time.Until(t)
		}
	}
	r.mu.Lock()
	if r.last == nil {
		r.last = map[string]time.Duration{}
	}
	r.last[req.URL.String()] = wait
	r.mu.Unlock()
	return resp, nil
}

// wait is how long to wait before polling url again: the CA's last
// Retry-After for it, else fallback, never more than maxPollWait.
func (r *retryAfters) wait(url string, fallback time.Duration) time.Duration {
	r.mu.Lock()
	d := r.last[url]
	r.mu.Unlock()
	if d <= 0 {
		return fallback
	}
	return min(d, maxPollWait)
}

// acmeSpec returns the issuer's spec.acme or a config error.
func acmeSpec(iss *issuers.Issuer) (*certflowv1.ACMEIssuer, error) {
	if iss.Spec.ACME == nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s is not an ACME issuer (no spec.acme)", iss.Ref), activities.ErrTypeConfig, nil)
	}
	return iss.Spec.ACME, nil
}
