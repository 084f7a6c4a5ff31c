package sandbox

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/internal/pki"
)

// ACMEProxy is a reverse proxy in front of Pebble that counts requests by
// ACME action and can hold back chosen ones, for tests that need to know how
// many orders certflow made or to stop a process in the middle of a step. It
// forwards the Host header unchanged: Pebble builds the URLs in its answers
// (and checks the URL signed into each request) from it, so clients that
// start at the proxy's directory never bypass it.
type ACMEProxy struct {
	// DirectoryURL is the proxy's ACME directory; CACertPEM verifies it.
	DirectoryURL string
	CACertPEM    []byte

	server *http.Server
	mu     sync.Mutex
	counts map[string]int
	delays map[string]time.Duration
}

// StartACMEProxy listens on a free loopback port and forwards to pebble.
func StartACMEProxy(pebble *Pebble) (*ACMEProxy, error) {
	upstream, err := url.Parse(pebble.DirectoryURL)
	if err != nil {
		return nil, fmt.Errorf("parsing Pebble's directory URL: %w", err)
	}
	ca, err := pki.NewCA("certflow sandbox ACME proxy CA")
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServing([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading the proxy's certificate: %w", err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	p := &ACMEProxy{
		DirectoryURL: "https://" + l.Addr().String() + upstream.Path,
		CACertPEM:    ca.CertPEM,
		counts:       map[string]int{},
		delays:       map[string]time.Duration{},
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: upstream.Host})
	rp.Transport = pebble.HTTPClient().Transport
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := acmeAction(r)
		p.mu.Lock()
		p.counts[action]++
		delay := p.delays[action]
		p.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

// Pebble's ACME actions, as ACMEProxy counts them.
const (
	ActionNewAccount = "sign-me-up"
	ActionNewOrder   = "order-plz"
	ActionFinalize   = "finalize-order"
	ActionChallenge  = "chalZ"
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

// Count is how many requests of an action (ActionNewOrder, ...) passed
// through the proxy.
func (p *ACMEProxy) Count(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[action]
}

// Delay holds every later request of an action for d before forwarding it.
func (p *ACMEProxy) Delay(action string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays[action] = d
}

// Stop closes the proxy.
func (p *ACMEProxy) Stop() error { return p.server.Close() }
