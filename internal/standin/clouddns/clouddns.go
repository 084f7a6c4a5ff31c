// Package clouddns stands in for Google Cloud DNS API v1, the part that
// google.golang.org/api/dns/v1 calls to write TXT records: managed zones
// (listed by dnsName, with page tokens), record sets (listed by name and
// type), and changes, atomic as Cloud DNS's are (a change whose deletions do
// not match what is there is refused with 412; an addition of a set that
// exists with 409). It also serves Google's OAuth token endpoint, so a
// service account key whose token_uri points here is exchanged for an access
// token as Google would: the stand-in checks the signed assertion.
//
// Errors are Google's JSON errors ({"error":{"code":..,"message":..,
// "errors":[{"reason":..}]}}). TXT values of BIND's zone go into BIND; the
// other zones it serves stay in memory.
package clouddns

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/certflow/certflow/internal/standin"
)

// Zone is a managed zone it serves.
type Zone struct {
	// Name is the zone's name in the project ("certflow-test").
	Name string
	// DNSName is the zone's DNS name with the trailing dot.
	DNSName string
	// Visibility is "public" (when empty) or "private".
	Visibility string
}

// Options configure the stand-in.
type Options struct {
	// Project is the one project it serves.
	Project string
	// ClientEmail is the service account it knows; its key is
	// ServiceAccountKey.
	ClientEmail string
	// Zones it serves besides BIND's, in memory only.
	Zones []Zone
	// PageSize bounds the pages of managed zones; 0 means 100.
	PageSize int
	// PendingChanges makes new changes "pending" until they are read again.
	PendingChanges bool
}

// RRSet is a record set, as the API shows it.
type RRSet struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int64    `json:"ttl"`
	RRDatas []string `json:"rrdatas"`
}

// Server is a running stand-in.
type Server struct {
	opts    Options
	bind    standin.BIND
	records *standin.Records
	account serviceAccount
	srv     *httptest.Server
	log     standin.Log

	mu          sync.Mutex
	zones       []Zone
	rrsets      map[string][]RRSet // by zone name
	changes     map[string]map[string]any
	tokens      map[string]bool
	rateLimited int
}

// Start starts a stand-in on loopback whose zone "certflow-test" (named
// after bind.Zone) writes into bind.
func Start(bind standin.BIND, opts Options) (*Server, error) {
	records, err := standin.NewRecords(bind)
	if err != nil {
		return nil, err
	}
	account, err := newServiceAccount(opts.ClientEmail)
	if err != nil {
		return nil, err
	}
	if opts.PageSize == 0 {
		opts.PageSize = 100
	}
	s := &Server{
		opts: opts, bind: bind, records: records, account: account,
		zones:   append([]Zone{{Name: BINDZoneName(bind), DNSName: bind.Zone + "."}}, opts.Zones...),
		rrsets:  map[string][]RRSet{},
		changes: map[string]map[string]any{},
		tokens:  map[string]bool{},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s.routes()}}
	s.srv.Start()
	return s, nil
}

// BINDZoneName is the managed zone's name for BIND's zone.
func BINDZoneName(bind standin.BIND) string { return strings.ReplaceAll(bind.Zone, ".", "-") }

// URL is the API's endpoint, for option.WithEndpoint.
func (s *Server) URL() string { return s.srv.URL + "/" }

// TokenURL is the OAuth token endpoint.
func (s *Server) TokenURL() string { return s.srv.URL + "/token" }

// ServiceAccountKey is the JSON key of the account it knows.
func (s *Server) ServiceAccountKey() []byte { return s.account.keyJSON(s.opts.Project, s.TokenURL()) }

// UnknownServiceAccountKey is a well-formed JSON key, for this token
// endpoint, of an account it does not know.
func (s *Server) UnknownServiceAccountKey() ([]byte, error) {
	other, err := newServiceAccount("someone-else@" + s.opts.Project + ".iam.gserviceaccount.com")
	if err != nil {
		return nil, err
	}
	return other.keyJSON(s.opts.Project, s.TokenURL()), nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests are the calls served so far.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// RateLimit makes the next n API calls (not token requests) answer 429.
func (s *Server) RateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited = n
}

