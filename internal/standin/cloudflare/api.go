package cloudflare

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// basePath is where Cloudflare serves API v4.
const basePath = "/client/v4"

// apiError is an error as Cloudflare's body states it.
type apiError struct {
	status  int
	code    int
	message string
	chain   []apiError // Cloudflare's "error_chain": the causes
}

// The errors Cloudflare answers the calls the stand-in serves with.
var (
	errNoRoute         = &apiError{status: http.StatusBadRequest, code: 7000, message: "No route for that URI"}
	errNoAuth          = &apiError{status: http.StatusBadRequest, code: 9106, message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers"}
	errBadAuthHeader   = &apiError{status: http.StatusBadRequest, code: 6003, message: "Invalid request headers", chain: []apiError{{code: 6111, message: "Invalid format for Authorization header"}}}
	errBadToken        = &apiError{status: http.StatusForbidden, code: 9109, message: "Invalid access token"}
	errBadKey          = &apiError{status: http.StatusForbidden, code: 9103, message: "Unknown X-Auth-Key or X-Auth-Email"}
	errNotPermitted    = &apiError{status: http.StatusForbidden, code: 10000, message: "Authentication error"}
	errIdentical       = &apiError{status: http.StatusBadRequest, code: 81058, message: "An identical record already exists."}
	errNoRecord        = &apiError{status: http.StatusNotFound, code: 81044, message: "Record does not exist."}
	errThrottled       = &apiError{status: http.StatusTooManyRequests, code: 971, message: "Please wait and consider throttling your request speed"}
	errBadRequestBody  = &apiError{status: http.StatusBadRequest, code: 9207, message: "Request body is invalid."}
	errUnsupportedType = &apiError{status: http.StatusBadRequest, code: 9004, message: "This stand-in makes TXT records only."}
)

func errUnknownZone(path string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: 7003, message: "Could not route to " + path + ", perhaps your object identifier is invalid?"}
}

// access is what the credentials of a request may do.
type access int

const (
	denied access = iota
	readOnly
	readWrite
)

// handler serves one API operation. It fills in the request's Zone, Name
// and Value for the log, and returns the result (and result_info of a list).
type handler func(r *http.Request, logged *standin.Request) (result any, info *resultInfo, err *apiError)

// operation is a route: its action in the log and whether it edits.
type operation struct {
	action string
	edits  bool
	serve  handler
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	ops := map[string]operation{
		"GET " + basePath + "/zones":                                {action: "listZones", serve: s.listZones},
		"GET " + basePath + "/zones/{zone}/dns_records":             {action: "listRecords", serve: s.listRecords},
		"POST " + basePath + "/zones/{zone}/dns_records":            {action: "create", edits: true, serve: s.createRecord},
		"DELETE " + basePath + "/zones/{zone}/dns_records/{record}": {action: "delete", edits: true, serve: s.deleteRecord},
	}
	for pattern, op := range ops {
		mux.HandleFunc(pattern, s.serve(op))
	}
	mux.HandleFunc("/", s.serve(operation{}))
	return mux
}

// serve answers one operation (none: a path Cloudflare has no route for)
// after the throttle and the credentials, and logs it.
func (s *Server) serve(op operation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		logged := standin.Request{Method: r.Method, Path: r.URL.Path, Action: op.action}
		var result any
		var info *resultInfo
		var apiErr *apiError
		switch a, authErr := s.authenticate(r); {
		case op.serve == nil:
			apiErr = errNoRoute
		case s.throttled():
			apiErr = errThrottled
		case authErr != nil:
			apiErr = authErr
		case op.edits && a != readWrite:
			apiErr = errNotPermitted
		default:
			result, info, apiErr = op.serve(r, &logged)
		}
		logged.Status = s.reply(w, result, info, apiErr)
		s.log.Add(logged)
	}
}

// throttled says whether this request is one of those Throttle asked to
// refuse, and counts it.
func (s *Server) throttled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limited == 0 {
		return false
	}
	s.limited--
	return true
}

// authenticate checks the credentials as Cloudflare does: a bearer token, or
// an API key with its email.
func (s *Server) authenticate(r *http.Request) (access, *apiError) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		switch {
		case !ok || token == "":
			return denied, errBadAuthHeader
		case token == s.cfg.APIToken && token != "":
			return readWrite, nil
		case token == s.cfg.ReadOnlyToken && token != "":
			return readOnly, nil
		}
		return denied, errBadToken
	}
	key, email := r.Header.Get("X-Auth-Key"), r.Header.Get("X-Auth-Email")
	switch {
	case key == "" && email == "":
		return denied, errNoAuth
	case key == s.cfg.APIKey && key != "" && strings.EqualFold(email, s.cfg.Email):
		return readWrite, nil
	}
	return denied, errBadKey
}

