// Package webhook is a cert-manager DNS-01 webhook solver for the tests: an
// extension API server, as cert-manager's webhook-example builds one, that
// the cluster's aggregation layer routes /apis/<group>/v1alpha1/<solver> to.
// It serves the discovery documents the aggregator checks, and takes
// ChallengePayloads: Present writes the TXT record into BIND, CleanUp
// removes its value, each logged. Like a real solver it writes only in the
// zones it serves (BIND's) and answers success: false for any other.
//
// Requests must come through the aggregator, which names the caller in
// X-Remote-User; others are refused with 401 as a solver with delegated
// authentication refuses them.
package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/internal/standin"
)

// Options configure a solver.
type Options struct {
	// Group is the API group it serves, Solver the name of its solver.
	Group, Solver string
	// Service is the Service the APIService names; the serving certificate
	// is for its DNS name (<name>.<namespace>.svc), as the aggregator checks.
	Service types.NamespacedName
	// BIND is where records go; its zone is the one the solver serves.
	BIND standin.BIND
}

// Server is a running solver.
type Server struct {
	// URL is https://127.0.0.1:<port>.
	URL string
	// CABundle (PEM) signed the serving certificate: the APIService's caBundle.
	CABundle []byte

	opts    Options
	records *standin.Records
	log     standin.Log
	srv     *httptest.Server
}

// Start starts a solver on loopback.
func Start(opts Options) (*Server, error) {
	records, err := standin.NewRecords(opts.BIND)
	if err != nil {
		return nil, err
	}
	serverName := opts.Service.Name + "." + opts.Service.Namespace + ".svc"
	cert, caPEM, err := servingCertificate(serverName)
	if err != nil {
		return nil, fmt.Errorf("standin webhook: %w", err)
	}
	s := &Server{CABundle: caPEM, opts: opts, records: records}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Requests are the ChallengePayloads served, as create and delete actions.
func (s *Server) Requests() []standin.Request { return s.log.Requests() }

// Objects register the solver with the aggregation layer: a Service of type
// ExternalName naming 127.0.0.1 (Endpoints and EndpointSlices refuse
// loopback addresses, and the aggregator proxies to an ExternalName as it
// is) and the APIService v1alpha1.<group> with its caBundle.
func (s *Server) Objects() []client.Object {
	_, portText, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
	port, _ := strconv.Atoi(portText)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.opts.Service.Name, Namespace: s.opts.Service.Namespace},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "127.0.0.1",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(port)}},
		},
	}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": "v1alpha1." + s.opts.Group},
		"spec": map[string]any{
			"group": s.opts.Group, "version": "v1alpha1",
			"groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
			"service":  map[string]any{"namespace": s.opts.Service.Namespace, "name": s.opts.Service.Name, "port": int64(port)},
			"caBundle": base64.StdEncoding.EncodeToString(s.CABundle),
		},
	}}
	return []client.Object{svc, apiService}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Remote-User") == "" {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "no X-Remote-User: requests come through the Kubernetes aggregation layer")
		return
	}
	groupPath, versionPath := "/apis/"+s.opts.Group, "/apis/"+s.opts.Group+"/v1alpha1"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/apis":
		writeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{s.group()}})
	case r.Method == http.MethodGet && r.URL.Path == groupPath:
		writeJSON(w, http.StatusOK, s.group())
	case r.Method == http.MethodGet && r.URL.Path == versionPath:
		writeJSON(w, http.StatusOK, map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": s.opts.Group + "/v1alpha1",
			"resources": []any{map[string]any{
				"name": s.opts.Solver, "singularName": "ChallengePayload", "namespaced": false,
				"kind": "ChallengePayload", "verbs": []string{"create"},
			}},
		})
	case r.Method == http.MethodPost && r.URL.Path == versionPath+"/"+s.opts.Solver:
		s.solve(w, r)
	default:
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
	}
}

func (s *Server) group() map[string]any {
	version := map[string]any{"groupVersion": s.opts.Group + "/v1alpha1", "version": "v1alpha1"}
	return map[string]any{"kind": "APIGroup", "apiVersion": "v1", "name": s.opts.Group,
		"versions": []any{version}, "preferredVersion": version}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus answers as a Kubernetes API server does: a metav1.Status.
func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	writeJSON(w, code, map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code})
}

// servingCertificate makes a CA and a certificate it signs for serverName
// and 127.0.0.1; it returns the certificate and the CA's PEM.
func servingCertificate(serverName string) (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhook stand-in CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: serverName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{serverName},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
