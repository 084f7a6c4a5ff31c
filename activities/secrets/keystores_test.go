package secrets

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/pki"
)

// keystorePassword is long enough for the history scan's needles; it is a
// test's, and in no history.
const keystorePassword = "keystore password of the unit tests"

// openPKCS12 opens a keystore.p12 and checks that it holds the leaf, the key
// and the CA certificate after it.
func openPKCS12(t *testing.T, data []byte, password string, c issued, ca *testCA) {
	t.Helper()
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		t.Fatalf("opening keystore.p12: %v", err)
	}
	if !leaf.Equal(c.leaf) {
		t.Fatalf("keystore.p12 holds %s, want the issued leaf %s", leaf.Subject, c.leaf.Subject)
	}
	if !pki.KeyMatches(c.leaf, signerOf(t, key)) {
		t.Fatal("keystore.p12's key is not the leaf's")
	}
	if !containsCert(cas, ca.cert) {
		t.Fatalf("keystore.p12 has %d CA certificates, none of them the CA", len(cas))
	}
}

// openJKS opens a keystore.jks and checks that its alias entry holds the
// leaf first, then the CA, and the key; and, with a ca.crt, that the CA is a
// trusted entry.
func openJKS(t *testing.T, data []byte, password, alias string, c issued, ca *testCA, withCA bool) {
	t.Helper()
	store := keystore.New()
	if err := store.Load(bytes.NewReader(data), []byte(password)); err != nil {
		t.Fatalf("opening keystore.jks: %v", err)
	}
	entry, err := store.GetPrivateKeyEntry(alias, []byte(password))
	if err != nil {
		t.Fatalf("keystore.jks entry %q: %v", alias, err)
	}
	if len(entry.CertificateChain) != 2 || !bytes.Equal(entry.CertificateChain[0].Content, c.leaf.Raw) ||
		!bytes.Equal(entry.CertificateChain[1].Content, ca.cert.Raw) {
		t.Fatal("keystore.jks's chain is not the issued leaf and the CA")
	}
	key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
	if err != nil || !pki.KeyMatches(c.leaf, signerOf(t, key)) {
		t.Fatalf("keystore.jks's key is not the leaf's (%v)", err)
	}
	if !withCA {
		return
	}
	trusted, err := store.GetTrustedCertificateEntry("ca")
	if err != nil || !bytes.Equal(trusted.Certificate.Content, ca.cert.Raw) {
		t.Fatalf("keystore.jks has no trusted entry ca with the CA (%v)", err)
	}
}

func signerOf(t *testing.T, key any) crypto.Signer {
	t.Helper()
	s, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("a %T is no private key", key)
	}
	return s
}

func containsCert(certs []*x509.Certificate, want *x509.Certificate) bool {
	for _, c := range certs {
		if c.Equal(want) {
			return true
		}
	}
	return false
}

// macAlgorithm is the OID of a PKCS#12 file's MAC digest (RFC 7292: PFX
// {version, authSafe, macData {mac DigestInfo, ...}}): SHA-1 in the legacy
// profiles, SHA-256 in Modern2023, PBMAC1 in Modern2026.
func macAlgorithm(t *testing.T, pfx []byte) string {
	t.Helper()
	var outer struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac struct {
				Algorithm struct {
					Algorithm  asn1.ObjectIdentifier
					Parameters asn1.RawValue `asn1:"optional"`
				}
				Digest []byte
			}
			Salt       []byte
			Iterations int `asn1:"optional,default:1"`
		}
	}
	if _, err := asn1.Unmarshal(pfx, &outer); err != nil {
		t.Fatalf("reading the PKCS#12 file's MAC: %v", err)
	}
	return outer.MacData.Mac.Algorithm.Algorithm.String()
}

var macOfProfile = map[string]string{
	"":           "2.16.840.1.101.3.4.2.1", // SHA-256: Modern2023 is the default
	"Modern2023": "2.16.840.1.101.3.4.2.1",
	"Modern2026": "1.2.840.113549.1.5.14", // PBMAC1
	"LegacyDES":  "1.3.14.3.2.26",         // SHA-1
	"LegacyRC2":  "1.3.14.3.2.26",
}

