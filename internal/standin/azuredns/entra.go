package azuredns

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// openIDConfiguration is the tenant's discovery document, which MSAL reads
// before its first token request (with instance discovery disabled too):
// the endpoints it names, and an issuer on the same host as the authority.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if tenant != s.opts.TenantID {
		s.entraError(w, r, "openid-configuration", http.StatusBadRequest, "invalid_tenant", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	base := s.URL + "/" + tenant
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "openid-configuration", Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"issuer":                                base + "/v2.0",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"tenant_region_scope":                   "WW",
	})
}

// token is the client credentials grant of the v2.0 token endpoint, with a
// client secret: an access token for the scope's resource, or the error
// Entra ID gives, AADSTS code and all.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	const action = "token"
	tenant := r.PathValue("tenant")
	if err := r.ParseForm(); err != nil {
		s.entraError(w, r, action, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	clientID := r.PostForm.Get("client_id")
	switch {
	case tenant != s.opts.TenantID:
		s.entraError(w, r, action, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
	case r.PostForm.Get("grant_type") != "client_credentials":
		s.entraError(w, r, action, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
	case !resourceScope(r.PostForm.Get("scope")):
		s.entraError(w, r, action, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", r.PostForm.Get("scope")))
	case clientID != s.opts.ClientID:
		s.entraError(w, r, action, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
	case r.PostForm.Get("client_assertion_type") == jwtBearer:
		if s.opts.FederatedToken == "" || r.PostForm.Get("client_assertion") != s.opts.FederatedToken {
			s.entraError(w, r, action, http.StatusUnauthorized, "invalid_client", 700213,
				fmt.Sprintf("No matching federated identity record found for presented assertion of app '%s'.", clientID))
			return
		}
		s.issue(w, r, action)
	case r.PostForm.Get("client_secret") != s.opts.ClientSecret:
		s.entraError(w, r, action, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
	default:
		s.issue(w, r, action)
	}
}

// jwtBearer is the client assertion type of a workload identity's token.
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// issue answers a token request with a new access token that ARM takes.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, action string) {
	token := randomHex(24)
	s.mu.Lock()
	s.tokens[token] = true
	s.mu.Unlock()
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: action, Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
}

// resourceScope says whether scope names one resource's "/.default", as
// the client credentials grant wants; MSAL adds the OpenID Connect scopes,
// which Entra ID ignores here.
func resourceScope(scope string) bool {
	resources := 0
	for _, s := range strings.Fields(scope) {
		switch {
		case s == "openid" || s == "offline_access" || s == "profile":
		case strings.HasSuffix(s, "/.default"):
			resources++
		default:
			return false
		}
	}
	return resources == 1
}

// entraError answers as Entra ID does: the OAuth error, and a description
// that starts with the AADSTS code and ends with trace and correlation IDs.
func (s *Server) entraError(w http.ResponseWriter, r *http.Request, action string, status int, code string, aadsts int, message string) {
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: action, Status: status})
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace, correlation := randomUUID(), randomUUID()
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, message, trace, correlation, now),
		"error_codes":       []int{aadsts},
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    correlation,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", s.URL, aadsts),
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
