package acme

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/certflow/certflow/internal/metrics"

	"github.com/go-acme/lego/v5/acme/api"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Activities are the ACME steps of an issuance. Register them with Register.
type Activities struct {
	// Issuers reads Issuers, ClusterIssuers and their credentials Secrets.
	Issuers *issuers.Resolver
	// Kube reads Certificates, writes the account key Secret, and records
	// orders on pending key Secrets. It must read Secrets from the API
	// server, not from a cache: certflow caches no Secret data.
	Kube client.Client
	// ChallengeTypes are the challenge types the worker solves ("dns-01"):
	// a solver of another type is never chosen.
	ChallengeTypes []string
	// Certificates checks that a step's input matches its Certificate.
	Certificates *certificates.Reader
	// HTTPClient returns the client that reaches the issuer's CA. It must
	// return a new *http.Client on every call (lego wraps its Transport); the
	// Transport may be shared. Nil uses DefaultHTTPClient.
	HTTPClient func(iss *issuers.Issuer) (*http.Client, error)
	// RequestMetrics counts and times the requests to the CAs; nil counts none.
	RequestMetrics *metrics.ACME
	// UserAgent prefixes lego's User-Agent; "certflow" when empty.
	UserAgent string
	// AllowSkipTLSVerify lets an issuer's skipTLSVerify turn off the check
	// of its CA's certificate. Without it such an issuer is refused, with a
	// configuration error: anyone who may write an Issuer in a namespace
	// could otherwise have the worker talk to a CA it cannot authenticate.
	AllowSkipTLSVerify bool
	// Resolvers read the CAA records of the names before an order
	// (host:port of recursive resolvers); none skips the pre-check.
	Resolvers []string
	// PollInterval is the first wait between polls of an order or
	// authorization when the CA sends no Retry-After; it doubles with each
	// poll up to maxPollWait. 25ms when zero: Pebble with PEBBLE_VA_NOSLEEP
	// validates and issues in milliseconds; Let's Encrypt's few seconds
	// take three polls more than with a first wait of 200ms.
	PollInterval time.Duration

	transports sync.Map // TLS settings -> *http.Transport, to reuse connections
	cores      cores    // clients of the CAs, by account
	gate       gate     // the accounts' orders the CA just rate-limited
}

// caRequestTimeout bounds one request to the CA. It stays below the
// heartbeat timeout of the polling steps, so a slow CA is an error of that
// request, retried, not a heartbeat timeout that looks like a dead worker.
const caRequestTimeout = 25 * time.Second

// Bindings are the ACME activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{
		activities.EnsureAccount.Bind(a.EnsureAccount),
		activities.BeginOrder.Bind(a.BeginOrder),
		activities.Validate.Bind(a.Validate),
		activities.Finalize.Bind(a.Finalize),
		activities.RenewalInfo.Bind(a.RenewalInfo),
	}
}

// maxPollWait caps the CA's Retry-After between two polls inside one
// activity, so that the activity heartbeats often enough; a CA that asks for
// minutes gets them through the workflow's retry policy instead.
const maxPollWait = 10 * time.Second

// pollWait is the wait before poll round+1 (from 1) without a Retry-After.
func (a *Activities) pollWait(round int) time.Duration {
	d := a.PollInterval
	if d <= 0 {
		d = 25 * time.Millisecond
	}
	for i := 1; i < round && d < maxPollWait; i++ {
		d *= 2
	}
	return min(d, maxPollWait)
}

// idleConnsPerCA is how many idle connections to a CA are kept for reuse:
// more than the issuances a worker runs at once (16 per CPU) make requests
// at once.
const idleConnsPerCA = 64

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
	// A CA that speaks HTTP/1.1 gets a connection per request in flight;
	// keeping them (Go keeps 2 a host) spares a burst a TLS handshake for
	// most of its requests.
	t.MaxIdleConnsPerHost = idleConnsPerCA
	actual, _ := a.transports.LoadOrStore(key, t)
	return &http.Client{Transport: actual.(*http.Transport), Timeout: caRequestTimeout}, nil
}

// dial returns a client of the issuer's CA that signs with key as account kid
// (both may be empty for unauthenticated requests such as ARI). A client of a
// known account, or an unauthenticated one, is shared (cores); one that is to
// register an account is not: registering sets its kid.
func (a *Activities) dial(iss *issuers.Issuer, kid string, key accountKey) (*api.Core, *retryAfters, error) {
	shared, cacheKey, now := kid != "" || key.signer == nil, coreKey(iss, kid, key), time.Now()
	if cc, ok := a.cores.get(cacheKey, now); shared && ok {
		return cc.core, cc.hints, nil
	}
	core, hints, err := a.newCore(iss, kid, key)
	if err == nil && shared {
		a.cores.put(cacheKey, cachedCore{core: core, hints: hints, made: now})
	}
	return core, hints, err
}