func TestKeystoresOpenWithTheirPasswordOnly(t *testing.T) {
	ca := newTestCA(t)
	for _, alg := range []struct {
		name string
		alg  string
		size int
	}{{"RSA", pki.RSA, 2048}, {"ECDSA", pki.ECDSA, 256}, {"Ed25519", pki.Ed25519, 0}} {
		c := ca.issue(t, leafSpec{dnsNames: []string{"app.certflow.test"}, algorithm: alg.alg, size: alg.size})
		for _, profile := range []string{"", "Modern2023", "Modern2026", "LegacyDES", "LegacyRC2"} {
			t.Run("a PKCS#12 keystore of profile "+cmp.Or(profile, "unset")+" with an "+alg.name+" key", func(t *testing.T) {
				ks := &activities.Keystores{PKCS12: &activities.Keystore{Profile: profile, PasswordInline: true}}
				data, err := keystoreData(ks, passwords{pkcs12: []byte(keystorePassword)}, c.keyPEM, []byte(c.chainPEM), []byte(ca.pem))
				if err != nil {
					t.Fatal(err)
				}
				openPKCS12(t, data[certflowv1.PKCS12SecretKey], keystorePassword, c, ca)
				if got := macAlgorithm(t, data[certflowv1.PKCS12SecretKey]); got != macOfProfile[profile] {
					t.Fatalf("the MAC algorithm is %s, want %s", got, macOfProfile[profile])
				}
				if _, _, _, err := pkcs12.DecodeChain(data[certflowv1.PKCS12SecretKey], "another password"); err == nil {
					t.Fatal("keystore.p12 opens with a wrong password")
				}
				trust, err := pkcs12.DecodeTrustStore(data[certflowv1.PKCS12TruststoreKey], keystorePassword)
				if err != nil || len(trust) != 1 || !trust[0].Equal(ca.cert) {
					t.Fatalf("truststore.p12: %d certificates, %v; want the CA", len(trust), err)
				}
				if _, err := pkcs12.DecodeTrustStore(data[certflowv1.PKCS12TruststoreKey], "another password"); err == nil {
					t.Fatal("truststore.p12 opens with a wrong password")
				}
			})
		}
		t.Run("a JKS keystore with an "+alg.name+" key", func(t *testing.T) {
			ks := &activities.Keystores{JKS: &activities.Keystore{Alias: "app", PasswordInline: true}}
			data, err := keystoreData(ks, passwords{jks: []byte(keystorePassword)}, c.keyPEM, []byte(c.chainPEM), []byte(ca.pem))
			if err != nil {
				t.Fatal(err)
			}
			openJKS(t, data[certflowv1.JKSSecretKey], keystorePassword, "app", c, ca, true)
			if err := keystore.New().Load(bytes.NewReader(data[certflowv1.JKSSecretKey]), []byte("another password")); err == nil {
				t.Fatal("keystore.jks opens with a wrong password")
			}
			trust := keystore.New()
			if err := trust.Load(bytes.NewReader(data[certflowv1.JKSTruststoreKey]), []byte(keystorePassword)); err != nil {
				t.Fatalf("opening truststore.jks: %v", err)
			}
			if e, err := trust.GetTrustedCertificateEntry("ca"); err != nil || !bytes.Equal(e.Certificate.Content, ca.cert.Raw) {
				t.Fatalf("truststore.jks has no trusted entry ca with the CA (%v)", err)
			}
		})
	}
}

