package vault

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// signRequest is the body of <mount>/sign/<role> that the stand-in reads.
type signRequest struct {
	CSR               string `json:"csr"`
	CommonName        string `json:"common_name"`
	AltNames          string `json:"alt_names"`
	IPSANs            string `json:"ip_sans"`
	URISANs           string `json:"uri_sans"`
	TTL               string `json:"ttl"`
	ExcludeCNFromSANs any    `json:"exclude_cn_from_sans"` // a bool, or "true" as cert-manager sends it
}

// sign signs a CSR as Vault's pki/sign/<role> does: the subject's common
// name and the SANs of the request (not the CSR's), each allowed by the
// role; the TTL capped by the role's max_ttl and the CA's own end.
func (s *Server) sign(w http.ResponseWriter, r *http.Request, roleName string) {
	if !s.authorized(r) {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	role, ok := s.cfg.Roles[roleName]
	if !ok {
		fail(w, http.StatusBadRequest, fmt.Sprintf("unknown role: %s", roleName))
		return
	}
	var in signRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	block, _ := pem.Decode([]byte(in.CSR))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		fail(w, http.StatusBadRequest, "csr contains no data")
		return
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "certificate request could not be parsed: "+err.Error())
		return
	}
	exclude := in.ExcludeCNFromSANs == true || in.ExcludeCNFromSANs == "true"
	dnsNames := split(in.AltNames)
	if in.CommonName != "" {
		if !role.allows(in.CommonName) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("common name %s not allowed by this role", in.CommonName))
			return
		}
		if !exclude && !strings.Contains(in.CommonName, "@") {
			dnsNames = append([]string{in.CommonName}, dnsNames...)
		}
	}
	for _, name := range dnsNames {
		if !role.allows(name) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("subject alternate name %s not allowed by this role", name))
			return
		}
	}
	var ips []net.IP
	for _, v := range split(in.IPSANs) {
		ip := net.ParseIP(v)
		if ip == nil {
			fail(w, http.StatusBadRequest, fmt.Sprintf("the value %q is not a valid IP address", v))
			return
		}
		ips = append(ips, ip)
	}
	var uris []*url.URL
	for _, v := range split(in.URISANs) {
		u, err := url.Parse(v)
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Sprintf("the value %q is not a valid URI", v))
			return
		}
		uris = append(uris, u)
	}
	ttl := role.MaxTTL
	if in.TTL != "" {
		if ttl, err = time.ParseDuration(in.TTL); err != nil {
			fail(w, http.StatusBadRequest, fmt.Sprintf("invalid ttl %q: %v", in.TTL, err))
			return
		}
		if role.MaxTTL > 0 && ttl > role.MaxTTL {
			ttl = role.MaxTTL
		}
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(s.issuer.NotAfter) {
		notAfter = s.issuer.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: in.CommonName},
		DNSNames: dnsNames, IPAddresses: ips, URIs: uris,
		NotBefore: now.Add(-30 * time.Second), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.issuer, csr.PublicKey, s.issuerKey)
	if err != nil {
		fail(w, http.StatusInternalServerError, "signing: "+err.Error())
		return
	}
	issuingCA := encode(s.issuer.Raw)
	reply(w, http.StatusOK, map[string]any{
		"request_id": "standin", "lease_id": "", "renewable": false, "lease_duration": 0, "wrap_info": nil, "warnings": nil, "auth": nil,
		"data": map[string]any{
			"certificate": encode(der), "issuing_ca": issuingCA, "ca_chain": []string{issuingCA, encode(s.root.Raw)},
			"serial_number": colonHex(tmpl.SerialNumber.Bytes()), "expiration": notAfter.Unix(),
		},
	})
}

// allows says whether the role signs name: one of its allowed domains, or
// with allow_subdomains a name below one.
func (r Role) allows(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, d := range r.AllowedDomains {
		d = strings.ToLower(d)
		if name == d || (r.AllowSubdomains && strings.HasSuffix(name, "."+d)) {
			return true
		}
	}
	return false
}

// review asks the API server whether jwt is a ServiceAccount's valid token,
// for audience when set, and returns the ServiceAccount.
func (s *Server) review(ctx context.Context, jwt, audience string) (namespace, name string, err error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: jwt}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	res, err := s.cfg.Kubernetes.AuthenticationV1().TokenReviews().Create(ctx, tr, metav1.CreateOptions{})
	if err != nil {
		return "", "", err
	}
	if !res.Status.Authenticated {
		return "", "", fmt.Errorf("token not authenticated: %s", res.Status.Error)
	}
	parts := strings.Split(res.Status.User.Username, ":") // system:serviceaccount:<namespace>:<name>
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return "", "", errNotAllowed
	}
	return parts[2], parts[3], nil
}

func split(list string) []string {
	var out []string
	for v := range strings.SplitSeq(list, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func encode(der []byte) string {
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}

// colonHex writes a serial number as Vault does: hex bytes joined by colons.
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}
