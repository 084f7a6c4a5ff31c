// Package standin holds servers that stand in for DNS providers' APIs (and,
// in folder vault, for Vault), which cannot be reached from the tests: each
// follows its provider's documented API (paths, bodies, error bodies,
// pagination, rate limits) closely enough for the provider's own SDK
// client, and does for real what it is asked. A
// TXT record it is given goes into an authoritative server (BIND) with RFC
// 2136, so that the CA validates real DNS-01 challenges through it. One
// folder per provider; this package holds what they share.
package standin

import (
	"context"
	"fmt"
	"slices"
	"sync"

	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/rfc2136"
)

// BIND is where the stand-ins write: an RFC 2136 server with its TSIG key.
type BIND struct {
	// Addr is host:port of the server.
	Addr string
	// Zone is the zone it serves, without the trailing dot.
	Zone string
	// TSIGKeyName, TSIGAlgorithm and TSIGSecret (base64) sign updates.
	TSIGKeyName, TSIGAlgorithm, TSIGSecret string
}

// Records writes TXT records into BIND. It is safe for concurrent use.
type Records struct {
	p *rfc2136.Provider
}

// NewRecords returns a writer of TXT records into b.
func NewRecords(b BIND) (*Records, error) {
	p, err := rfc2136.New(rfc2136.Config{Nameserver: b.Addr, TSIGKeyName: b.TSIGKeyName, TSIGAlgorithm: b.TSIGAlgorithm, TSIGSecret: b.TSIGSecret})
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	return &Records{p: p}, nil
}

// Add makes TXT fqdn hold value (other values stay).
func (r *Records) Add(ctx context.Context, fqdn, value string, ttl int) error {
	_, err := r.p.Present(ctx, certflowdns.TXT{FQDN: fqdn, Value: value, TTL: ttl})
	return err
}

// Remove takes value away from TXT fqdn (other values stay).
func (r *Records) Remove(ctx context.Context, fqdn, value string) error {
	return r.p.CleanUp(ctx, certflowdns.TXT{FQDN: fqdn, Value: value})
}

// Request is one API call a stand-in served, for tests to check what the
// provider's client asked for.
type Request struct {
	// Method and Path of the HTTP request; Action names the API operation
	// ("create", "delete", "ChangeResourceRecordSets", ...).
	Method, Path, Action string
	// Zone, Name and Value of the record the call was about, when it was.
	Zone, Name, Value string
	// Status is the HTTP status of the answer.
	Status int
}

// Log keeps the requests a stand-in served. It is safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	requests []Request
}

// Add appends a request.
func (l *Log) Add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, r)
}

// Requests returns the requests so far, oldest first.
func (l *Log) Requests() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requests)
}