func TestKeystoresWithoutACAHaveNoTruststore(t *testing.T) {
	ca := newTestCA(t)
	c := ca.issue(t, leafSpec{dnsNames: []string{"app.certflow.test"}, algorithm: pki.ECDSA})
	ks := &activities.Keystores{PKCS12: &activities.Keystore{PasswordInline: true}, JKS: &activities.Keystore{PasswordInline: true}}
	pw := passwords{pkcs12: []byte(keystorePassword), jks: []byte(keystorePassword)}
	data, err := keystoreData(ks, pw, c.keyPEM, []byte(c.chainPEM), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := data[certflowv1.PKCS12TruststoreKey]; ok {
		t.Error("truststore.p12 without a ca.crt")
	}
	if _, ok := data[certflowv1.JKSTruststoreKey]; ok {
		t.Error("truststore.jks without a ca.crt")
	}
	// The chain's CA is still in the keystores, after the leaf.
	openPKCS12(t, data[certflowv1.PKCS12SecretKey], keystorePassword, c, ca)
	openJKS(t, data[certflowv1.JKSSecretKey], keystorePassword, certflowv1.DefaultJKSAlias, c, ca, false)
}

// applyKeystoreCertificate creates or updates Certificate ns/name asking for
// req, with spec.keystores as given.
func applyKeystoreCertificate(t *testing.T, ns, name string, issuer activities.IssuerRef, req activities.Request, keystores *certflowv1.CertificateKeystores) {
	t.Helper()
	activitytest.ApplyCertificateWith(t, kube, ns, name, issuer, req, func(c *certflowv1.Certificate) { c.Spec.Keystores = keystores })
}

func TestStoreWritesKeystoresWithPasswordsFromTheAPIServer(t *testing.T) {
	ns, ca, e := namespace(t), newTestCA(t), env()
	issuer := activities.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"}
	inline := "an inline JKS password of the unit test"
	keystores := &certflowv1.CertificateKeystores{
		PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: &certflowv1.KeystorePasswordSecretRef{Name: "web-keystore", Key: "password"}},
		JKS:    &certflowv1.JKSKeystore{Create: true, Password: &inline},
	}
	req := activities.Request{
		DNSNames: []string{"web.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "web-tls",
		Keystores: &activities.Keystores{
			PKCS12: &activities.Keystore{PasswordSecret: "web-keystore", PasswordKey: "password"},
			JKS:    &activities.Keystore{PasswordInline: true},
		},
	}
	applyKeystoreCertificate(t, ns, "web", issuer, req, keystores)
	c := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	pendingKey(t, ns, "web", c.keyPEM)
	in := activities.StoreSecretInput{
		Certificate: activities.CertificateRef{Namespace: ns, Name: "web"}, Issuer: issuer, Request: req,
		PendingKeySecret: activities.PendingKeySecretName("web"), ChainPEM: c.chainPEM, CAPEM: ca.pem, Revision: 1,
	}

	// The password Secret is missing: a configuration error that names it,
	// and nothing is written.
	_, err := execute(t, e, activities.StoreSecret, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeConfig || activities.ConfigReason(app) != certflowv1.ReasonKeystorePassword ||
		!strings.Contains(app.Message(), "Secret "+ns+"/web-keystore does not exist") {
		t.Fatalf("store without the password Secret: %v; want a %s error naming Secret %s/web-keystore", err, certflowv1.ReasonKeystorePassword, ns)
	}
	if strings.Contains(err.Error(), inline) {
		t.Fatalf("the error quotes the inline password: %v", err)
	}
	if secret(t, ns, "web-tls") != nil {
		t.Fatal("a Secret was written without its keystores")
	}

	// The Secret is there, its key is not.
	createSecret(t, ns, "web-keystore", corev1.SecretTypeOpaque, nil, map[string][]byte{"other": []byte(keystorePassword)})
	_, err = execute(t, e, activities.StoreSecret, in)
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeConfig || !strings.Contains(app.Message(), `has no key "password"`) ||
		strings.Contains(err.Error(), keystorePassword) {
		t.Fatalf("store without the password's key: %v; want a configuration error naming the key, quoting no data", err)
	}

	pw := secret(t, ns, "web-keystore")
	pw.Data["password"] = []byte(keystorePassword)
	if err := kube.Update(context.Background(), pw); err != nil {
		t.Fatal(err)
	}
	if _, err := execute(t, e, activities.StoreSecret, in); err != nil {
		t.Fatal(err)
	}
	s := secret(t, ns, "web-tls")
	openPKCS12(t, s.Data[certflowv1.PKCS12SecretKey], keystorePassword, c, ca)
	openJKS(t, s.Data[certflowv1.JKSSecretKey], inline, certflowv1.DefaultJKSAlias, c, ca, true)
	for _, k := range keystoreKeys {
		if len(s.Data[k]) == 0 {
			t.Errorf("the Secret has no %s", k)
		}
	}

	// Inspecting finds it Current and writes nothing.
	inspected, err := execute(t, e, activities.InspectSecret, activities.InspectSecretInput{Certificate: in.Certificate})
	if err != nil || inspected.State != activities.SecretCurrent || inspected.ResourceVersion != s.ResourceVersion {
		t.Fatalf("inspected %+v, %v; want Current at %s", inspected, err, s.ResourceVersion)
	}
}

func TestInspectWritesTheKeystoresACertificateNowAsksFor(t *testing.T) {
	ns, ca, e := namespace(t), newTestCA(t), env()
	issuer := activities.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"}
	req := activities.Request{DNSNames: []string{"app.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "app-tls"}
	c := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	ours := map[string]string{activities.LabelCertificateName: "app"}
	before := createSecret(t, ns, "app-tls", corev1.SecretTypeTLS, ours, map[string][]byte{
		"tls.crt": []byte(c.chainPEM), "tls.key": c.keyPEM, "ca.crt": []byte(ca.pem), "extra": []byte("kept"),
	})
	createSecret(t, ns, "app-keystore", corev1.SecretTypeOpaque, nil, map[string][]byte{"password": []byte(keystorePassword)})
	ref := &certflowv1.KeystorePasswordSecretRef{Name: "app-keystore", Key: "password"}
	inspect := func(keystores *certflowv1.CertificateKeystores) (activities.InspectSecretResult, *corev1.Secret) {
		t.Helper()
		applyKeystoreCertificate(t, ns, "app", issuer, req, keystores)
		res, err := execute(t, e, activities.InspectSecret, activities.InspectSecretInput{Certificate: activities.CertificateRef{Namespace: ns, Name: "app"}})
		if err != nil {
			t.Fatal(err)
		}
		s := secret(t, ns, "app-tls")
		if res.State != activities.SecretCurrent || res.ResourceVersion != s.ResourceVersion {
			t.Fatalf("inspected %+v; want Current at the Secret's resourceVersion %s", res, s.ResourceVersion)
		}
		if string(s.Data["tls.crt"]) != c.chainPEM || string(s.Data["extra"]) != "kept" {
			t.Fatal("writing the keystores changed the certificate or a user's entry")
		}
		return res, s
	}

	// Keystores added: written from the Secret's own key and chain.
	res, s := inspect(&certflowv1.CertificateKeystores{
		PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: ref},
		JKS:    &certflowv1.JKSKeystore{Create: true, PasswordSecretRef: ref},
	})
	if s.ResourceVersion == before.ResourceVersion || !strings.Contains(res.Reason, "its keystores were written again (it has no keystore.p12)") {
		t.Fatalf("reason %q at %s; want the keystores written", res.Reason, s.ResourceVersion)
	}
	openPKCS12(t, s.Data[certflowv1.PKCS12SecretKey], keystorePassword, c, ca)
	openJKS(t, s.Data[certflowv1.JKSSecretKey], keystorePassword, certflowv1.DefaultJKSAlias, c, ca, true)

	// Nothing changed: nothing written.
	again := s.ResourceVersion
	if _, s = inspect(&certflowv1.CertificateKeystores{
		PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: ref},
		JKS:    &certflowv1.JKSKeystore{Create: true, PasswordSecretRef: ref},
	}); s.ResourceVersion != again {
		t.Fatal("the keystores were written again though they were what the Certificate asks for")
	}

	// A new password: the keystores are written again with it.
	pw := secret(t, ns, "app-keystore")
	pw.Data["password"] = []byte("the new keystore password of the test")
	if err := kube.Update(context.Background(), pw); err != nil {
		t.Fatal(err)
	}
	res, s = inspect(&certflowv1.CertificateKeystores{
		PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: ref},
		JKS:    &certflowv1.JKSKeystore{Create: true, PasswordSecretRef: ref},
	})
	if !strings.Contains(res.Reason, "does not open with the password") {
		t.Fatalf("reason %q; want the keystore that no longer opens", res.Reason)
	}
	openPKCS12(t, s.Data[certflowv1.PKCS12SecretKey], "the new keystore password of the test", c, ca)
	if strings.Contains(res.Reason, keystorePassword) || strings.Contains(res.Reason, "the new keystore password") {
		t.Fatalf("the reason quotes a password: %q", res.Reason)
	}

	// Keystores no longer asked for are removed.
	res, s = inspect(&certflowv1.CertificateKeystores{PKCS12: &certflowv1.PKCS12Keystore{Create: false}})
	for _, k := range keystoreKeys {
		if _, ok := s.Data[k]; ok {
			t.Errorf("%s is still there (reason %q)", k, res.Reason)
		}
	}
}

func TestInspectRefusesToGoOnWithoutAKeystorePassword(t *testing.T) {
	ns, e := namespace(t), env()
	issuer := activities.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"}
	req := activities.Request{DNSNames: []string{"app.certflow.test"}, SecretName: "app-tls"}
	applyKeystoreCertificate(t, ns, "app", issuer, req, &certflowv1.CertificateKeystores{
		JKS: &certflowv1.JKSKeystore{Create: true, PasswordSecretRef: &certflowv1.KeystorePasswordSecretRef{Name: "jks-password", Key: "pw"}},
	})
	// No Secret yet: the error comes before an order is made.
	_, err := execute(t, e, activities.InspectSecret, activities.InspectSecretInput{Certificate: activities.CertificateRef{Namespace: ns, Name: "app"}})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || activities.ConfigReason(app) != certflowv1.ReasonKeystorePassword ||
		app.Message() != "the jks keystore's password: Secret "+ns+"/jks-password does not exist (spec.keystores.jks.passwordSecretRef)" {
		t.Fatalf("inspect without the password Secret: %v", err)
	}
}
