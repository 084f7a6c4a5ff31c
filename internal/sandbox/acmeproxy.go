package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ACMEProxy is a reverse proxy in front of Pebble that counts requests by
// ACME action and can hold back or refuse chosen ones: for tests that need to
// know how many orders certflow made and when, to stop a process in the
// middle of a step, or to play a CA that rate-limits (Pebble has no rate
// limits), refuses for good, or has a bad moment (500s). It forwards the
// Host header unchanged: Pebble builds the URLs in its answers (and checks
// the URL signed into each request) from it, so clients that start at the
// proxy's directory never bypass it.
type ACMEProxy struct {
	// DirectoryURL is the proxy's ACME directory; CACertPEM verifies it.
	DirectoryURL string
	CACertPEM    []byte

	server   *http.Server
	upstream *url.URL
	client   *http.Client

	mu         sync.Mutex
	requests   []Request
	delays     map[string]time.Duration
	rateLimits map[string]*rateLimit
	limitNames map[string]bool // lower-case identifier values
	refusals   map[string]acmeProblem
	outage     outage
}

// Request is one request that reached the proxy.
type Request struct {
	Action string // ActionNewOrder, ...
	Time   time.Time
	// Names are the identifiers a new-order request asks for.
	Names []string
	// Refused says the proxy answered itself (a rate limit, a refusal or a 500).
	Refused bool
	// Status is the HTTP status of the answer: the proxy's own when it
	// refused, Pebble's otherwise (201 for an order Pebble created, 400 for a
	// nonce it rejected, ...); 0 while the request is in flight.
	Status int
	// Location is the URL of the order Pebble created for a new-order request.
	Location string
}

// outage makes the proxy answer requests with a 500, as a CA whose backend
// is down does: the next left requests (of the actions in of, or of any when
// of is empty), and all until until.
type outage struct {
	left  int
	of    []string
	until time.Time
}

// rateLimit lets allow more requests of an action pass, then answers 429;
// a windowed one only until retryAfter has passed since its first 429.
type rateLimit struct {
	allow      int
	retryAfter time.Duration
	windowed   bool
	until      time.Time // the end of a windowed limit's 429s, once begun
}

// NamesRetryAfter is the Retry-After of the 429s that RateLimitNames causes:
// Let's Encrypt's per-domain limits refill in hours, not seconds.
const NamesRetryAfter = time.Hour

// StartACMEProxy listens on a free loopback port and forwards to pebble.
func StartACMEProxy(pebble *Pebble) (*ACMEProxy, error) {
	upstream, err := url.Parse(pebble.DirectoryURL)
	if err != nil {
		return nil, fmt.Errorf("parsing Pebble's directory URL: %w", err)
	}
	l, caPEM, err := listenTLS("certflow sandbox ACME proxy CA")
	if err != nil {
		return nil, err
	}
	p := &ACMEProxy{
		DirectoryURL: "https://" + l.Addr().String() + upstream.Path,
		CACertPEM:    caPEM,
		upstream:     &url.URL{Scheme: "https", Host: upstream.Host},
		client:       pebble.HTTPClient(),
		delays:       map[string]time.Duration{},
		rateLimits:   map[string]*rateLimit{},
		limitNames:   map[string]bool{},
		refusals:     map[string]acmeProblem{},
	}
	rp := httputil.NewSingleHostReverseProxy(p.upstream)
	rp.Transport = p.client.Transport
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := acmeAction(r)
		var names []string
		if action == ActionNewOrder {
			names = orderNames(r)
		}
		p.mu.Lock()
		refusal, refused := p.decide(action, names)
		i := len(p.requests)
		p.requests = append(p.requests, Request{Action: action, Time: time.Now(), Names: names, Refused: refused})
		delay := p.delays[action]
		p.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p.mu.Lock()
			p.requests[i].Status = sw.status
			p.requests[i].Location = sw.location
			p.mu.Unlock()
		}()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if !refused {
			refused = p.failing(i, action)
			refusal = serverInternal
		}
		if refused {
			p.answer(sw, r, refusal)
			return
		}
		rp.ServeHTTP(sw, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Pebble's ACME actions, as ACMEProxy counts them.
const (
	ActionNewAccount = "sign-me-up"
	ActionNewOrder   = "order-plz"
	// ActionAuthorization reads an authorization (after new order, and while validating).
	ActionAuthorization = "authZ"
	ActionFinalize      = "finalize-order"
	ActionChallenge     = "chalZ"
	ActionNonce         = "nonce-plz"
)

// acmeAction names a request by Pebble's URL layout: "new-order",
// "finalize-order", "authz", "chalZ", ...: the first path segment, or
// "directory" for the directory.
func acmeAction(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case parts[0] == "dir":
		return "directory"
	case parts[0] == "":
		return "root"
	}
	return parts[0]
}