// RRSets are the record sets of a zone.
func (s *Server) RRSets(zone string) []RRSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RRSet(nil), s.rrsets[zone]...)
}

func (s *Server) routes() http.Handler {
	const zones = "/dns/v1/projects/{project}/managedZones"
	api := http.NewServeMux()
	api.HandleFunc("GET "+zones, s.listZones)
	api.HandleFunc("GET "+zones+"/{zone}", s.getZone)
	api.HandleFunc("GET "+zones+"/{zone}/rrsets", s.listRRSets)
	api.HandleFunc("POST "+zones+"/{zone}/changes", s.createChange)
	api.HandleFunc("GET "+zones+"/{zone}/changes/{id}", s.getChange)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.Handle("/dns/v1/", s.guard(api))
	return mux
}

// guard checks the access token and the project, and gives the 429s asked
// for, before any API handler runs.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		known := s.tokens[token]
		limited := s.rateLimited > 0
		if limited {
			s.rateLimited--
		}
		s.mu.Unlock()
		switch {
		case !known:
			s.fail(w, r, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		case limited:
			w.Header().Set("Retry-After", "1")
			s.fail(w, r, http.StatusTooManyRequests, "rateLimitExceeded", "Quota exceeded for quota metric 'Write requests' of service 'dns.googleapis.com'.")
		case !strings.HasPrefix(r.URL.Path, "/dns/v1/projects/"+s.opts.Project+"/"):
			s.fail(w, r, http.StatusForbidden, "forbidden", "The caller does not have permission")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) {
	dnsName := r.URL.Query().Get("dnsName")
	s.mu.Lock()
	var matching []map[string]any
	for _, z := range s.zones {
		if dnsName == "" || strings.EqualFold(z.DNSName, dnsName) {
			matching = append(matching, zoneJSON(z))
		}
	}
	s.mu.Unlock()
	from := 0
	if tok := r.URL.Query().Get("pageToken"); tok != "" {
		if _, err := fmt.Sscanf(tok, "page-from-%d", &from); err != nil || from > len(matching) {
			s.fail(w, r, http.StatusBadRequest, "invalid", "Invalid value for 'pageToken'.")
			return
		}
	}
	to := min(from+s.opts.PageSize, len(matching))
	resp := map[string]any{"kind": "dns#managedZonesListResponse", "managedZones": matching[from:to]}
	if to < len(matching) {
		resp["nextPageToken"] = fmt.Sprintf("page-from-%d", to)
	}
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "listManagedZones", Status: http.StatusOK})
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getZone(w http.ResponseWriter, r *http.Request) {
	z, ok := s.zone(r.PathValue("zone"))
	if !ok {
		s.zoneNotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, zoneJSON(z))
}

func (s *Server) listRRSets(w http.ResponseWriter, r *http.Request) {
	zone := r.PathValue("zone")
	if _, ok := s.zone(zone); !ok {
		s.zoneNotFound(w, r)
		return
	}
	name, typ := r.URL.Query().Get("name"), r.URL.Query().Get("type")
	s.mu.Lock()
	matching := []RRSet{}
	for _, set := range s.rrsets[zone] {
		if (name == "" || strings.EqualFold(set.Name, name)) && (typ == "" || set.Type == typ) {
			matching = append(matching, set)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"kind": "dns#resourceRecordSetsListResponse", "rrsets": matching})
}

func (s *Server) zone(name string) (Zone, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		if z.Name == name {
			return z, true
		}
	}
	return Zone{}, false
}

func zoneJSON(z Zone) map[string]any {
	visibility := z.Visibility
	if visibility == "" {
		visibility = "public"
	}
	return map[string]any{"kind": "dns#managedZone", "name": z.Name, "dnsName": z.DNSName, "visibility": visibility, "id": "1"}
}

func (s *Server) zoneNotFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusNotFound, "notFound", fmt.Sprintf("The 'parameters.managedZone' resource named '%s' does not exist.", r.PathValue("zone")))
}

// fail answers with Google's JSON error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, reason, message string) {
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "error", Status: status})
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": message,
		"errors": []map[string]string{{"message": message, "domain": "global", "reason": reason}},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
