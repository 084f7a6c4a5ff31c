package clouddns

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/standin"
)

// serviceAccount is a key pair and the JSON key file Google would hand out
// for it, with token_uri pointing at the stand-in.
type serviceAccount struct {
	email string
	key   *rsa.PrivateKey
}

func newServiceAccount(email string) (serviceAccount, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return serviceAccount{}, fmt.Errorf("standin: %w", err)
	}
	return serviceAccount{email: email, key: key}, nil
}

// keyJSON is the service account's JSON key, as the Cloud console writes it.
func (a serviceAccount) keyJSON(project, tokenURI string) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(a.key)
	key, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": "standin-key",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   a.email,
		"client_id":      "100000000000000000001",
		"auth_uri":       "https://accounts.google.com/o/oauth2/auth",
		"token_uri":      tokenURI,
	})
	return key
}

// token is Google's OAuth 2.0 token endpoint for service accounts (RFC 7523
// JWT bearer grant): it takes an assertion signed with the account's key,
// whose iss is the account's email, and gives an access token for the API.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		s.refuseToken(w, r, "unsupported_grant_type", "Invalid grant_type.")
		return
	}
	if problem := s.assertionProblem(r.PostForm.Get("assertion")); problem != "" {
		s.refuseToken(w, r, "invalid_grant", problem)
		return
	}
	token := "ya29.standin-" + base64.RawURLEncoding.EncodeToString(randomBytes(18))
	s.mu.Lock()
	s.tokens[token] = true
	s.mu.Unlock()
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "token", Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
}

// assertionProblem checks the JWT's RS256 signature with the account's key,
// its iss, its audience (this endpoint) and its lifetime, and says what is
// wrong, in Google's words; "" when nothing is.
func (s *Server) assertionProblem(assertion string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "Invalid JWT."
	}
	var claims struct {
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
		Exp   int64  `json:"exp"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		return "Invalid JWT."
	}
	if claims.Iss != s.account.email {
		return "Invalid grant: account not found"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "Invalid JWT Signature."
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.account.key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return "Invalid JWT Signature."
	}
	if claims.Aud != s.TokenURL() || time.Unix(claims.Exp, 0).Before(time.Now()) || claims.Scope == "" {
		return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
	}
	return ""
}

// refuseToken answers as Google's token endpoint does, with 400 and an
// OAuth error.
func (s *Server) refuseToken(w http.ResponseWriter, r *http.Request, code, description string) {
	s.log.Add(standin.Request{Method: r.Method, Path: r.URL.Path, Action: "token", Status: http.StatusBadRequest})
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