// resultInfo is Cloudflare's "result_info" of a list.
type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// paginate cuts one page out of items, by the page and per_page of the
// query, as Cloudflare does (per_page defaults to defaultPerPage and is
// capped at maxPerPage, or Config.MaxPerPage).
func paginate[T any](s *Server, r *http.Request, items []T, defaultPerPage, maxPerPage int) ([]T, *resultInfo) {
	if s.cfg.MaxPerPage > 0 {
		maxPerPage = s.cfg.MaxPerPage
	}
	page := queryInt(r, "page", 1)
	perPage := min(queryInt(r, "per_page", defaultPerPage), maxPerPage)
	info := &resultInfo{Page: page, PerPage: perPage, TotalCount: len(items), TotalPages: int(math.Ceil(float64(len(items)) / float64(perPage)))}
	start := min((page-1)*perPage, len(items))
	items = items[start:min(start+perPage, len(items))]
	info.Count = len(items)
	return items, info
}

func queryInt(r *http.Request, key string, def int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(key))
	if err != nil || n < 1 {
		return def
	}
	return n
}

// filter is a query's filter on a field: "name=v" or "name.exact=v" match
// exactly (case-insensitively for names, as Cloudflare does).
func filter(r *http.Request, field string, foldCase bool) func(string) bool {
	q := r.URL.Query()
	want, ok := q.Get(field+".exact"), q.Has(field+".exact")
	if !ok {
		want, ok = q.Get(field), q.Has(field)
	}
	return func(v string) bool {
		switch {
		case !ok:
			return true
		case foldCase:
			return strings.EqualFold(strings.TrimSuffix(v, "."), strings.TrimSuffix(want, "."))
		}
		return v == want
	}
}

// reply writes Cloudflare's envelope and returns the status it sent.
func (s *Server) reply(w http.ResponseWriter, result any, info *resultInfo, apiErr *apiError) int {
	type errorBody struct {
		Code       int         `json:"code"`
		Message    string      `json:"message"`
		ErrorChain []errorBody `json:"error_chain,omitempty"`
	}
	body := struct {
		Success    bool        `json:"success"`
		Errors     []errorBody `json:"errors"`
		Messages   []any       `json:"messages"`
		Result     any         `json:"result"`
		ResultInfo *resultInfo `json:"result_info,omitempty"`
	}{Success: apiErr == nil, Errors: []errorBody{}, Messages: []any{}, Result: result, ResultInfo: info}
	status := http.StatusOK
	if apiErr != nil {
		status = apiErr.status
		e := errorBody{Code: apiErr.code, Message: apiErr.message}
		for _, c := range apiErr.chain {
			e.ErrorChain = append(e.ErrorChain, errorBody{Code: c.code, Message: c.message})
		}
		body.Errors = []errorBody{e}
		if apiErr == errThrottled {
			s.mu.Lock()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.wait.Seconds()))))
			s.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return status
}

// zoneJSON is a zone as GET /zones shows it.
type zoneJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Status      string   `json:"status"`
	Paused      bool     `json:"paused"`
	Type        string   `json:"type"`
	NameServers []string `json:"name_servers"`
}

func (s *Server) listZones(r *http.Request, _ *standin.Request) (any, *resultInfo, *apiError) {
	named := filter(r, "name", true)
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []zoneJSON
	for _, z := range s.zones {
		if named(z.name) {
			found = append(found, zoneJSON{ID: z.id, Name: z.name, Status: z.status, Type: "full",
				NameServers: []string{"ns1." + z.name, "ns2." + z.name}})
		}
	}
	page, info := paginate(s, r, found, 20, 50)
	return nonNil(page), info, nil
}

