package acme_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	"github.com/certflow/certflow/activities/secrets"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/pki"
)

// TestIssuesAWildcardAndItsApex drives one issuance through every step on
// the real stack, with the DNS-01 records presented in BIND, and repeats
// each step to show that a retry finds what the first attempt made.
func TestIssuesAWildcardAndItsApex(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer := createIssuer(t, "issue", func(spec *certflowv1.IssuerSpec) {
		spec.ACME.PreferredChain = "no such root" // exercises the alternates path, falls back to the default
	})
	req := activities.Request{
		CommonName: "web.certflow.test",
		DNSNames:   []string{"*.web.certflow.test", "web.certflow.test"},
		PrivateKey: activities.KeySpec{Algorithm: "ECDSA", Encoding: "PKCS8"},
		SecretName: "web-tls",
	}
	cert := createCertificate(t, issuer.Name, issuer, req)
	beginIn := activities.BeginOrderInput{Certificate: cert, Issuer: issuer, Request: req, Revision: 1}
	var recorded []any // every input and result, to scan for key material
	keyRes, begin := ensureAndBegin(t, a, beginIn)
	recorded = append(recorded, beginIn, keyRes, begin)
	key := pendingKey(t, cert)
	if !begin.NewOrder {
		t.Fatal("the first BeginOrder says it made no order")
	}

	// A retried EnsurePendingKey and BeginOrder (the worker died after the
	// first) reuse everything, and say the order is not new.
	keyAgain, again := ensureAndBegin(t, a, beginIn)
	if again.OrderURL != begin.OrderURL || again.NewOrder {
		t.Fatalf("second BeginOrder made order %s (new %v), want the first one %s", again.OrderURL, again.NewOrder, begin.OrderURL)
	}
	if !samePublicKey(t, pendingKey(t, cert).Public(), key) || keyAgain.PublicKeySHA256 != keyRes.PublicKeySHA256 {
		t.Fatal("second EnsurePendingKey replaced the pending key")
	}

	if len(begin.Authorizations) != 2 {
		t.Fatalf("authorizations = %+v, want one for the wildcard and one for the apex", begin.Authorizations)
	}
	for _, authz := range begin.Authorizations {
		c := authz.Challenge
		if authz.Identifier != "web.certflow.test" || c.Type != "dns-01" || c.FQDN != "_acme-challenge.web.certflow.test." ||
			c.Value == "" || c.Solver != 0 || authz.Status != "pending" {
			t.Fatalf("authorization %+v: want a pending dns-01 challenge at _acme-challenge.web.certflow.test. by solver 0", authz)
		}
	}
	if begin.Authorizations[0].Wildcard == begin.Authorizations[1].Wildcard {
		t.Fatalf("want exactly one wildcard authorization: %+v", begin.Authorizations)
	}
	present(t, begin.Authorizations)

	validateIn := activities.ValidateInput{Certificate: cert, Issuer: issuer, Authorizations: begin.Authorizations}
	validated := must(t, a, activities.Validate, validateIn)
	for _, authz := range validated.Authorizations {
		if authz.Status != "valid" {
			t.Fatalf("after Validate: %+v", authz)
		}
	}
	// Validating again finds them valid and asks the CA nothing new.
	must(t, a, activities.Validate, validateIn)
	recorded = append(recorded, validateIn, validated)

	finalizeIn := activities.FinalizeInput{
		Certificate: cert, Issuer: issuer, Request: req,
		OrderURL: begin.OrderURL, FinalizeURL: begin.FinalizeURL, CSR: keyRes.CSR,
	}
	final := must(t, a, activities.Finalize, finalizeIn)
	recorded = append(recorded, finalizeIn, final)
	chain := parsePEM(t, final.ChainPEM)
	verify(t, chain, "web.certflow.test", "anything.web.certflow.test")
	if !samePublicKey(t, chain[0].PublicKey, key) {
		t.Fatal("the leaf does not certify the pending key")
	}
	if final.CAPEM != "" {
		t.Fatalf("Pebble sends no root, so CAPEM should be empty, got %q", final.CAPEM)
	}
	leaf := chain[0]
	if !final.Issued.NotAfter.Equal(leaf.NotAfter) || final.Issued.Serial != leaf.SerialNumber.Text(16) || final.Issued.ARICertID == "" {
		t.Fatalf("Issued = %+v, leaf notAfter %s serial %x", final.Issued, leaf.NotAfter, leaf.SerialNumber)
	}

	// A retried Finalize finds the order valid and downloads the same
	// certificate.
	if again := must(t, a, activities.Finalize, finalizeIn); again.ChainPEM != final.ChainPEM {
		t.Fatal("a Finalize run again returned another certificate")
	}
	// And BeginOrder for the same revision still finds that order.
	// Its authorizations are valid, and name the challenges they were
	// validated with: the records an earlier attempt made for them, for the
	// Order to remove.
	_, after := ensureAndBegin(t, a, beginIn)
	if after.OrderURL != begin.OrderURL || after.Status != "valid" || after.NewOrder {
		t.Fatalf("BeginOrder after issuance: order %s status %s, want %s valid", after.OrderURL, after.Status, begin.OrderURL)
	}
	for _, authz := range after.Authorizations {
		i := slices.IndexFunc(begin.Authorizations, func(b activities.Authorization) bool { return b.URL == authz.URL })
		if i < 0 {
			t.Fatalf("authorization %s after issuance is not the order's", authz.URL)
		}
		if c, was := authz.Challenge, begin.Authorizations[i].Challenge; authz.Status != "valid" || c.FQDN != was.FQDN || c.Value != was.Value || c.Solver != was.Solver {
			t.Fatalf("authorization %s after issuance: %+v, want valid with the challenge presented before (%+v)", authz.URL, authz, was)
		}
	}

	// The certificate is stored, and the pending key deleted. When the
	// Order's workflow task is lost after that (the Order runs every step in
	// one task), the issuance runs again: EnsurePendingKey finds the stored
	// key and order, BeginOrder makes no order, and Finalize and StoreSecret
	// find their work done.
	storeIn := activities.StoreSecretInput{Certificate: cert, Issuer: issuer, Request: req, Revision: 1,
		PendingKeySecret: keyRes.Secret, ChainPEM: final.ChainPEM, CAPEM: final.CAPEM, OrderURL: begin.OrderURL}
	stored := storeSecret(t, storeIn)
	if err := kube.Get(testContext(t), types.NamespacedName{Namespace: cert.Namespace, Name: keyRes.Secret}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the pending key Secret after the store: %v, want it deleted", err)
	}
	// A BeginOrder run again with the key made before (its EnsurePendingKey
	// is replayed, not run) finds the order on the target Secret.
	if replayed := must(t, a, activities.BeginOrder, beginIn); replayed.OrderURL != begin.OrderURL || replayed.NewOrder {
		t.Fatalf("BeginOrder after the store, without the pending key: order %s (new %v), want %s", replayed.OrderURL, replayed.NewOrder, begin.OrderURL)
	}
	rerunKey, rerun := ensureAndBegin(t, a, beginIn)
	if rerun.OrderURL != begin.OrderURL || rerun.Status != "valid" || rerun.NewOrder ||
		slices.ContainsFunc(rerun.Authorizations, func(a activities.Authorization) bool { return a.Status != "valid" }) {
		t.Fatalf("BeginOrder after the store: order %s status %s, want %s valid with nothing to validate", rerun.OrderURL, rerun.Status, begin.OrderURL)
	}
	if csr, err := x509.ParseCertificateRequest(rerunKey.CSR); err != nil || !samePublicKey(t, csr.PublicKey, key) {
		t.Fatalf("EnsurePendingKey after the store made a CSR for another key (%v)", err)
	}
	finalizeIn.CSR = rerunKey.CSR
	if again := must(t, a, activities.Finalize, finalizeIn); again.ChainPEM != final.ChainPEM {
		t.Fatal("a Finalize after the pending key was deleted returned another certificate")
	}
	if again := storeSecret(t, storeIn); again.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("StoreSecret run again wrote the Secret (version %s, was %s)", again.ResourceVersion, stored.ResourceVersion)
	}

	ariIn := activities.RenewalInfoInput{Issuer: issuer, ARICertID: final.Issued.ARICertID}
	ari := must(t, a, activities.RenewalInfo, ariIn)
	if !ari.Supported || ari.WindowStart.Before(leaf.NotBefore) || !ari.WindowEnd.After(ari.WindowStart) || ari.WindowEnd.After(leaf.NotAfter) {
		t.Fatalf("renewal info %+v, want a window inside %s..%s", ari, leaf.NotBefore, leaf.NotAfter)
	}
	recorded = append(recorded, ariIn, ari)

	accountKey := secretKey(t, clusterNS, issuer.Name+"-account")
	assertNoKeyMaterial(t, recorded, key, accountKey)
}

