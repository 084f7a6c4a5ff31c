// Package azuredns stands in for Azure DNS as the Azure SDK for Go reaches
// it: Microsoft Entra ID's token endpoint (with the tenant's OpenID
// configuration the SDK reads first) and Azure Resource Manager's DNS zones
// and TXT record sets (api-version 2018-05-01), on one HTTPS server. It checks
// the client secret and the bearer token, answers with Entra's AADSTS errors
// and ARM's error bodies, honours If-Match and If-None-Match, and writes the
// TXT values of the zone that BIND serves into BIND.
package azuredns

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// Options say whom the stand-in serves.
type Options struct {
	// BIND receives the TXT values of the zone it serves.
	BIND standin.BIND
	// TenantID, ClientID and ClientSecret are the one service principal
	// Entra ID knows.
	TenantID, ClientID, ClientSecret string
	// FederatedToken, when set, is a workload identity's token (what
	// AZURE_FEDERATED_TOKEN_FILE holds) that Entra ID takes, as a client
	// assertion, in place of ClientID's secret.
	FederatedToken string
	// SubscriptionID and ResourceGroup hold the zones.
	SubscriptionID, ResourceGroup string
	// ExtraZones are served besides BIND's zone, in memory only.
	ExtraZones []string
}

// Server is a running stand-in.
type Server struct {
	// URL is the base of both Entra ID and ARM ("https://127.0.0.1:port").
	URL string

	opts    Options
	srv     *httptest.Server
	records *standin.Records
	log     standin.Log

	mu       sync.Mutex
	tokens   map[string]bool
	zones    map[string]*zone // by lower-case name
	throttle int              // ARM requests still to be answered 429
	retry    time.Duration    // their Retry-After
	forbid   bool             // writes answered 403 AuthorizationFailed
	scope    []string         // when set, the only zones the principal may see
	gather   int              // record set reads still to be held back
	gathered chan struct{}    // closed when they have all arrived
}

// zone is one DNS zone's TXT record sets.
type zone struct {
	name string
	sets map[string]*recordSet // by lower-case relative name
}

type recordSet struct {
	name   string // relative name as first written
	etag   string
	ttl    int64
	values [][]string // each record's strings
}

// Start starts the stand-in on loopback, over TLS signed by the process's
// stand-in CA (WriteCACert).
func Start(opts Options) (*Server, error) {
	records, err := standin.NewRecords(opts.BIND)
	if err != nil {
		return nil, err
	}
	ca, err := processAuthority()
	if err != nil {
		return nil, fmt.Errorf("azuredns stand-in: making its CA: %w", err)
	}
	cert, err := ca.serverCertificate()
	if err != nil {
		return nil, fmt.Errorf("azuredns stand-in: making its certificate: %w", err)
	}
	s := &Server{opts: opts, records: records, tokens: map[string]bool{}, zones: map[string]*zone{}}
	for _, name := range append([]string{opts.BIND.Zone}, opts.ExtraZones...) {
		name = strings.TrimSuffix(name, ".")
		s.zones[strings.ToLower(name)] = &zone{name: name, sets: map[string]*recordSet{}}
	}
	entra := http.NewServeMux()
	entra.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	entra.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	arm := s.arm()
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(strings.ToLower(r.URL.Path), "/subscriptions/") {
			arm.ServeHTTP(w, r)
			return
		}
		entra.ServeHTTP(w, r)
	}))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests are the calls served so far, oldest first.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// Throttle answers the next n ARM requests 429 TooManyRequests with
// Retry-After.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retry = n, retryAfter
}

// GatherReads holds the next n reads of a record set back until all n
// have arrived, then answers them together: n clients that read, modify and
// write the same record set at once.
func (s *Server) GatherReads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gather, s.gathered = n, make(chan struct{})
}

// awaitGathered waits, when reads are being gathered, for the rest of them.
func (s *Server) awaitGathered(r *http.Request) {
	s.mu.Lock()
	if s.gather == 0 {
		s.mu.Unlock()
		return
	}
	s.gather--
	gathered := s.gathered
	if s.gather == 0 {
		close(gathered)
	}
	s.mu.Unlock()
	select {
	case <-gathered:
	case <-r.Context().Done():
	}
}

// Forbid answers every write 403 AuthorizationFailed, as ARM does for a
// principal without a role that allows it (on) or not (off).
func (s *Server) Forbid(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbid = on
}

// ScopeTo gives the principal its role on these zones only, as a DNS Zone
// Contributor assignment scoped to a zone does: every call on any other
// zone, one that is there or not, is answered 403 AuthorizationFailed, as
// ARM checks authorization before existence. No zones: the role is on the
// resource group again.
func (s *Server) ScopeTo(zones ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scope = nil
	for _, z := range zones {
		s.scope = append(s.scope, strings.ToLower(strings.TrimSuffix(z, ".")))
	}
}

// outOfScope says whether the principal's role leaves out the zone.
func (s *Server) outOfScope(zone string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scope != nil && !slices.Contains(s.scope, strings.ToLower(zone))
}