// recordJSON is a DNS record as /dns_records shows it.
type recordJSON struct {
	ID         string         `json:"id"`
	ZoneID     string         `json:"zone_id"`
	ZoneName   string         `json:"zone_name"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Content    string         `json:"content"`
	Proxiable  bool           `json:"proxiable"`
	Proxied    bool           `json:"proxied"`
	TTL        int            `json:"ttl"`
	Settings   map[string]any `json:"settings"`
	Meta       map[string]any `json:"meta"`
	Comment    *string        `json:"comment"`
	Tags       []string       `json:"tags"`
	CreatedOn  time.Time      `json:"created_on"`
	ModifiedOn time.Time      `json:"modified_on"`
}

func (z *zone) recordJSON(rec record) recordJSON {
	return recordJSON{ID: rec.id, ZoneID: z.id, ZoneName: z.name, Name: rec.name, Type: rec.typ, Content: rec.content,
		TTL: rec.ttl, Settings: map[string]any{}, Meta: map[string]any{}, Tags: []string{}, CreatedOn: rec.created, ModifiedOn: rec.created}
}

func (s *Server) listRecords(r *http.Request, _ *standin.Request) (any, *resultInfo, *apiError) {
	named, typed, holding := filter(r, "name", true), filter(r, "type", false), filter(r, "content", false)
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByID(r.PathValue("zone"))
	if z == nil {
		return nil, nil, errUnknownZone(r.URL.Path)
	}
	var found []recordJSON
	for _, rec := range z.records {
		if named(rec.name) && typed(rec.typ) && holding(rec.content) {
			found = append(found, z.recordJSON(rec))
		}
	}
	page, info := paginate(s, r, found, 100, 5000)
	return nonNil(page), info, nil
}

func (s *Server) createRecord(r *http.Request, logged *standin.Request) (any, *resultInfo, *apiError) {
	var body struct {
		Type    string `json:"type"`
		Name    string `json:"name"`
		Content string `json:"content"`
		TTL     int    `json:"ttl"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" {
		return nil, nil, errBadRequestBody
	}
	if body.Type != "TXT" {
		return nil, nil, errUnsupportedType
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByID(r.PathValue("zone"))
	if z == nil {
		return nil, nil, errUnknownZone(r.URL.Path)
	}
	logged.Zone, logged.Name, logged.Value = z.name, body.Name, body.Content
	rec, apiErr := s.create(r.Context(), z, record{name: strings.ToLower(strings.TrimSuffix(body.Name, ".")), typ: body.Type, content: body.Content, ttl: body.TTL})
	if apiErr != nil {
		return nil, nil, apiErr
	}
	return z.recordJSON(rec), nil, nil
}

// create adds a record to z (and to BIND, for BIND's zone), refusing an
// identical one as Cloudflare does. s.mu is held.
func (s *Server) create(ctx context.Context, z *zone, rec record) (record, *apiError) {
	if !strings.HasSuffix(rec.name, "."+z.name) && rec.name != z.name {
		return record{}, &apiError{status: http.StatusBadRequest, code: 9005, message: "Content for DNS record is invalid: the name is not in zone " + z.name}
	}
	value := txtValue(rec.content)
	if slices.ContainsFunc(z.records, func(o record) bool { return o.name == rec.name && o.typ == rec.typ && txtValue(o.content) == value }) {
		return record{}, errIdentical
	}
	if rec.ttl == 1 || rec.ttl == 0 {
		rec.ttl = 300 // "automatic"
	}
	if z.inBIND {
		if err := s.bind.Add(ctx, rec.name+".", value, rec.ttl); err != nil {
			return record{}, &apiError{status: http.StatusInternalServerError, code: 10001, message: "Internal error: " + err.Error()}
		}
	}
	rec.id, rec.created = s.newID(), time.Now().UTC()
	z.records = append(z.records, rec)
	return rec, nil
}

func (s *Server) deleteRecord(r *http.Request, logged *standin.Request) (any, *resultInfo, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByID(r.PathValue("zone"))
	if z == nil {
		return nil, nil, errUnknownZone(r.URL.Path)
	}
	i := slices.IndexFunc(z.records, func(rec record) bool { return rec.id == r.PathValue("record") })
	if i < 0 {
		return nil, nil, errNoRecord
	}
	rec := z.records[i]
	logged.Zone, logged.Name, logged.Value = z.name, rec.name, rec.content
	if z.inBIND {
		if err := s.bind.Remove(r.Context(), rec.name+".", txtValue(rec.content)); err != nil {
			return nil, nil, &apiError{status: http.StatusInternalServerError, code: 10001, message: "Internal error: " + err.Error()}
		}
	}
	z.records = slices.Delete(z.records, i, i+1)
	return map[string]string{"id": rec.id}, nil, nil
}

// txtValue is the text of TXT content, quoted character strings joined
// (how Cloudflare reads content written in zone-file syntax) or the
// content as it is.
func txtValue(content string) string {
	if len(content) < 2 || content[0] != '"' || content[len(content)-1] != '"' {
		return content
	}
	var b strings.Builder
	quoted, escaped := false, false
	for _, r := range content {
		switch {
		case escaped:
			b.WriteRune(r)
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case quoted:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nonNil makes an empty list "[]", as Cloudflare sends it, not null.
func nonNil[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}
