package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/pki"
)

func TestSignParameters(t *testing.T) {
	u, _ := url.Parse("spiffe://cluster.local/ns/apps/sa/web")
	csr := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "web.example.test"},
		DNSNames:    []string{"web.example.test", "www.example.test"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("2001:db8::1")},
		URIs:        []*url.URL{u},
	}
	for _, tc := range []struct {
		name     string
		csr      *x509.CertificateRequest
		duration time.Duration
		want     map[string]any
	}{
		{"the CSR's names go comma-separated, the duration as the ttl", csr, 720 * time.Hour, map[string]any{
			"common_name": "web.example.test", "alt_names": "web.example.test,www.example.test",
			"ip_sans": "10.0.0.1,2001:db8::1", "uri_sans": "spiffe://cluster.local/ns/apps/sa/web",
			"ttl": "720h0m0s", "exclude_cn_from_sans": "true", "csr": "PEM",
		}},
		{"a Certificate without a duration asks for cert-manager's 90 days", &x509.CertificateRequest{DNSNames: []string{"a.example.test"}}, 0, map[string]any{
			"common_name": "", "alt_names": "a.example.test", "ip_sans": "", "uri_sans": "",
			"ttl": "2160h0m0s", "exclude_cn_from_sans": "true", "csr": "PEM",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := signParameters(tc.csr, []byte("PEM"), tc.duration)
			if len(got) != len(tc.want) {
				t.Errorf("parameters %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestPaths(t *testing.T) {
	for _, tc := range []struct{ name, got, want string }{
		{"cert-manager's default Kubernetes mount path", kubernetesLoginPath(""), "auth/kubernetes/login"},
		{"a mount path with /v1, as cert-manager writes it", kubernetesLoginPath("/v1/auth/k8s-prod"), "auth/k8s-prod/login"},
		{"a mount path without /v1", kubernetesLoginPath("auth/k8s"), "auth/k8s/login"},
		{"a sign path", signPath("pki_int/sign/web"), "pki_int/sign/web"},
		{"a sign path with /v1/", signPath("/v1/pki/sign/web"), "pki/sign/web"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestChainOf(t *testing.T) {
	root, rootKey := testCA(t, "root", nil, nil)
	inter, interKey := testCA(t, "intermediate", root, rootKey)
	leaf, _ := testCA(t, "leaf", inter, interKey)
	other, _ := testCA(t, "other root", nil, nil)
	pemOf := func(c *x509.Certificate) string { return string(pki.EncodeChain([]*x509.Certificate{c})) }
	for _, tc := range []struct {
		name    string
		data    map[string]any
		want    []*x509.Certificate
		wantErr string
	}{
		{"ca_chain with the root, as Vault 1.11 and later answer", map[string]any{
			"certificate": pemOf(leaf), "issuing_ca": pemOf(inter), "ca_chain": []any{pemOf(inter), pemOf(root)},
		}, []*x509.Certificate{leaf, inter, root}, ""},
		{"issuing_ca alone, as older Vaults answer", map[string]any{
			"certificate": pemOf(leaf), "issuing_ca": pemOf(inter),
		}, []*x509.Certificate{leaf, inter}, ""},
		{"a chain whose certificates do not sign each other is refused", map[string]any{
			"certificate": pemOf(leaf), "ca_chain": []any{pemOf(other)},
		}, nil, "is not signed by"},
		{"an answer without a certificate is refused", map[string]any{"issuing_ca": pemOf(inter)}, nil, "no certificate"},
		{"an answer without a chain is refused", map[string]any{"certificate": pemOf(leaf)}, nil, "neither ca_chain nor issuing_ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chainOf(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d certificates, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Errorf("certificate %d is %q, want %q", i, got[i].Subject, tc.want[i].Subject)
				}
			}
		})
	}
}

// testCA is a CA certificate signed by parent (self-signed when nil).
func testCA(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
