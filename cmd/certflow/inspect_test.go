package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

func TestDecodeSecret(t *testing.T) {
	ca, err := pki.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.IssueServing([]string{"web.example.test"}, []net.IP{net.ParseIP("192.0.2.10")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.IssueServing([]string{"other.example.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(append([]byte{}, pair.CertPEM...), ca.CertPEM...)
	secret := func(data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-tls",
				Annotations: map[string]string{activities.AnnotationAltNames: "web.example.test", "example.com/note": "kept out"},
				Labels:      map[string]string{activities.LabelCertificateName: "web"}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
	}

	cases := []struct {
		name       string
		data       map[string][]byte
		certs      int
		keyMatches bool
		problem    string // substring of Problem or KeyProblem; "" for none
	}{
		{"a chain with its key matches", map[string][]byte{"tls.crt": chain, "tls.key": pair.KeyPEM}, 2, true, ""},
		{"another certificate's key does not match", map[string][]byte{"tls.crt": chain, "tls.key": other.KeyPEM}, 2, false, "is not the key of the first certificate"},
		{"a missing key is said", map[string][]byte{"tls.crt": chain}, 2, false, "it has no tls.key"},
		{"an unreadable key is said", map[string][]byte{"tls.crt": chain, "tls.key": []byte("junk")}, 2, false, "its tls.key is unreadable"},
		{"a missing certificate is said", map[string][]byte{"tls.key": pair.KeyPEM}, 0, false, "it has no tls.crt"},
		{"an unreadable certificate is said", map[string][]byte{"tls.crt": []byte("junk"), "tls.key": pair.KeyPEM}, 0, false, "its tls.crt is unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := decodeSecret(secret(tc.data))
			if len(r.Certificates) != tc.certs || r.KeyMatches != tc.keyMatches {
				t.Fatalf("certificates %d, keyMatches %v; want %d, %v (%+v)", len(r.Certificates), r.KeyMatches, tc.certs, tc.keyMatches, r)
			}
			if got := r.Problem + r.KeyProblem; !strings.Contains(got, tc.problem) || (tc.problem == "") != (got == "") {
				t.Errorf("problem %q, want %q", got, tc.problem)
			}
			if len(r.Annotations) != 1 || r.Labels[activities.LabelCertificateName] != "web" {
				t.Errorf("want certflow's annotations and labels alone: %v %v", r.Annotations, r.Labels)
			}
		})
	}

	t.Run("the leaf is described and the key is never printed", func(t *testing.T) {
		r := decodeSecret(secret(map[string][]byte{"tls.crt": chain, "tls.key": pair.KeyPEM}))
		leaf := r.Certificates[0]
		if leaf.Subject != "CN=web.example.test" || leaf.IssuerCN != "Test CA" || leaf.KeyAlgorithm != "ECDSA P-256" ||
			strings.Join(leaf.sans(), ",") != "DNS:web.example.test,IP:192.0.2.10" || leaf.Serial == "" {
			t.Errorf("leaf: %+v", leaf)
		}
		if !r.Certificates[1].IsCA {
			t.Errorf("the CA is not marked CA: %+v", r.Certificates[1])
		}
		var text, js bytes.Buffer
		r.write(&text, time.Now())
		if err := writeStructured(&js, "json", r); err != nil {
			t.Fatal(err)
		}
		keyBody := strings.Split(string(pair.KeyPEM), "\n")[1]
		for _, out := range []string{text.String(), js.String()} {
			if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, keyBody[:20]) {
				t.Errorf("the private key is printed:\n%s", out)
			}
		}
		for _, want := range []string{"SANs:       DNS:web.example.test, IP:192.0.2.10", "key matches the leaf", "annotation certflow.dev/alt-names=web.example.test"} {
			if !strings.Contains(text.String(), want) {
				t.Errorf("text lacks %q:\n%s", want, text.String())
			}
		}
	})
}

func TestLeafMismatch(t *testing.T) {
	leaf := certReport{DNSNames: []string{"web.example.test", "www.example.test"}, NotAfter: now.Add(time.Hour)}
	cases := []struct {
		name string
		req  activities.Request
		leaf certReport
		want string
	}{
		{"the same names in another order and case match", activities.Request{DNSNames: []string{"WWW.example.test", "web.example.test"}}, leaf, ""},
		{"a common name repeated as a SAN matches", activities.Request{CommonName: "web.example.test", DNSNames: []string{"www.example.test"}}, leaf, ""},
		{"a name more is a mismatch", activities.Request{DNSNames: []string{"web.example.test", "www.example.test", "api.example.test"}}, leaf, "the Certificate asks for [api.example.test web.example.test www.example.test]"},
		{"an expired leaf is said first", activities.Request{DNSNames: []string{"web.example.test"}}, certReport{NotAfter: now.Add(-time.Hour)}, "the certificate expired at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := leafMismatch(tc.leaf, tc.req, now)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("leafMismatch = %q, want %q", got, tc.want)
			}
		})
	}
}