// acmeProblem is an RFC 8555 problem document and how it is sent.
type acmeProblem struct {
	Type       string `json:"type"`
	Detail     string `json:"detail"`
	Status     int    `json:"status"`
	retryAfter time.Duration
}

// decide says whether the proxy answers a request itself as it arrives, and
// with what: a refusal first, then a rate limit on its names, then one on
// its action. Called with p.mu held.
func (p *ACMEProxy) decide(action string, names []string) (acmeProblem, bool) {
	if refusal, ok := p.refusals[action]; ok {
		return refusal, true
	}
	for _, n := range names {
		if p.limitNames[strings.ToLower(n)] {
			return rateLimited(NamesRetryAfter, fmt.Sprintf("too many certificates already issued for %q", n)), true
		}
	}
	limit, ok := p.rateLimits[action]
	if !ok {
		return acmeProblem{}, false
	}
	if limit.allow > 0 {
		limit.allow--
		return acmeProblem{}, false
	}
	if limit.windowed {
		now := time.Now()
		if limit.until.IsZero() {
			limit.until = now.Add(limit.retryAfter)
		}
		if !now.Before(limit.until) {
			return acmeProblem{}, false
		}
		return rateLimited(limit.until.Sub(now), "too many new orders from this account"), true
	}
	what := "requests to " + action
	if action == ActionNewOrder {
		what = "new orders"
	}
	return rateLimited(limit.retryAfter, "too many "+what+" from this account"), true
}

// rateLimited is a 429 problem whose detail ends as Let's Encrypt's do: with
// the time to retry after (the same as Retry-After) and where to read more.
func rateLimited(retryAfter time.Duration, detail string) acmeProblem {
	at := time.Now().Add(retryAfter).UTC().Format("2006-01-02 15:04:05 MST")
	return acmeProblem{
		Type:       "urn:ietf:params:acme:error:rateLimited",
		Detail:     detail + ", retry after " + at + ": see https://letsencrypt.org/docs/rate-limits/",
		Status:     http.StatusTooManyRequests,
		retryAfter: retryAfter,
	}
}

// failing says whether an outage answers request i of an action, which is
// about to reach the CA (after its Delay: the CA fails as it handles the
// request), and marks it refused if so.
func (p *ACMEProxy) failing(i int, action string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case time.Now().Before(p.outage.until):
	case p.outage.left > 0 && (len(p.outage.of) == 0 || slices.Contains(p.outage.of, action)):
		p.outage.left--
	default:
		return false
	}
	p.requests[i].Refused = true
	return true
}

// serverInternal is what a CA answers when it fails on its side; the request
// was not acted on (the proxy never forwards it), so sending it again is right.
var serverInternal = acmeProblem{
	Type:   "urn:ietf:params:acme:error:serverInternal",
	Detail: "the CA had an internal error; try again",
	Status: http.StatusInternalServerError,
}

