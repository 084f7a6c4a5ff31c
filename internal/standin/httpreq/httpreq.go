// Package httpreq stands in for a server of lego's httpreq DNS provider:
// POST <endpoint>/present and /cleanup with a JSON body, {"fqdn", "value"}
// by default or {"domain", "token", "keyAuth"} in RAW mode, optionally
// with basic authentication, answering 2xx when done. It writes the record
// into BIND and logs each call.
//
// lego documents only the requests; the answers to a call it cannot serve
// are this stand-in's: 401 for missing or wrong credentials, 403 for a
// name outside the zones it serves, 400 for a body it cannot read.
package httpreq

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/internal/standin"
)

// Options are the stand-in's knobs.
type Options struct {
	// Username and Password, when set, are the basic-auth credentials it
	// wants.
	Username, Password string
}

// Server is the stand-in.
type Server struct {
	// URL is the endpoint, HTTPREQ_ENDPOINT.
	URL string

	opts    Options
	zone    string // bind.Zone, fully qualified
	records *standin.Records
	http    *httptest.Server
	log     standin.Log

	mu   sync.Mutex
	fail []int // statuses to answer the next calls with
}

// Start starts the stand-in on loopback, writing into bind.
func Start(bind standin.BIND, opts Options) (*Server, error) {
	records, err := standin.NewRecords(bind)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, zone: dns.Fqdn(bind.Zone), records: records}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /present", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, "create") })
	mux.HandleFunc("POST /cleanup", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, "delete") })
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	return s, nil
}

// Close stops the stand-in.
func (s *Server) Close() { s.http.Close() }

// Requests are the calls served, oldest first.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// FailNext makes the next calls answer these statuses, one each, without
// doing anything.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

func (s *Server) nextFailure() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fail) == 0 {
		return 0
	}
	status := s.fail[0]
	s.fail = s.fail[1:]
	return status
}

// message is either body lego's httpreq sends.
type message struct {
	FQDN    string `json:"fqdn"`
	Value   string `json:"value"`
	Domain  string `json:"domain"`
	Token   string `json:"token"`
	KeyAuth string `json:"keyAuth"`
}

// record is the name and value the message asks for; RAW mode leaves the
// digest to the server.
func (m message) record() (fqdn, value string) {
	if m.KeyAuth != "" {
		sum := sha256.Sum256([]byte(m.KeyAuth))
		return dns.Fqdn("_acme-challenge." + m.Domain), base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return dns.Fqdn(m.FQDN), m.Value
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, action string) {
	entry := standin.Request{Method: r.Method, Path: r.URL.Path, Action: action}
	answer := func(status int, msg string) {
		entry.Status = status
		s.log.Add(entry)
		if msg != "" {
			http.Error(w, msg, status)
			return
		}
		w.WriteHeader(status)
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="httpreq"`)
		answer(http.StatusUnauthorized, "wrong or missing credentials")
		return
	}
	var m message
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		answer(http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	fqdn, value := m.record()
	entry.Name, entry.Value = fqdn, value
	if fqdn == "." || value == "" {
		answer(http.StatusBadRequest, "the body names no record")
		return
	}
	if !dns.IsSubDomain(s.zone, fqdn) {
		answer(http.StatusForbidden, fmt.Sprintf("%s is outside zone %s", fqdn, s.zone))
		return
	}
	entry.Zone = s.zone
	if status := s.nextFailure(); status != 0 {
		answer(status, http.StatusText(status))
		return
	}
	var err error
	if action == "create" {
		err = s.records.Add(r.Context(), fqdn, value, 60)
	} else {
		err = s.records.Remove(r.Context(), fqdn, value)
	}
	if err != nil {
		answer(http.StatusInternalServerError, err.Error())
		return
	}
	answer(http.StatusOK, "")
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" {
		return true
	}
	user, password, ok := r.BasicAuth()
	return ok && user == s.opts.Username &&
		subtle.ConstantTimeCompare([]byte(password), []byte(s.opts.Password)) == 1
}
