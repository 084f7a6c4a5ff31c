package azuredns

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

const apiVersion = "2018-05-01"

// armRequest is a parsed call on a zone or one of its record sets:
// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones/{zone}[/{type}/{name}].
type armRequest struct {
	subscription, resourceGroup, zone, recordType, name string
}

func parseARMPath(path string) (armRequest, bool) {
	p := strings.Split(strings.Trim(path, "/"), "/")
	if (len(p) != 8 && len(p) != 10) || !strings.EqualFold(p[0], "subscriptions") || !strings.EqualFold(p[2], "resourceGroups") ||
		!strings.EqualFold(p[4], "providers") || !strings.EqualFold(p[5], "Microsoft.Network") || !strings.EqualFold(p[6], "dnsZones") {
		return armRequest{}, false
	}
	req := armRequest{subscription: p[1], resourceGroup: p[3], zone: strings.TrimSuffix(p[7], ".")}
	if len(p) == 10 {
		req.recordType, req.name = p[8], p[9]
	}
	return req, true
}

// arm serves DNS zones and TXT record sets, after the checks ARM makes in
// its order: the bearer token, the api-version, throttling, the
// subscription, the resource group, the principal's role on the zone.
func (s *Server) arm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ok := parseARMPath(r.URL.Path)
		action := "arm"
		switch {
		case ok && req.recordType == "" && r.Method == http.MethodGet:
			action = "getZone"
		case ok && req.recordType != "" && r.Method == http.MethodGet:
			action = "getRecordSet"
		case ok && req.recordType != "" && r.Method == http.MethodPut:
			action = "createOrUpdate"
		case ok && req.recordType != "" && r.Method == http.MethodDelete:
			action = "deleteRecordSet"
		}
		fail := func(status int, code, message string) { s.armError(w, r, action, status, code, message) }
		if !s.authorized(r) {
			fail(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
			return
		}
		if v := r.URL.Query().Get("api-version"); v != apiVersion {
			fail(http.StatusBadRequest, "InvalidApiVersionParameter", fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '%s'.", v, apiVersion))
			return
		}
		if retry := s.throttled(); retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			fail(http.StatusTooManyRequests, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:01:00.")
			return
		}
		switch {
		case action == "arm":
			fail(http.StatusNotFound, "NotFound", fmt.Sprintf("The stand-in does not serve %s %s.", r.Method, r.URL.Path))
		case req.subscription != s.opts.SubscriptionID:
			fail(http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", req.subscription))
		case !strings.EqualFold(req.resourceGroup, s.opts.ResourceGroup):
			fail(http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", req.resourceGroup))
		case s.outOfScope(req.zone):
			verb := map[string]string{http.MethodGet: "read", http.MethodPut: "write", http.MethodDelete: "delete"}[r.Method]
			what, scope := "dnszones", s.resourceID(req.resourceGroup, req.zone, "", "")
			if req.recordType != "" {
				what, scope = "dnszones/"+req.recordType, s.resourceID(req.resourceGroup, req.zone, req.recordType, req.name)
			}
			fail(http.StatusForbidden, "AuthorizationFailed", fmt.Sprintf("The client '%s' with object id '%s' does not have authorization to perform action 'Microsoft.Network/%s/%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
				s.opts.ClientID, s.opts.ClientID, what, verb, scope))
		case action == "getZone":
			s.getZone(w, r, req)
		case req.recordType != "TXT":
			fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The stand-in serves TXT record sets only, not %s.", req.recordType))
		default:
			s.recordSetCall(w, r, req, action)
		}
	})
}

func (s *Server) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok && s.tokens[token]
}

func (s *Server) throttled() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttle == 0 {
		return 0
	}
	s.throttle--
	return s.retry
}

