package route53

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// sts serves AssumeRole (signed by a key the stand-in knows, for a role of
// Options.Roles) and AssumeRoleWithWebIdentity (unsigned, with a token of
// Options.WebIdentityTokens or one Options.WebIdentity accepts). The temporary credentials it returns sign
// Route 53 calls from then on.
func (s *Server) sts(w http.ResponseWriter, r *http.Request, req *standin.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "MalformedQueryString", Message: err.Error(), NS: stsNS})
		return
	}
	action, role := r.PostForm.Get("Action"), r.PostForm.Get("RoleArn")
	req.Action = action
	switch action {
	case "AssumeRole":
		if _, err := s.authenticate(r); err != nil {
			err.NS = stsNS
			writeError(w, err)
			return
		}
	case "AssumeRoleWithWebIdentity":
		token := r.PostForm.Get("WebIdentityToken")
		if !slices.Contains(s.opts.WebIdentityTokens, token) && (s.opts.WebIdentity == nil || !s.opts.WebIdentity(token)) {
			writeError(w, &apiError{Status: http.StatusBadRequest, Code: "InvalidIdentityToken", Message: "The web identity token is not one the stand-in accepts", NS: stsNS})
			return
		}
	default:
		writeError(w, &apiError{Status: http.StatusBadRequest, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version 2011-06-15", action), NS: stsNS})
		return
	}
	if !slices.Contains(s.opts.Roles, role) {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: fmt.Sprintf("User: arn:aws:iam::000000000000:user/standin is not authorized to perform: sts:%s on resource: %s", action, role), NS: stsNS})
		return
	}
	s.mu.Lock()
	keyID := s.nextID("ASIA")
	creds := stsCredentials{AccessKeyID: keyID, SecretAccessKey: "secret-" + keyID, SessionToken: "token-" + keyID, Expiration: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	s.sessions[keyID] = creds.SessionToken
	s.mu.Unlock()
	writeXML(w, http.StatusOK, stsResponse{
		XMLName: xml.Name{Local: action + "Response"}, NS: stsNS, RequestID: "standin",
		Result: stsResult{XMLName: xml.Name{Local: action + "Result"}, Credentials: creds,
			AssumedRoleArn: role + "/" + r.PostForm.Get("RoleSessionName"), AssumedRoleID: "AROA" + keyID + ":" + r.PostForm.Get("RoleSessionName")},
	})
}
