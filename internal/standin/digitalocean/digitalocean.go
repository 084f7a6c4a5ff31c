// Package digitalocean stands in for DigitalOcean's API v2, the part of it
// that godo's Domains service calls: listing domains, listing records by type
// and name, creating and deleting records, with Bearer tokens, links.pages
// pagination, the API's error bodies ({"id":..,"message":..}) and 429 with
// ratelimit-reset and Retry-After on demand. TXT records of BIND's zone go
// into BIND; the records of the other domains it serves stay in memory.
package digitalocean

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// Options configure the stand-in.
type Options struct {
	// Token is the one API token it accepts.
	Token string
	// Domains it serves besides BIND's zone, kept in memory only.
	Domains []string
	// PageSize bounds the pages it answers, whatever per_page asks; 0 means
	// the API's own bound of 200.
	PageSize int
}

// Record is a domain record as the API shows it.
type Record struct {
	ID   int    `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
	Data string `json:"data"`
	TTL  int    `json:"ttl"`
}

// Server is a running stand-in.
type Server struct {
	opts    Options
	bind    standin.BIND
	records *standin.Records
	srv     *httptest.Server
	log     standin.Log

	mu          sync.Mutex
	domains     map[string][]Record // by domain name
	nextID      int
	rateLimited int           // answers of 429 still to give
	wait        time.Duration // their Retry-After
}

// Start starts a stand-in on loopback that writes into bind.
func Start(bind standin.BIND, opts Options) (*Server, error) {
	records, err := standin.NewRecords(bind)
	if err != nil {
		return nil, err
	}
	if opts.PageSize == 0 {
		opts.PageSize = 200
	}
	s := &Server{opts: opts, bind: bind, records: records, domains: map[string][]Record{bind.Zone: nil}, nextID: 1000}
	for _, d := range opts.Domains {
		s.domains[d] = nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s.routes()}}
	s.srv.Start()
	return s, nil
}

// URL is the API's base URL, to give godo.SetBaseURL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests are the calls served so far.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// RateLimit makes the next n calls answer 429, with Retry-After: 1.
func (s *Server) RateLimit(n int) { s.RateLimitFor(n, time.Second) }

// RateLimitFor makes the next n calls answer 429, with a Retry-After and a
// ratelimit-reset of wait (whole seconds, rounded up).
func (s *Server) RateLimitFor(n int, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited, s.wait = n, max(time.Second, (wait+time.Second-1).Truncate(time.Second))
}

// Records are the records of a domain, as the API would list them.
func (s *Server) Records(domain string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.domains[domain])
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/domains", s.listDomains)
	mux.HandleFunc("GET /v2/domains/{domain}/records", s.listRecords)
	mux.HandleFunc("POST /v2/domains/{domain}/records", s.createRecord)
	mux.HandleFunc("DELETE /v2/domains/{domain}/records/{id}", s.deleteRecord)
	return s.guard(mux)
}

// guard checks the Bearer token and gives the 429s asked for, before any
// handler runs.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
			s.fail(w, r, http.StatusUnauthorized, "unauthorized", "Unable to authenticate you.")
			return
		}
		s.mu.Lock()
		limited, wait := s.rateLimited > 0, s.wait
		if limited {
			s.rateLimited--
		}
		s.mu.Unlock()
		if limited {
			w.Header().Set("ratelimit-limit", "5000")
			w.Header().Set("ratelimit-remaining", "0")
			w.Header().Set("ratelimit-reset", strconv.FormatInt(time.Now().Add(wait).Unix(), 10))
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
			s.fail(w, r, http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) listDomains(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var all []map[string]any
	for _, name := range slices.Sorted(maps.Keys(s.domains)) {
		all = append(all, map[string]any{"name": name, "ttl": 1800, "zone_file": ""})
	}
	s.mu.Unlock()
	page(s, w, r, "domains", all)
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) {
	domain := r.PathValue("domain")
	s.mu.Lock()
	records, ok := s.domains[domain]
	var matching []Record
	for _, rec := range records {
		typ, name := r.URL.Query().Get("type"), r.URL.Query().Get("name")
		if (typ == "" || rec.Type == typ) && (name == "" || fqdn(rec.Name, domain) == strings.ToLower(name)) {
			matching = append(matching, rec)
		}
	}
	s.mu.Unlock()
	if !ok {
		s.notFound(w, r)
		return
	}
	page(s, w, r, "domain_records", matching)
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) {
	domain := r.PathValue("domain")
	var req Record
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.fail(w, r, http.StatusBadRequest, "bad_request", "The request body is not valid JSON.")
		return
	}
	switch {
	case req.Type != "TXT":
		s.fail(w, r, http.StatusUnprocessableEntity, "unprocessable_entity", "The stand-in serves TXT records only.")
		return
	case req.TTL != 0 && req.TTL < 30:
		s.fail(w, r, http.StatusUnprocessableEntity, "unprocessable_entity", "TTL must be at least 30 seconds.")
		return
	case req.Name == "" || req.Data == "":
		s.fail(w, r, http.StatusUnprocessableEntity, "unprocessable_entity", "Name and data are required.")
		return
	}
	if req.TTL == 0 {
		req.TTL = 1800
	}
	s.mu.Lock()
	_, ok := s.domains[domain]
	s.mu.Unlock()
	if !ok {
		s.notFound(w, r)
		return
	}
	name := fqdn(req.Name, domain)
	if domain == s.bind.Zone {
		if err := s.records.Add(r.Context(), name+".", req.Data, req.TTL); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "server_error", "Writing the record: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	req.ID = s.nextID
	s.nextID++
	s.domains[domain] = append(s.domains[domain], req)
	s.mu.Unlock()
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "create", Zone: domain, Name: name, Value: req.Data, Status: http.StatusCreated})
	writeJSON(w, http.StatusCreated, map[string]any{"domain_record": req})
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) {
	domain := r.PathValue("domain")
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	i := slices.IndexFunc(s.domains[domain], func(rec Record) bool { return rec.ID == id })
	var rec Record
	if i >= 0 {
		rec = s.domains[domain][i]
	}
	s.mu.Unlock()
	if i < 0 {
		s.notFound(w, r)
		return
	}
	name := fqdn(rec.Name, domain)
	if domain == s.bind.Zone {
		if err := s.records.Remove(r.Context(), name+".", rec.Data); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "server_error", "Removing the record: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	s.domains[domain] = slices.DeleteFunc(s.domains[domain], func(rec Record) bool { return rec.ID == id })
	s.mu.Unlock()
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "delete", Zone: domain, Name: name, Value: rec.Data, Status: http.StatusNoContent})
	w.WriteHeader(http.StatusNoContent)
}

// page answers one page of items under key, with links.pages and meta.total
// as the API does: first and prev from page 2 on, next and last before the
// last page.
func page[T any](s *Server, w http.ResponseWriter, r *http.Request, key string, all []T) {
	size := s.opts.PageSize
	if n, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && n > 0 && n < size {
		size = n
	}
	pageNo := 1
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 {
		pageNo = n
	}
	last := max(1, (len(all)+size-1)/size)
	from, to := min((pageNo-1)*size, len(all)), min(pageNo*size, len(all))
	link := func(n int) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(size))
		u.RawQuery = q.Encode()
		return u.String()
	}
	pages := map[string]string{}
	if pageNo > 1 {
		pages["first"], pages["prev"] = link(1), link(pageNo-1)
	}
	if pageNo < last {
		pages["next"], pages["last"] = link(pageNo+1), link(last)
	}
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "list", Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]any{
		key:     all[from:to],
		"links": map[string]any{"pages": pages},
		"meta":  map[string]any{"total": len(all)},
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
}

// fail answers with the API's error body.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, id, message string) {
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "error", Status: status})
	writeJSON(w, status, map[string]string{"id": id, "message": message, "request_id": "standin-" + strconv.Itoa(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fqdn is a record's full name, without the trailing dot.
func fqdn(name, domain string) string {
	if name == "@" || name == "" {
		return domain
	}
	return strings.ToLower(name) + "." + domain
}
