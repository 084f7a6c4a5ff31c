// Package vault stands in for a HashiCorp Vault server, which cannot be
// built here: an HTTPS server on 127.0.0.1 that follows Vault's documented
// HTTP API for what certflow uses (sys/health, auth/token/lookup-self, the
// AppRole and Kubernetes login methods, a PKI mount's sign/<role>), with the
// real API's JSON shapes and status codes. It signs for real, with an
// intermediate CA under a root it holds, honouring each role's allowed
// domains; the Kubernetes method reviews the JWT with the API server's
// TokenReview, as Vault does; a request with another X-Vault-Namespace than
// the configured one finds nothing, as in Vault Enterprise.
package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/certflow/certflow/internal/pki"
)

// Config is what the stand-in serves.
type Config struct {
	// Namespace is the Vault Enterprise namespace everything lives in: each
	// request but sys/health must send it as X-Vault-Namespace ("" for none).
	Namespace string
	// Tokens are valid tokens (like a root token) for X-Vault-Token.
	Tokens []string
	// AppRoles are the secret IDs by role ID of the AppRole method at
	// auth/approle.
	AppRoles map[string]string
	// KubernetesRoles are the roles of the Kubernetes method at
	// auth/kubernetes, by name.
	KubernetesRoles map[string]KubernetesRole
	// Kubernetes reviews the JWTs of Kubernetes logins (TokenReview).
	Kubernetes kubernetes.Interface
	// Mount is where the PKI engine is mounted, for example pki.
	Mount string
	// Roles are the PKI roles, by name.
	Roles map[string]Role
}

// KubernetesRole binds a Vault role to ServiceAccounts, as Vault's
// bound_service_account_names, bound_service_account_namespaces and
// audience do.
type KubernetesRole struct {
	ServiceAccountNames, ServiceAccountNamespaces []string
	// Audience the JWT must have; "" accepts the API server's default.
	Audience string
}

// Role is a PKI role: which names it signs (allowed_domains with
// allow_subdomains; the domains themselves are allowed too, as
// allow_bare_domains) and the longest TTL it gives (max_ttl).
type Role struct {
	AllowedDomains  []string
	AllowSubdomains bool
	MaxTTL          time.Duration
}

// Request is one request the stand-in served, for tests to check.
type Request struct {
	Method, Path string
	// Namespace is the X-Vault-Namespace header sent.
	Namespace string
	// Status is the HTTP status answered.
	Status int
}

// Server is a running stand-in.
type Server struct {
	// URL is https://127.0.0.1:<port>.
	URL string
	// TLSCAPEM verifies the server's TLS certificate (an issuer's caBundle).
	TLSCAPEM []byte
	// Root is the CA at the top of every chain the PKI mount signs.
	Root *x509.Certificate

	cfg          Config
	srv          *http.Server
	root, issuer *x509.Certificate
	issuerKey    *ecdsa.PrivateKey

	mu       sync.Mutex
	issued   map[string]bool // the tokens logins gave
	requests []Request
}

// Start serves cfg on a free loopback port.
func Start(cfg Config) (*Server, error) {
	tlsCA, err := pki.NewCA("vault stand-in TLS")
	if err != nil {
		return nil, err
	}
	pair, err := tlsCA.IssueServing([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("vault stand-in: %w", err)
	}
	s := &Server{TLSCAPEM: tlsCA.CertPEM, cfg: cfg, issued: map[string]bool{}}
	if err := s.makeCAs(); err != nil {
		return nil, err
	}
	s.Root = s.root
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("vault stand-in: %w", err)
	}
	s.URL = "https://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// Stop stops serving.
func (s *Server) Stop() error { return s.srv.Close() }

// Requests are the requests served so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// IssuedTokens are the tokens logins gave, which must not reach any log or
// workflow history.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var tokens []string
	for t := range s.issued {
		tokens = append(tokens, t)
	}
	slices.Sort(tokens)
	return tokens
}

