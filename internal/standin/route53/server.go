// Package route53 stands in for AWS Route 53 (REST-XML API 2013-04-01) and
// the part of STS (query API 2011-06-15) that hands out temporary
// credentials, on one address, as --dns01-endpoint route53=URL points both
// at it. It follows the documented API closely enough for
// aws-sdk-go-v2's clients: hosted zones listed by name with pagination,
// record sets read and changed, changes PENDING before INSYNC, XML error
// bodies, SigV4 requests whose access key ID (and session token) it knows.
// TXT record sets of BIND's zone go into BIND; those of the other zones it
// serves stay in memory.
//
// It checks who signed a request, not the signature itself.
package route53

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/certflow/certflow/internal/standin"
)

// Options are what the stand-in serves besides BIND's zone.
type Options struct {
	// Keys are the long-term access keys it accepts: secret by access key ID.
	Keys map[string]string
	// Roles are the ARNs of the roles STS lets any accepted key assume.
	Roles []string
	// WebIdentityTokens are the tokens AssumeRoleWithWebIdentity takes.
	WebIdentityTokens []string
	// WebIdentity, when set, also takes the tokens it accepts (a
	// ServiceAccount token it checks the claims of).
	WebIdentity func(token string) bool
	// Zones are more hosted zones, kept in memory: private ones, parents
	// and children of BIND's zone, and enough of them to need pages.
	Zones []Zone
	// PageSize is the most hosted zones one page lists (AWS: 100).
	PageSize int
}

// Zone is a hosted zone.
type Zone struct {
	// Name without the trailing dot.
	Name string
	// Private zones are only seen from a VPC.
	Private bool
}

// Server is the stand-in; serve it with httptest.NewServer.
type Server struct {
	records *standin.Records
	log     standin.Log

	mu       sync.Mutex
	opts     Options
	zones    []*hostedZone     // sorted by name, labels reversed
	sessions map[string]string // session tokens of temporary credentials, by access key ID
	changes  map[string]int    // GetChange polls left before INSYNC, by change ID
	failures []failure
	signers  []string // access key IDs of the Route 53 calls, in order
	serial   int
}

type failure struct {
	status int
	code   string
}

// New returns a stand-in that writes BIND's zone into bind.
func New(bind standin.BIND, opts Options) (*Server, error) {
	records, err := standin.NewRecords(bind)
	if err != nil {
		return nil, err
	}
	if opts.PageSize == 0 {
		opts.PageSize = 100
	}
	s := &Server{records: records, opts: opts, sessions: map[string]string{}, changes: map[string]int{}}
	s.addZone(Zone{Name: bind.Zone}, true)
	for _, z := range opts.Zones {
		s.addZone(z, false)
	}
	return s, nil
}

// Requests are the calls served: one per API call (Action the operation),
// and one "create" or "delete" per TXT value a change added or removed.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// Signers are the access key IDs that signed the Route 53 calls, in order.
func (s *Server) Signers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.signers...)
}

// ZoneID is the ID of the hosted zone named name (without the trailing dot).
func (s *Server) ZoneID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		if z.name == canonical(name) {
			return z.id
		}
	}
	return ""
}

// Fail makes the next n Route 53 calls answer status with error code
// code: 400 "Throttling" or "PriorRequestNotComplete", 503
// "ServiceUnavailable", 403 "AccessDenied".
func (s *Server) Fail(n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, code: code})
	}
}

var (
	hostedZonesByName = regexp.MustCompile(`^/2013-04-01/hostedzonesbyname$`)
	rrset             = regexp.MustCompile(`^/2013-04-01/hostedzone/([^/]+)/rrset/?$`)
	change            = regexp.MustCompile(`^/2013-04-01/change/([^/]+)$`)
)

// ServeHTTP routes a call to Route 53 or STS, after checking who signed it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	req := standin.Request{Method: r.Method, Path: r.URL.Path}
	defer func() {
		req.Status = rec.status
		s.log.Add(req)
	}()
	if r.Method == http.MethodPost && r.URL.Path == "/" {
		s.sts(rec, r, &req)
		return
	}
	keyID, err := s.authenticate(r)
	if err != nil {
		req.Action = "unauthenticated"
		writeError(rec, err)
		return
	}
	s.mu.Lock()
	s.signers = append(s.signers, keyID)
	s.mu.Unlock()
	if err := s.injected(); err != nil {
		req.Action = "injected " + err.Code
		writeError(rec, err)
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && hostedZonesByName.MatchString(path):
		req.Action = "ListHostedZonesByName"
		s.listHostedZonesByName(rec, r)
	case r.Method == http.MethodGet && rrset.MatchString(path):
		req.Action = "ListResourceRecordSets"
		s.listResourceRecordSets(rec, r, rrset.FindStringSubmatch(path)[1])
	case r.Method == http.MethodPost && rrset.MatchString(path):
		req.Action = "ChangeResourceRecordSets"
		s.changeResourceRecordSets(rec, r, rrset.FindStringSubmatch(path)[1], &req)
	case r.Method == http.MethodGet && change.MatchString(path):
		req.Action = "GetChange"
		s.getChange(rec, change.FindStringSubmatch(path)[1])
	default:
		writeError(rec, &apiError{Status: http.StatusNotFound, Code: "UnknownOperationException", Message: fmt.Sprintf("%s %s is not an operation of this stand-in", r.Method, path)})
	}
}

// authenticate returns the access key ID of a request's SigV4 Authorization
// header when the key is one the stand-in knows, with its session token
// when it is temporary.
func (s *Server) authenticate(r *http.Request) (string, *apiError) {
	auth := r.Header.Get("Authorization")
	_, credential, ok := strings.Cut(auth, "Credential=")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !ok {
		return "", &apiError{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Missing Authentication Token"}
	}
	keyID, _, _ := strings.Cut(credential, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.opts.Keys[keyID]; ok {
		return keyID, nil
	}
	if token, ok := s.sessions[keyID]; ok && token == r.Header.Get("X-Amz-Security-Token") {
		return keyID, nil
	}
	return "", &apiError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
}

func (s *Server) injected() *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) == 0 {
		return nil
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	return &apiError{Status: f.status, Code: f.code, Message: f.code + " (injected by the stand-in)"}
}

// nextID returns a new ID with a prefix, as AWS's IDs look.
func (s *Server) nextID(prefix string) string {
	s.serial++
	return fmt.Sprintf("%s%012d", prefix, s.serial)
}

// recorder keeps the status of the answer for the log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
