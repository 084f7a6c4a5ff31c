// Package acmedns stands in for an acme-dns server's /update API: it checks
// the account's X-Api-User and X-Api-Key (401 {"error":"forbidden"}
// otherwise, and for a subdomain that is not the account's), refuses a
// malformed subdomain (400 bad_subdomain) or value (400 bad_txt: a key
// authorization digest is 43 characters of base64url), and keeps the two
// most recent values of each account, as acme-dns does: a new value
// replaces the older. The values are TXT records at <subdomain>.<zone> in
// BIND. Delegate adds the CNAME a user would add once, from
// _acme-challenge.<domain> to the account's fulldomain.
package acmedns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/certflow/certflow/internal/standin"
)

// Account is an acme-dns registration, in the JSON of /register and of
// the accounts Secret.
type Account struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	FullDomain string   `json:"fulldomain"`
	SubDomain  string   `json:"subdomain"`
	AllowFrom  []string `json:"allowfrom"`
}

// Server is a running stand-in.
type Server struct {
	bind    standin.BIND
	records *standin.Records
	srv     *httptest.Server
	log     standin.Log

	mu       sync.Mutex
	accounts map[string]Account     // by username
	values   map[string]*[2]txtSlot // by subdomain
}

type txtSlot struct {
	value   string
	updated time.Time
}

// Start starts a stand-in on loopback whose accounts live in bind's zone.
func Start(bind standin.BIND) (*Server, error) {
	records, err := standin.NewRecords(bind)
	if err != nil {
		return nil, err
	}
	s := &Server{bind: bind, records: records, accounts: map[string]Account{}, values: map[string]*[2]txtSlot{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("standin: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /update", s.update)
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	s.srv.Start()
	return s, nil
}

// URL is the server's base URL, the solver's host.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests are the calls served so far.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// Register makes an account, as acme-dns's /register does, with subdomain
// sub (a UUID; a new one when "").
func (s *Server) Register(sub string) Account {
	if sub == "" {
		sub = uuid()
	}
	acct := Account{Username: uuid(), Password: hex.EncodeToString(randomBytes(20)), SubDomain: sub, FullDomain: sub + "." + s.bind.Zone, AllowFrom: []string{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[acct.Username] = acct
	s.values[sub] = &[2]txtSlot{}
	return acct
}

// Delegate adds the CNAME _acme-challenge.<domain> -> the account's
// fulldomain in BIND, with an RFC 2136 update signed with BIND's key (whose
// update-policy must grant CNAME as well as TXT).
func (s *Server) Delegate(ctx context.Context, domain string, acct Account) error {
	update := new(dns.Msg)
	update.SetUpdate(dns.Fqdn(s.bind.Zone))
	update.Insert([]dns.RR{&dns.CNAME{
		Hdr:    dns.RR_Header{Name: dns.Fqdn("_acme-challenge." + domain), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60},
		Target: dns.Fqdn(acct.FullDomain),
	}})
	keyName := dns.Fqdn(s.bind.TSIGKeyName)
	update.SetTsig(keyName, algorithm(s.bind.TSIGAlgorithm), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second, TsigSecret: map[string]string{keyName: s.bind.TSIGSecret}}
	resp, _, err := c.ExchangeContext(ctx, update, s.bind.Addr)
	if err != nil {
		return fmt.Errorf("standin: delegating _acme-challenge.%s: %w", domain, err)
	}
	if resp.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("standin: delegating _acme-challenge.%s: %s", domain, dns.RcodeToString[resp.Rcode])
	}
	return nil
}

var (
	subdomainPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	txtPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// update is acme-dns's POST /update.
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	acct, ok := s.accounts[r.Header.Get("X-Api-User")]
	s.mu.Unlock()
	if !ok || acct.Password != r.Header.Get("X-Api-Key") {
		s.fail(w, r, http.StatusUnauthorized, "forbidden")
		return
	}
	var req struct {
		SubDomain string `json:"subdomain"`
		TXT       string `json:"txt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.fail(w, r, http.StatusBadRequest, "malformed_json_payload")
		return
	}
	switch {
	case !subdomainPattern.MatchString(req.SubDomain):
		s.fail(w, r, http.StatusBadRequest, "bad_subdomain")
		return
	case !txtPattern.MatchString(req.TXT):
		s.fail(w, r, http.StatusBadRequest, "bad_txt")
		return
	case req.SubDomain != acct.SubDomain:
		s.fail(w, r, http.StatusUnauthorized, "forbidden")
		return
	}
	if err := s.set(r.Context(), acct, req.TXT); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "db_error")
		return
	}
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "create", Zone: s.bind.Zone, Name: acct.FullDomain, Value: req.TXT, Status: http.StatusOK})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"txt": req.TXT})
}

// set replaces the account's older value with txt, in BIND too: the new
// value goes in, and the replaced one goes unless the other slot holds it.
func (s *Server) set(ctx context.Context, acct Account, txt string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.values[acct.SubDomain]
	oldest := 0
	if slots[1].updated.Before(slots[0].updated) {
		oldest = 1
	}
	replaced, kept := slots[oldest].value, slots[1-oldest].value
	fqdn := dns.Fqdn(acct.FullDomain)
	if err := s.records.Add(ctx, fqdn, txt, 1); err != nil {
		return err
	}
	if replaced != "" && !slices.Contains([]string{kept, txt}, replaced) {
		if err := s.records.Remove(ctx, fqdn, replaced); err != nil {
			return err
		}
	}
	slots[oldest] = txtSlot{value: txt, updated: time.Now()}
	return nil
}

// fail answers with acme-dns's error body.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, reason string) {
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "error", Status: status})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": reason})
}

func algorithm(name string) string {
	switch strings.ToLower(strings.TrimSuffix(name, ".")) {
	case "hmac-sha512":
		return dns.HmacSHA512
	case "hmac-sha384":
		return dns.HmacSHA384
	case "hmac-sha1":
		return dns.HmacSHA1
	}
	return dns.HmacSHA256
}

// uuid is a random (version 4) UUID, as acme-dns names subdomains.
func uuid() string {
	b := randomBytes(16)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