// ServeHTTP routes a request under /v1/ as Vault does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Namespace: r.Header.Get("X-Vault-Namespace"), Status: rec.status})
	s.mu.Unlock()
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		fail(w, http.StatusNotFound)
		return
	}
	if path == "sys/health" {
		reply(w, http.StatusOK, map[string]any{"initialized": true, "sealed": false, "standby": false,
			"performance_standby": false, "version": "1.17.0+standin", "cluster_name": "standin", "server_time_utc": time.Now().Unix()})
		return
	}
	if strings.Trim(r.Header.Get("X-Vault-Namespace"), "/") != strings.Trim(s.cfg.Namespace, "/") {
		// Nothing is mounted in another namespace.
		fail(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
		return
	}
	switch {
	case path == "auth/token/lookup-self" && r.Method == http.MethodGet:
		s.lookupSelf(w, r)
	case path == "auth/approle/login" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.appRoleLogin(w, r)
	case path == "auth/kubernetes/login" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.kubernetesLogin(w, r)
	case strings.HasPrefix(path, s.cfg.Mount+"/sign/") && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.sign(w, r, strings.TrimPrefix(path, s.cfg.Mount+"/sign/"))
	default:
		fail(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
	}
}

// authorized says whether the request's X-Vault-Token is valid.
func (s *Server) authorized(r *http.Request) bool {
	token := r.Header.Get("X-Vault-Token")
	s.mu.Lock()
	defer s.mu.Unlock()
	return token != "" && (slices.Contains(s.cfg.Tokens, token) || s.issued[token])
}

func (s *Server) lookupSelf(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	reply(w, http.StatusOK, map[string]any{"data": map[string]any{"policies": []string{"pki"}, "ttl": 3600, "renewable": true, "type": "service"}})
}

func (s *Server) appRoleLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	want, ok := s.cfg.AppRoles[in.RoleID]
	if !ok || in.SecretID == "" || in.SecretID != want {
		fail(w, http.StatusBadRequest, "invalid role or secret ID")
		return
	}
	s.login(w, "approle")
}

func (s *Server) kubernetesLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role string `json:"role"`
		JWT  string `json:"jwt"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	role, ok := s.cfg.KubernetesRoles[in.Role]
	if !ok {
		fail(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", in.Role))
		return
	}
	if in.JWT == "" {
		fail(w, http.StatusBadRequest, "missing jwt")
		return
	}
	ns, name, err := s.review(r.Context(), in.JWT, role.Audience)
	if err != nil {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	if !slices.Contains(role.ServiceAccountNamespaces, ns) {
		fail(w, http.StatusForbidden, "namespace not authorized")
		return
	}
	if !slices.Contains(role.ServiceAccountNames, name) {
		fail(w, http.StatusForbidden, "service account name not authorized")
		return
	}
	s.login(w, "kubernetes")
}

// login gives a new token.
func (s *Server) login(w http.ResponseWriter, method string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := "hvs.standin" + hex.EncodeToString(b)
	s.mu.Lock()
	s.issued[token] = true
	s.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"auth": map[string]any{"client_token": token, "accessor": "accessor-" + method,
		"policies": []string{"default", "pki"}, "token_policies": []string{"default", "pki"}, "lease_duration": 3600, "renewable": true}})
}

// recorder keeps the status written.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// fail answers Vault's error shape: {"errors": [...]}.
func fail(w http.ResponseWriter, status int, errs ...string) {
	reply(w, status, map[string]any{"errors": append([]string{}, errs...)})
}

// makeCAs makes the root and the intermediate that signs.
func (s *Server) makeCAs() error {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("vault stand-in: %w", err)
	}
	now := time.Now()
	ca := func(cn string, parent *x509.Certificate, pub, signer any) (*x509.Certificate, error) {
		tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			return nil, fmt.Errorf("vault stand-in: signing %s: %w", cn, err)
		}
		return x509.ParseCertificate(der)
	}
	if s.root, err = ca("vault stand-in root", nil, &rootKey.PublicKey, rootKey); err != nil {
		return err
	}
	if s.issuerKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return fmt.Errorf("vault stand-in: %w", err)
	}
	s.issuer, err = ca("vault stand-in intermediate", s.root, &s.issuerKey.PublicKey, rootKey)
	return err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n
}

// errNotAllowed is a token of a user that is no ServiceAccount.
var errNotAllowed = errors.New("not a ServiceAccount token")