func (s *Server) getZone(w http.ResponseWriter, r *http.Request, req armRequest) {
	s.mu.Lock()
	z := s.zones[strings.ToLower(req.zone)]
	var count int
	if z != nil {
		count = len(z.sets)
	}
	s.mu.Unlock()
	if z == nil {
		s.armError(w, r, "getZone", http.StatusNotFound, "ResourceNotFound",
			fmt.Sprintf("The Resource 'Microsoft.Network/dnszones/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", req.zone, req.resourceGroup))
		return
	}
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "getZone", Zone: z.name, Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]any{
		"id":       s.resourceID(req.resourceGroup, z.name, "", ""),
		"name":     z.name,
		"type":     "Microsoft.Network/dnszones",
		"location": "global",
		"etag":     "00000000-0000-0000-0000-000000000000",
		"properties": map[string]any{
			"maxNumberOfRecordSets": 10000, "maxNumberOfRecordsPerRecordSet": 20, "numberOfRecordSets": count,
			"nameServers": []string{"ns1-01.azure-dns.com.", "ns2-01.azure-dns.net."}, "zoneType": "Public",
		},
	})
}

// recordSetCall gets, writes or deletes a TXT record set. A write applies
// the difference between the old values and the new to BIND, and logs a
// create for each value added and a delete for each value removed.
func (s *Server) recordSetCall(w http.ResponseWriter, r *http.Request, req armRequest, action string) {
	var body recordSetBody
	if r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Properties == nil || body.Properties.TTL == nil {
			s.armError(w, r, action, http.StatusBadRequest, "BadRequest", "The request body is not a record set with properties.TTL.")
			return
		}
	}
	if r.Method == http.MethodGet {
		s.awaitGathered(r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zones[strings.ToLower(req.zone)]
	if z == nil {
		s.armError(w, r, action, http.StatusNotFound, "ParentResourceNotFound",
			fmt.Sprintf("Can not perform requested operation on nested resource. Parent resource '%s' not found.", req.zone))
		return
	}
	key := strings.ToLower(req.name)
	set := z.sets[key]
	if r.Method != http.MethodGet && s.forbid {
		verb := map[string]string{http.MethodPut: "write", http.MethodDelete: "delete"}[r.Method]
		s.armError(w, r, action, http.StatusForbidden, "AuthorizationFailed",
			fmt.Sprintf("The client '%s' with object id '%s' does not have authorization to perform action 'Microsoft.Network/dnszones/TXT/%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
				s.opts.ClientID, s.opts.ClientID, verb, s.resourceID(req.resourceGroup, z.name, "TXT", req.name)))
		return
	}
	if msg := preconditionFailed(r, set); msg != "" {
		s.armError(w, r, action, http.StatusPreconditionFailed, "PreconditionFailed", msg)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if set == nil {
			s.armError(w, r, action, http.StatusNotFound, "NotFound",
				fmt.Sprintf("The resource record '%s' does not exist in resource group '%s' of subscription '%s'.", req.name, req.resourceGroup, req.subscription))
			return
		}
		s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: action, Zone: z.name, Name: fqdn(set.name, z.name), Status: http.StatusOK})
		writeJSON(w, http.StatusOK, s.body(req, z, set))
	case http.MethodPut:
		next := &recordSet{name: req.name, etag: randomUUID(), ttl: *body.Properties.TTL}
		for _, rec := range body.Properties.TXTRecords {
			next.values = append(next.values, rec.Value)
		}
		status := http.StatusOK
		if set == nil {
			set, status = &recordSet{name: req.name}, http.StatusCreated
		} else {
			next.name = set.name
		}
		if err := s.apply(r, z, next.name, joined(set.values), joined(next.values), int(next.ttl)); err != nil {
			s.armError(w, r, action, http.StatusInternalServerError, "InternalServerError", err.Error())
			return
		}
		z.sets[key] = next
		writeJSON(w, status, s.body(req, z, next))
	case http.MethodDelete:
		if set == nil {
			s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: action, Zone: z.name, Name: fqdn(req.name, z.name), Status: http.StatusNoContent})
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if err := s.apply(r, z, set.name, joined(set.values), nil, 0); err != nil {
			s.armError(w, r, action, http.StatusInternalServerError, "InternalServerError", err.Error())
			return
		}
		delete(z.sets, key)
		w.WriteHeader(http.StatusOK)
	}
}

