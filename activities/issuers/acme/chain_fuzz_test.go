package acme

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// fuzzPendingKey is the pending key of FuzzFinalizedChain, the same on every
// run so that the corpus's chains stay chains for it.
func fuzzPendingKey(t testing.TB) crypto.Signer {
	scalar := sha256.Sum256([]byte("certflow fuzz pending key"))
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar[:])
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// FuzzFinalizedChain checks what Finalize makes of the chain a CA sends for
// the pending key (chain.go's parseChain, then describe). A chain that does
// not parse, is not for the pending key, does not name every identifier or
// whose certificates are not each signed by the next is
// a non-retryable ErrTypeACMEPermanent naming the certificate URL or the
// problem. An accepted one is stored as it came: ChainPEM reads back to the
// same certificates, the leaf is for the pending key and names every
// identifier, Issued is the leaf's, and CAPEM is the top certificate exactly
// when the chain has more than one and the top one is self-signed.
func FuzzFinalizedChain(f *testing.F) {
	key := fuzzPendingKey(f)
	rootKey, _ := pki.GenerateKey(pki.ECDSA, 256)
	intermediateKey, _ := pki.GenerateKey(pki.ECDSA, 256)
	caCert := func(serial int64, name string, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, []byte) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
		if err != nil {
			f.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	root, rootPEM := caCert(1, "certflow fuzz root", rootKey.Public(), nil, rootKey)
	intermediate, intermediatePEM := caCert(2, "certflow fuzz intermediate", intermediateKey.Public(), root, rootKey)
	leafFor := func(pub crypto.PublicKey, dnsNames []string, ips []net.IP) []byte {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(3), DNSNames: dnsNames, IPAddresses: ips,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 3, 0),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, intermediate, pub, intermediateKey)
		if err != nil {
			f.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	leaf := leafFor(key.Public(), []string{"www.certflow.test", "*.certflow.test"}, []net.IP{net.ParseIP("192.0.2.1")})
	otherKey, _ := pki.GenerateKey(pki.ECDSA, 256)
	names := "www.certflow.test,*.certflow.test,192.0.2.1"
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	f.Add(join(leaf, intermediatePEM, rootPEM), names)
	f.Add(join(leaf, intermediatePEM), names)
	f.Add(leaf, "www.certflow.test")
	f.Add(leaf, "api.certflow.test")                // a name the leaf lacks
	f.Add(leaf, "deep.sub.certflow.test")           // the wildcard covers one label only
	f.Add(join(leaf, rootPEM), "WWW.certflow.test") // names compare without case
	f.Add(join(leafFor(otherKey.Public(), []string{"www.certflow.test"}, nil), rootPEM), "www.certflow.test")
	f.Add(join(rootPEM, leaf), "www.certflow.test") // the root first
	f.Add(leaf[:len(leaf)/2], "www.certflow.test")
	f.Add([]byte("<html>not a chain</html>"), "www.certflow.test")
	f.Add([]byte{}, "")

	f.Fuzz(func(t *testing.T, chainPEM []byte, identifiers string) {
		const certURL = "https://ca.test/acme/cert/1"
		var req activities.Request
		for _, id := range strings.Split(identifiers, ",") {
			if net.ParseIP(id) != nil {
				req.IPAddresses = append(req.IPAddresses, id)
			} else if id != "" {
				req.DNSNames = append(req.DNSNames, id)
			}
		}
		chain, err := parseChain(certURL, chainPEM)
		if err != nil {
			mustBePermanent(t, err)
			if !strings.Contains(err.Error(), certURL) {
				t.Fatalf("error %q does not name the certificate URL", err)
			}
			return
		}
		res, err := describe(chain, key.Public(), req)
		if err != nil {
			mustBePermanent(t, err)
			return
		}
		stored, err := pki.ParseChain([]byte(res.ChainPEM))
		if err != nil || len(stored) != len(chain) {
			t.Fatalf("ChainPEM reads back to %d certificates (%v), the CA sent %d", len(stored), err, len(chain))
		}
		for i := range chain {
			if !stored[i].Equal(chain[i]) {
				t.Fatalf("certificate %d of ChainPEM is not the CA's", i+1)
			}
		}
		if !pki.KeyMatches(chain[0], key) {
			t.Fatal("a leaf for another key was accepted")
		}
		for i := 0; i+1 < len(chain); i++ {
			if chain[i].CheckSignatureFrom(chain[i+1]) != nil {
				t.Fatalf("a chain whose certificate %d is not signed by the next was accepted", i+1)
			}
		}
		for _, id := range req.Identifiers() {
			if chain[0].VerifyHostname(id) != nil && !slices.Contains(chain[0].DNSNames, id) {
				t.Fatalf("a leaf that does not name %q was accepted", id)
			}
		}
		if res.Issued != activities.IssuedFrom(chain[0]) {
			t.Fatalf("Issued %+v is not the leaf's", res.Issued)
		}
		top := chain[len(chain)-1]
		wantCA := len(chain) > 1 && bytes.Equal(top.RawSubject, top.RawIssuer) && top.CheckSignatureFrom(top) == nil
		if wantCA != (res.CAPEM != "") {
			t.Fatalf("CAPEM set %t for a chain of %d whose top is self-signed: %t", res.CAPEM != "", len(chain), wantCA)
		}
		if wantCA {
			if cas, err := pki.ParseChain([]byte(res.CAPEM)); err != nil || len(cas) != 1 || !cas[0].Equal(top) {
				t.Fatalf("CAPEM is not the top certificate: %v", err)
			}
		}
	})
}

func mustBePermanent(t *testing.T, err error) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != activities.ErrTypeACMEPermanent {
		t.Fatalf("error %v (%T): want a non-retryable %s", err, err, activities.ErrTypeACMEPermanent)
	}
}
