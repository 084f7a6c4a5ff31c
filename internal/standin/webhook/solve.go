package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/certflow/certflow/internal/standin"
)

// challengePayload is cert-manager's acme.cert-manager.io/v1alpha1
// ChallengePayload, as much of it as a solver reads and writes.
type challengePayload struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Request    *challengeRequest `json:"request,omitempty"`
	Response   *struct {
		UID     string         `json:"uid"`
		Success bool           `json:"success"`
		Status  map[string]any `json:"status,omitempty"`
	} `json:"response,omitempty"`
}

type challengeRequest struct {
	UID                     string          `json:"uid"`
	Action                  string          `json:"action"`
	Type                    string          `json:"type"`
	DNSName                 string          `json:"dnsName"`
	Key                     string          `json:"key"`
	ResourceNamespace       string          `json:"resourceNamespace"`
	ResolvedFQDN            string          `json:"resolvedFQDN"`
	ResolvedZone            string          `json:"resolvedZone"`
	AllowAmbientCredentials bool            `json:"allowAmbientCredentials"`
	Config                  json.RawMessage `json:"config,omitempty"`
}

// solve serves one ChallengePayload as cert-manager's webhook apiserver
// does: a payload it cannot decode is 400, an unknown action 500, and a
// solver's failure a 201 with success: false and the reason in status.
func (s *Server) solve(w http.ResponseWriter, r *http.Request) {
	var payload challengePayload
	if err := json.NewDecoder(r.Body).Decode(&payload); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("decoding the ChallengePayload: %v", err))
		return
	}
	if payload.APIVersion != "acme.cert-manager.io/v1alpha1" || payload.Kind != "ChallengePayload" {
		writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("want a acme.cert-manager.io/v1alpha1 ChallengePayload, got %s %s", payload.APIVersion, payload.Kind))
		return
	}
	req := payload.Request
	if req == nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", "payload request field cannot be empty")
		return
	}
	entry := standin.Request{Method: r.Method, Path: r.URL.Path, Zone: req.ResolvedZone, Name: req.ResolvedFQDN, Value: req.Key, Status: http.StatusCreated}
	var err error
	switch req.Action {
	case "Present":
		entry.Action = "create"
		if err = s.check(req); err == nil {
			err = s.records.Add(r.Context(), req.ResolvedFQDN, req.Key, 60)
		}
	case "CleanUp":
		entry.Action = "delete"
		if err = s.check(req); err == nil {
			err = s.records.Remove(r.Context(), req.ResolvedFQDN, req.Key)
		}
	default:
		entry.Status = http.StatusInternalServerError
		s.log.Add(entry)
		writeStatus(w, http.StatusInternalServerError, "InternalError", fmt.Sprintf("unknown action type %q", req.Action))
		return
	}
	s.log.Add(entry)
	payload.Response = &struct {
		UID     string         `json:"uid"`
		Success bool           `json:"success"`
		Status  map[string]any `json:"status,omitempty"`
	}{UID: req.UID, Success: err == nil}
	if err != nil {
		payload.Response.Status = map[string]any{"metadata": map[string]any{}, "status": "Failed", "message": err.Error()}
	}
	writeJSON(w, http.StatusCreated, payload)
}

// check refuses what a real solver cannot do: another challenge type, or a
// record in a zone its account does not hold.
func (s *Server) check(req *challengeRequest) error {
	zone := s.opts.BIND.Zone + "."
	switch {
	case req.Type != "dns-01":
		return fmt.Errorf("challenge type %q is not supported", req.Type)
	case !strings.EqualFold(req.ResolvedZone, zone):
		return fmt.Errorf("zone %q not found in this account", req.ResolvedZone)
	case !strings.HasSuffix(strings.ToLower(req.ResolvedFQDN), "."+zone):
		return fmt.Errorf("record %q is not in zone %q", req.ResolvedFQDN, zone)
	}
	return nil
}