// present publishes the DNS-01 records in BIND, as the Present activity would.
func present(t *testing.T, authzs []activities.Authorization) {
	t.Helper()
	p, err := rfc2136.New(rfc2136.Config{Nameserver: bind.Addr, TSIGKeyName: bind.TSIGKeyName,
		TSIGAlgorithm: "HMACSHA256", TSIGSecret: bind.TSIGSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, authz := range authzs {
		if authz.Status == "valid" {
			continue
		}
		rec := certflowdns.TXT{FQDN: authz.Challenge.FQDN, Value: authz.Challenge.Value}
		if _, err := p.Present(ctx, rec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.CleanUp(testContext(t), rec) })
	}
}

func pendingKey(t *testing.T, cert activities.CertificateRef) crypto.Signer {
	t.Helper()
	return secretKey(t, cert.Namespace, activities.PendingKeySecretName(cert.Name))
}

// storeSecret runs the secrets activities' StoreSecret, as the Order does
// after Finalize.
func storeSecret(t *testing.T, in activities.StoreSecretInput) activities.StoreSecretResult {
	t.Helper()
	a := &secrets.Activities{Kube: kube, Certificates: &certificates.Reader{Kube: kube}}
	res, err := activitytest.Run(t, a.Bindings(), activities.StoreSecret, in)
	if err != nil {
		t.Fatalf("StoreSecret: %v", err)
	}
	return res
}

func secretKey(t *testing.T, namespace, name string) crypto.Signer {
	t.Helper()
	var s corev1.Secret
	if err := kube.Get(testContext(t), types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParseKey(s.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func samePublicKey(t *testing.T, pub crypto.PublicKey, key crypto.Signer) bool {
	t.Helper()
	a, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(a, b)
}

func parsePEM(t *testing.T, chainPEM string) []*x509.Certificate {
	t.Helper()
	var chain []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) < 2 {
		t.Fatalf("chain has %d certificates, want the leaf and Pebble's intermediate", len(chain))
	}
	return chain
}

// verify checks the chain against Pebble's issuance root for each name.
func verify(t *testing.T, chain []*x509.Certificate, names ...string) {
	t.Helper()
	rootPEM, err := pebble.Root(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("no root from Pebble")
	}
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	for _, name := range names {
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: intermediates}); err != nil {
			t.Fatalf("verifying the chain for %s: %v", name, err)
		}
	}
}

// assertNoKeyMaterial scans what would be recorded in workflow history for
// PEM private keys and for the keys' DER bytes in any usual encoding.
func assertNoKeyMaterial(t *testing.T, recorded []any, keys ...crypto.Signer) {
	t.Helper()
	data, err := json.Marshal(recorded)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("PRIVATE KEY")) {
		t.Fatal("a PEM private key is in an activity input or result")
	}
	for _, key := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		secrets := [][]byte{der}
		if ec, ok := key.(*ecdsa.PrivateKey); ok {
			scalar, err := ec.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, scalar)
		}
		for _, secret := range secrets {
			for _, form := range []string{string(secret), base64.StdEncoding.EncodeToString(secret),
				base64.RawURLEncoding.EncodeToString(secret), hex.EncodeToString(secret)} {
				if strings.Contains(string(data), form) {
					t.Fatal("private key bytes are in an activity input or result")
				}
			}
		}
	}
}