// newCore reads the CA's directory and returns a new client.
func (a *Activities) newCore(iss *issuers.Issuer, kid string, key accountKey) (*api.Core, *retryAfters, error) {
	if iss.Spec.ACME.SkipTLSVerify && !a.AllowSkipTLSVerify {
		return nil, nil, activities.ConfigError("%s: spec.acme.skipTLSVerify is refused: this worker checks every CA's certificate "+
			"(give the CA's certificate in spec.acme.caBundle, or start the worker with --acme-allow-skip-tls-verify)", iss.Ref)
	}
	newClient := a.HTTPClient
	if newClient == nil {
		newClient = a.DefaultHTTPClient
	}
	base, err := newClient(iss)
	if err != nil {
		return nil, nil, err
	}
	hints := &retryAfters{rt: base.Transport, server: iss.Spec.ACME.Server, max: maxRetryAfter(iss.Spec.ACME)}
	if hints.rt == nil {
		hints.rt = http.DefaultTransport
	}
	if a.RequestMetrics != nil {
		hints.rt = a.RequestMetrics.Transport(hints.rt, iss.Spec.ACME.Server)
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

// defaultMaxRetryAfter is the longest Retry-After certflow accepts when the
// issuer sets no spec.acme.maxRetryAfter: Let's Encrypt's longest window.
const defaultMaxRetryAfter = 7 * 24 * time.Hour

// maxRetryAfter is the issuer's cap on the CA's Retry-After.
func maxRetryAfter(spec *certflowv1.ACMEIssuer) time.Duration {
	if spec.MaxRetryAfter != nil && spec.MaxRetryAfter.Duration > 0 {
		return spec.MaxRetryAfter.Duration
	}
	return defaultMaxRetryAfter
}

// retryAfters is the HTTP transport to the CA. It cuts a Retry-After longer
// than max to max (one buggy or hostile answer must not hold an issuer for
// years), remembers the Retry-After of the last answer per URL that had one
// (lego's Orders.Get and Authorizations.Get do not return it), says plainly
// when the CA cannot be reached, and bounds the size of answers.
type retryAfters struct {
	rt     http.RoundTripper
	server string
	max    time.Duration
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
			return nil, &unreachableError{host: req.URL.Host, err: err}
		}
		return nil, err
	}
	// Answers from a CA are untrusted input: none of its documents (directory,
	// order, chain) comes near this size.
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxResponseSize)
	if resp.StatusCode >= http.StatusBadRequest {
		// lego decodes an error answer into a *ProblemDetails and uses it
		// unchecked: a body of JSON null would make it panic (v5.6.0).
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the %d answer of ACME server %s: %w", resp.StatusCode, req.URL.Host, err)
		}
		if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			body = []byte("{}")
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	wait := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	if r.max > 0 && wait > r.max {
		if ctx := req.Context(); activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Warn("the CA asked for a longer wait than the issuer's maxRetryAfter: waiting that long instead",
				"url", req.URL.String(), "retryAfter", wait.String(), "maxRetryAfter", r.max.String())
		}
		wait = r.max
		resp.Header.Set("Retry-After", strconv.FormatInt(int64(wait/time.Second), 10))
	}
	r.mu.Lock()
	if r.last == nil {
		r.last = map[string]time.Duration{}
	}
	if wait > 0 {
		r.last[req.URL.String()] = wait
	} else {
		delete(r.last, req.URL.String()) // kept only while the CA asks to wait: the map stays small
	}
	r.mu.Unlock()
	return resp, nil
}

// retryAfter reads a Retry-After header, delay-seconds or an HTTP date: 0
// when it is absent, unreadable or past. A number of seconds too large for a
// time.Duration (292 years) is the longest one, not one that wrapped around.
func retryAfter(header string, now time.Time) time.Duration {
	if header == "" {
		return 0
	}
	if s, err := strconv.ParseInt(header, 10, 64); err == nil {
		return time.Duration(min(max(s, 0), int64(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(header); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
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

var _ issuers.Type = (*Activities)(nil)

// unreachableError is a request that found no ACME server to answer it. It
// names the server once, and the network's reason without the address again.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string {
	reason := e.err
	var op *net.OpError
	if errors.As(e.err, &op) && op.Err != nil {
		reason = op.Err
	}
	return fmt.Sprintf("ACME server %s is unreachable (%v)", e.host, reason)
}

func (e *unreachableError) Unwrap() error { return e.err }
