package secrets

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// These fuzz targets run no stack: examine and mismatch read a Secret
// already fetched.

// FuzzExamineSecret checks what InspectSecret makes of any tls.crt and
// tls.key: an unreadable tls.crt, an unreadable tls.key, or a key that is
// not the leaf's makes the Secret invalid, and nothing else does; only a
// usable certificate is measured against the request, with mismatch's
// verdict; the public facts are the leaf's whenever tls.crt reads. No reason
// quotes the key's PEM: reasons go to status conditions and Events.
func FuzzExamineSecret(f *testing.F) {
	ca, err := pki.NewCA("certflow fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	pair, err := ca.IssueServing([]string{"app.certflow.test"}, []net.IP{net.ParseIP("192.0.2.7")})
	if err != nil {
		f.Fatal(err)
	}
	other, err := ca.IssueServing([]string{"app.certflow.test"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	chain := append(append([]byte{}, pair.CertPEM...), ca.CertPEM...)
	names := "app.certflow.test,192.0.2.7"
	f.Add(chain, pair.KeyPEM, names, pki.ECDSA)
	f.Add(chain, pair.KeyPEM, names, "")                                        // the spec wants RSA
	f.Add(chain, pair.KeyPEM, "app.certflow.test,api.certflow.test", pki.ECDSA) // more names asked for
	f.Add(chain, other.KeyPEM, names, pki.ECDSA)                                // another certificate's key
	f.Add(chain, append([]byte("garbage\n"), pair.KeyPEM...), names, pki.ECDSA)
	f.Add(chain, pair.KeyPEM[:len(pair.KeyPEM)-40], names, pki.ECDSA)
	f.Add(chain, []byte{}, names, pki.ECDSA)
	f.Add(pair.KeyPEM, pair.KeyPEM, names, pki.ECDSA) // the key in tls.crt too
	f.Add(append(pair.KeyPEM, chain...), pair.KeyPEM, names, pki.ECDSA)
	f.Add([]byte{}, pair.KeyPEM, names, pki.ECDSA)
	f.Add(chain[:len(chain)-30], pair.KeyPEM, names, pki.ECDSA)
	now := time.Now()
	f.Fuzz(func(t *testing.T, tlsCrt, tlsKey []byte, requested, algorithm string) {
		req := requestFor(requested)
		req.PrivateKey.Algorithm = algorithm
		s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{keyCert: tlsCrt, keyKey: tlsKey}}
		e := examine(s, req, now)

		for _, reason := range []string{e.invalid, e.mismatch} {
			for rest := tlsKey; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				body := base64.StdEncoding.EncodeToString(b.Bytes)
				if len(b.Bytes) >= 12 && !bytes.Contains(tlsCrt, []byte(body[:16])) &&
					(strings.Contains(reason, body[:16]) || strings.Contains(reason, string(b.Bytes))) {
					t.Fatalf("reason %q quotes tls.key", reason)
				}
			}
		}
		chain, chainErr := pki.ParseChain(tlsCrt)
		if chainErr != nil {
			if e.leaf != nil || e.issued != nil || !strings.Contains(e.invalid, keyCert) || e.mismatch != "" {
				t.Fatalf("tls.crt does not read (%v), yet %+v", chainErr, e)
			}
			return
		}
		if e.leaf == nil || !e.leaf.Equal(chain[0]) || e.issued == nil || *e.issued != activities.IssuedFrom(chain[0]) {
			t.Fatalf("tls.crt reads, but the leaf or its facts are not reported: %+v", e)
		}
		key, keyErr := pki.ParseKey(tlsKey)
		switch {
		case keyErr != nil:
			if !strings.Contains(e.invalid, keyKey) || e.mismatch != "" {
				t.Fatalf("tls.key does not read (%v), yet %+v", keyErr, e)
			}
		case !pki.KeyMatches(chain[0], key):
			if !strings.Contains(e.invalid, "is not the key") || e.mismatch != "" {
				t.Fatalf("tls.key is another certificate's, yet %+v", e)
			}
		case e.invalid != "":
			t.Fatalf("a readable certificate with its key is invalid: %q", e.invalid)
		case e.mismatch != mismatch(chain[0], req, now):
			t.Fatalf("mismatch %q, not mismatch's verdict", e.mismatch)
		}
	})
}

// requestFor reads "a,b,c" as the names of a request: IP addresses or DNS names.
func requestFor(names string) activities.Request {
	var req activities.Request
	for _, n := range strings.Split(names, ",") {
		if net.ParseIP(n) != nil {
			req.IPAddresses = append(req.IPAddresses, n)
		} else if n != "" {
			req.DNSNames = append(req.DNSNames, n)
		}
	}
	return req
}

// FuzzMismatchAcceptsItsOwnCertificate checks the comparison of a stored
// certificate's names with the request, for any names a CA may put in a
// certificate: a request for the certificate's own names, written in another
// case, order or notation (trailing dots, duplicates, IPv4 as IPv4-mapped
// IPv6), matches it, so a stored certificate is never reissued in a loop;
// the same request with one more name does not match.
func FuzzMismatchAcceptsItsOwnCertificate(f *testing.F) {
	key, err := pki.GenerateKey(pki.ECDSA, 256)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("app.certflow.test", "app.certflow.test,api.certflow.test", "192.0.2.7")
	f.Add("", "*.certflow.test", "")
	f.Add("192.0.2.7", "", "192.0.2.7,2001:db8::1")
	f.Add("App.Certflow.Test.", "APP.certflow.test", "::ffff:192.0.2.7")
	f.Add("a", "b,b,B.,1.2.3.4", "1.2.3.4")
	f.Add("", "", "2001:DB8:0:0:0:0:0:1")
	f.Fuzz(func(t *testing.T, commonName, dnsNames, ips string) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: commonName},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		}
		for _, n := range strings.Split(dnsNames, ",") {
			if n != "" {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
		for _, ip := range strings.Split(ips, ",") {
			if parsed := net.ParseIP(ip); parsed != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, parsed)
			}
		}
		leaf, ok := certificate(tmpl, key)
		if !ok {
			return // names a certificate cannot carry
		}
		now := leaf.NotAfter.Add(-time.Minute)

		req := activities.Request{CommonName: strings.ToUpper(leaf.Subject.CommonName), PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}}
		for i, n := range slices.Backward(leaf.DNSNames) {
			if i%2 == 0 && !strings.HasSuffix(n, ".") {
				n = strings.ToUpper(n) + "."
			}
			req.DNSNames = append(req.DNSNames, n, n)
		}
		for _, ip := range leaf.IPAddresses {
			notation := ip.String()
			if v4 := ip.To4(); v4 != nil {
				notation = "::ffff:" + v4.String()
			}
			req.IPAddresses = append(req.IPAddresses, notation)
		}
		if m := mismatch(leaf, req, now); m != "" {
			t.Fatalf("a certificate does not match a request for its own names (CN %q, DNS %q, IP %v): %s",
				leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses, m)
		}
		const extra = "one-more.certflow.test"
		if slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.EqualFold(strings.TrimSuffix(n, "."), extra) }) ||
			strings.EqualFold(strings.TrimSuffix(leaf.Subject.CommonName, "."), extra) {
			return
		}
		req.DNSNames = append(req.DNSNames, extra)
		if mismatch(leaf, req, now) == "" {
			t.Fatalf("a certificate for %q %v matches a request that adds %s", leaf.DNSNames, leaf.IPAddresses, extra)
		}
	})
}

// certificate signs tmpl for key with key and reads it back; false when Go
// refuses to write or read it.
func certificate(tmpl *x509.Certificate, key crypto.Signer) (*x509.Certificate, bool) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, false
	}
	leaf, err := x509.ParseCertificate(der)
	return leaf, err == nil
}