// answer sends a problem as an ACME server does, with a fresh nonce from
// Pebble so that the client's next request is not refused for a bad one.
func (p *ACMEProxy) answer(w http.ResponseWriter, r *http.Request, problem acmeProblem) {
	if nonce := p.nonce(r); nonce != "" {
		w.Header().Set("Replay-Nonce", nonce)
	}
	if problem.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((problem.retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(problem.Status)
	_ = json.NewEncoder(w).Encode(problem)
}

// nonce asks Pebble for a fresh nonce; "" when it cannot.
func (p *ACMEProxy) nonce(r *http.Request) string {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodHead, p.upstream.JoinPath(ActionNonce).String(), nil)
	if err != nil {
		return ""
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	return resp.Header.Get("Replay-Nonce")
}

// orderNames reads the identifiers of a new-order request (a flattened JWS
// whose payload is the order) and puts the body back for forwarding. A body
// it cannot read names nothing: Pebble then says what is wrong with it.
func orderNames(r *http.Request) []string {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil
	}
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return nil
	}
	var order struct {
		Identifiers []struct {
			Value string `json:"value"`
		} `json:"identifiers"`
	}
	if json.Unmarshal(payload, &order) != nil {
		return nil
	}
	names := make([]string, 0, len(order.Identifiers))
	for _, id := range order.Identifiers {
		names = append(names, id.Value)
	}
	return names
}

// statusWriter remembers the status and Location of the answer it carries.
type statusWriter struct {
	http.ResponseWriter
	status   int
	location string
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		s.location = s.Header().Get("Location")
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Requests lists every request that reached the proxy, in order of arrival.
func (p *ACMEProxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// Count is how many requests of an action (ActionNewOrder, ...) reached the
// proxy, those it refused included.
func (p *ACMEProxy) Count(action string) int {
	return len(p.Times(action))
}

// Times is when each request of an action reached the proxy, in order.
func (p *ACMEProxy) Times(action string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var times []time.Time
	for _, r := range p.requests {
		if r.Action == action {
			times = append(times, r.Time)
		}
	}
	return times
}

// Refused is how many requests of an action the proxy answered itself, with
// a rate limit, a refusal or a 500, instead of forwarding them.
func (p *ACMEProxy) Refused(action string) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Action == action && r.Refused {
			n++
		}
	}
	return n
}

// Delay holds every later request of an action for d before forwarding it.
func (p *ACMEProxy) Delay(action string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays[action] = d
}

// RateLimitAfter lets the next k requests of an action pass, then answers
// every further one as Let's Encrypt does when a limit is hit: 429, a
// rateLimited problem and Retry-After of retryAfter (rounded up to seconds).
func (p *ACMEProxy) RateLimitAfter(action string, k int, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rateLimits[action] = &rateLimit{allow: k, retryAfter: retryAfter}
}

// RateLimitWindow lets the next k new-order requests pass, then answers
// every further one with a 429 until retryAfter has passed since the first
// 429, with a Retry-After of what is left of that, as a CA's window that
// refills does; after it, every request passes again.
func (p *ACMEProxy) RateLimitWindow(k int, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rateLimits[ActionNewOrder] = &rateLimit{allow: k, retryAfter: retryAfter, windowed: true}
}

// RateLimitNames answers every later new-order request that names any of
// these identifiers (case-insensitively, "*.x" only as "*.x") with a 429 and
// Retry-After of NamesRetryAfter, as a per-domain limit would.
func (p *ACMEProxy) RateLimitNames(names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range names {
		p.limitNames[strings.ToLower(n)] = true
	}
}

// Refuse answers every later request of an action with 403 and a problem of
// problemType ("urn:ietf:params:acme:error:rejectedIdentifier", ...) and
// detail: an error that asking again does not fix.
func (p *ACMEProxy) Refuse(action, problemType, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusals[action] = acmeProblem{Type: problemType, Detail: detail, Status: http.StatusForbidden}
}

// FailNext answers the next k requests that reach the CA, of these actions
// or of any when none are given, with 500 and a serverInternal problem,
// without forwarding them: a burst of errors from a CA having a bad moment.
// A request held by Delay reaches the CA when its delay ends.
func (p *ACMEProxy) FailNext(k int, actions ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outage.left = k
	p.outage.of = actions
}

// FailFor answers every request that reaches the CA for d from now as
// FailNext does: a CA that is down for a while.
func (p *ACMEProxy) FailFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outage.until = time.Now().Add(d)
}

// ClearFaults ends every rate limit, refusal and outage; delays stay
// (Delay(action, 0) ends one) and so do the counts.
func (p *ACMEProxy) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.rateLimits)
	clear(p.limitNames)
	clear(p.refusals)
	p.outage = outage{}
}

// Stop closes the proxy.
func (p *ACMEProxy) Stop() error { return p.server.Close() }