// TestAnIssuedChainMustLeadToTheIssuingRoots: an issuer that names its
// CA's roots stores only a chain that leads to one of them; Pebble's own
// root passes, another refuses the certificate before anything is stored.
func TestAnIssuedChainMustLeadToTheIssuingRoots(t *testing.T) {
	t.Parallel()
	pebbleRoot, err := pebble.Root(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("not Pebble's root")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		roots []byte
		ok    bool
	}{
		{"pebble's root", pebbleRoot, true},
		{"another root", other.CertPEM, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newActivities()
			issuer := createIssuer(t, "roots", func(spec *certflowv1.IssuerSpec) { spec.ACME.IssuingRoots = tc.roots })
			name := issuer.Name + ".certflow.test"
			req := activities.Request{DNSNames: []string{name}, SecretName: issuer.Name + "-tls"}
			cert := createCertificate(t, issuer.Name, issuer, req)
			keyRes, begin := ensureAndBegin(t, a, activities.BeginOrderInput{Certificate: cert, Issuer: issuer, Request: req, Revision: 1})
			present(t, begin.Authorizations)
			must(t, a, activities.Validate, activities.ValidateInput{Certificate: cert, Issuer: issuer, Authorizations: begin.Authorizations})
			_, err := call(t, a, activities.Finalize, activities.FinalizeInput{
				Certificate: cert, Issuer: issuer, Request: req, OrderURL: begin.OrderURL, FinalizeURL: begin.FinalizeURL, CSR: keyRes.CSR,
			})
			switch {
			case tc.ok && err != nil:
				t.Fatalf("a chain to Pebble's root was refused: %v", err)
			case !tc.ok:
				if app := applicationError(t, err); app.Type() != activities.ErrTypeACMEPermanent || !app.NonRetryable() {
					t.Fatalf("a chain to another root: %v, want a non-retryable %s", err, activities.ErrTypeACMEPermanent)
				}
				mustContain(t, "error", err.Error(), "does not chain to spec.acme.issuingRoots")
			}
		})
	}
}