// preconditionFailed checks If-Match (the etag the client saw) and
// If-None-Match: * (create only), as ARM does.
func preconditionFailed(r *http.Request, set *recordSet) string {
	if m := r.Header.Get("If-Match"); m != "" && (set == nil || (m != "*" && m != set.etag)) {
		return "The Record set has been modified since it was last read (If-Match does not match its etag)."
	}
	if r.Header.Get("If-None-Match") == "*" && set != nil && r.Method == http.MethodPut {
		return "The Record set already exists (If-None-Match: *)."
	}
	return ""
}

// apply makes BIND hold after instead of before at the name, for the zone
// that BIND serves, and logs each value added and removed.
func (s *Server) apply(r *http.Request, z *zone, name string, before, after []string, ttl int) error {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	inBIND := strings.EqualFold(z.name, strings.TrimSuffix(s.opts.BIND.Zone, "."))
	full := fqdn(name, z.name)
	for _, v := range after {
		if slices.Contains(before, v) {
			continue
		}
		if inBIND {
			if err := s.records.Add(ctx, full, v, ttl); err != nil {
				return err
			}
		}
		s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "create", Zone: z.name, Name: full, Value: v, Status: http.StatusOK})
	}
	for _, v := range before {
		if slices.Contains(after, v) {
			continue
		}
		if inBIND {
			if err := s.records.Remove(ctx, full, v); err != nil {
				return err
			}
		}
		s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "delete", Zone: z.name, Name: full, Value: v, Status: http.StatusOK})
	}
	return nil
}

// recordSetBody is a TXT record set as ARM reads and writes it.
type recordSetBody struct {
	ID         string               `json:"id,omitempty"`
	Name       string               `json:"name,omitempty"`
	Type       string               `json:"type,omitempty"`
	Etag       string               `json:"etag,omitempty"`
	Properties *recordSetProperties `json:"properties"`
}

type recordSetProperties struct {
	TTL               *int64      `json:"TTL"`
	FQDN              string      `json:"fqdn,omitempty"`
	ProvisioningState string      `json:"provisioningState,omitempty"`
	TXTRecords        []txtRecord `json:"TXTRecords"`
}

type txtRecord struct {
	Value []string `json:"value"`
}

func (s *Server) body(req armRequest, z *zone, set *recordSet) recordSetBody {
	props := &recordSetProperties{TTL: &set.ttl, FQDN: fqdn(set.name, z.name), ProvisioningState: "Succeeded", TXTRecords: []txtRecord{}}
	for _, v := range set.values {
		props.TXTRecords = append(props.TXTRecords, txtRecord{Value: v})
	}
	return recordSetBody{
		ID: s.resourceID(req.resourceGroup, z.name, "TXT", set.name), Name: set.name,
		Type: "Microsoft.Network/dnszones/TXT", Etag: set.etag, Properties: props,
	}
}

func (s *Server) resourceID(resourceGroup, zone, recordType, name string) string {
	id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s", s.opts.SubscriptionID, resourceGroup, zone)
	if recordType != "" {
		id += "/" + recordType + "/" + name
	}
	return id
}

// armError answers with ARM's error body.
func (s *Server) armError(w http.ResponseWriter, r *http.Request, action string, status int, code, message string) {
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: action, Status: status})
	w.Header().Set("x-ms-failure-cause", "gateway")
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// fqdn is the record's name with the trailing dot; "@" is the apex.
func fqdn(relative, zone string) string {
	if relative == "@" {
		return zone + "."
	}
	return relative + "." + zone + "."
}

// joined is each record's strings joined, as a resolver reads them.
func joined(values [][]string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.Join(v, ""))
	}
	return out
}
