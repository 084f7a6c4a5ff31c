// Package cloudflare stands in for Cloudflare's API v4, the part a DNS-01
// provider uses: GET /zones (name filter, page and per_page), GET and POST
// /zones/{zone}/dns_records (filters name, type, content, and their .exact
// forms) and DELETE /zones/{zone}/dns_records/{record}, under /client/v4, in
// Cloudflare's envelope ({"success","errors","messages","result",
// "result_info"}) and with its error codes. It checks the credentials
// (Authorization: Bearer, or X-Auth-Key with X-Auth-Email), refuses a wrong
// one as Cloudflare does, and answers 429 with Retry-After on demand. TXT
// records made in BIND's zone go into BIND; the other zones it serves keep
// their records in memory only.
package cloudflare

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// Zone is a zone the stand-in serves besides BIND's.
type Zone struct {
	// Name without the trailing dot.
	Name string
	// Status as Cloudflare says it ("active", "pending", "moved"); active
	// when empty.
	Status string
}

// Config of a stand-in.
type Config struct {
	// BIND is where TXT records of its zone go.
	BIND standin.BIND
	// APIToken is the token it accepts as "Authorization: Bearer".
	APIToken string
	// ReadOnlyToken is a token that may read zones and records but not
	// edit them: a token without DNS:Edit.
	ReadOnlyToken string
	// APIKey and Email are the global API key and email it accepts.
	APIKey, Email string
	// Zones are served before BIND's zone, in this order, so that a test
	// can push BIND's zone onto a later page.
	Zones []Zone
	// MaxPerPage caps per_page (Cloudflare's caps when zero: 50 zones,
	// 5000 records).
	MaxPerPage int
}

// Server is a running stand-in.
type Server struct {
	cfg     Config
	http    *httptest.Server
	bind    *standin.Records
	log     standin.Log
	mu      sync.Mutex
	zones   []*zone
	nextID  int
	limited int           // requests still to answer 429
	wait    time.Duration // their Retry-After
}

// zone is a served zone and its records.
type zone struct {
	id, name, status string
	inBIND           bool
	records          []record
}

// record is a DNS record as Cloudflare keeps it: content as it was written.
type record struct {
	id, name, typ, content string
	ttl                    int
	created                time.Time
}

// Start starts a stand-in on loopback; Close stops it.
func Start(cfg Config) (*Server, error) {
	records, err := standin.NewRecords(cfg.BIND)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("standin cloudflare: %w", err)
	}
	s := &Server{cfg: cfg, bind: records}
	for _, z := range cfg.Zones {
		status := z.Status
		if status == "" {
			status = "active"
		}
		s.zones = append(s.zones, &zone{id: s.newID(), name: strings.ToLower(z.Name), status: status})
	}
	s.zones = append(s.zones, &zone{id: s.newID(), name: strings.ToLower(cfg.BIND.Zone), status: "active", inBIND: true})
	s.http = httptest.NewUnstartedServer(s.routes())
	_ = s.http.Listener.Close()
	s.http.Listener = l
	s.http.Start()
	return s, nil
}

// URL is the API's base URL, ".../client/v4", for Setup.Endpoint.
func (s *Server) URL() string { return s.http.URL + basePath }

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// Requests are the API calls served so far, oldest first.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// Throttle answers the next n requests 429, with Retry-After wait (whole
// seconds, rounded up, as Cloudflare sends it).
func (s *Server) Throttle(n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.wait = n, wait
}

// ZoneID is the ID of the zone called name, "" when it serves none.
func (s *Server) ZoneID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		if z.name == strings.ToLower(strings.TrimSuffix(name, ".")) {
			return z.id
		}
	}
	return ""
}

// AddTXT makes a TXT record as another client of the API would (content as
// given, quoted or not), in the zone called zoneName, without logging it.
func (s *Server) AddTXT(ctx context.Context, zoneName, name, content string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneNamed(zoneName)
	if z == nil {
		return fmt.Errorf("standin cloudflare: no zone %s", zoneName)
	}
	_, apiErr := s.create(ctx, z, record{name: strings.ToLower(name), typ: "TXT", content: content, ttl: 60})
	if apiErr != nil {
		return fmt.Errorf("standin cloudflare: %s", apiErr.message)
	}
	return nil
}

// newID is an identifier shaped like Cloudflare's: 32 hex digits.
func (s *Server) newID() string {
	s.nextID++
	return fmt.Sprintf("%032x", s.nextID)
}

func (s *Server) zoneNamed(name string) *zone {
	for _, z := range s.zones {
		if z.name == strings.ToLower(strings.TrimSuffix(name, ".")) {
			return z
		}
	}
	return nil
}

func (s *Server) zoneByID(id string) *zone {
	for _, z := range s.zones {
		if z.id == id {
			return z
		}
	}
	return nil
}
