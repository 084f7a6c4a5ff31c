package tests

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"software.sslmate.com/src/go-pkcs12"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// The keystore passwords of the real-stack test. They are at least
// minNeedle long, so the history scan that ends the test looks for them.
const (
	p12Password = "the PKCS#12 password from a Secret"
	jksPassword = "the inline JKS password of the test"
)

// TestKeystores issues Certificates that ask for keystores through Pebble,
// as cert-manager users write them: PKCS#12 with its password in a Secret,
// JKS with an inline password. The world's history scan then looks for both
// passwords in every history.
func TestKeystores(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "keystores"
	w.namespace(ns)
	w.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-keystore"},
		Data:       map[string][]byte{"password": []byte(p12Password)},
	})

	t.Run("the schema refuses a keystore with two passwords or none", func(t *testing.T) {
		w := w.in(t)
		inline := jksPassword
		ref := &certflowv1.KeystorePasswordSecretRef{Name: "web-keystore", Key: "password"}
		for _, tc := range []struct {
			name      string
			keystores certflowv1.CertificateKeystores
			message   string
		}{
			{"both passwords", certflowv1.CertificateKeystores{PKCS12: &certflowv1.PKCS12Keystore{Create: true, Password: &inline, PasswordSecretRef: ref}},
				"keystores.pkcs12: password and passwordSecretRef are mutually exclusive: set one"},
			{"no password", certflowv1.CertificateKeystores{JKS: &certflowv1.JKSKeystore{Create: true}},
				"keystores.jks: create is true, so set exactly one of password and passwordSecretRef"},
			{"a profile certflow does not know", certflowv1.CertificateKeystores{PKCS12: &certflowv1.PKCS12Keystore{Create: true, Password: &inline, Profile: "Modern1999"}},
				`Unsupported value: "Modern1999"`},
		} {
			cert := certificate(ns, "refused", "refused-tls", "refused.certflow.test")
			cert.Spec.Keystores = &tc.keystores
			err := w.kube.Create(w.ctx, cert)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("%s: %v; want refused with %q", tc.name, err, tc.message)
			}
		}
	})

	t.Run("PKCS#12 and JKS keystores open with their passwords and hold the issued leaf", func(t *testing.T) {
		w := w.in(t)
		inline := jksPassword
		cert := certificate(ns, "web", "web-tls", "keystores.certflow.test")
		cert.Spec.Keystores = &certflowv1.CertificateKeystores{
			PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: &certflowv1.KeystorePasswordSecretRef{Name: "web-keystore", Key: "password"}},
			JKS:    &certflowv1.JKSKeystore{Create: true, Password: &inline},
		}
		w.create(cert)
		w.waitReady(ns, "web")
		is := w.tlsSecret(ns, "web-tls")
		w.verify(is, "keystores.certflow.test")
		checkPKCS12(t, is, p12Password)
		checkJKS(t, is, jksPassword, certflowv1.DefaultJKSAlias)
		if _, _, _, err := pkcs12.DecodeChain(is.secret.Data[certflowv1.PKCS12SecretKey], jksPassword); err == nil {
			t.Error("keystore.p12 opens with another password")
		}
		checkTruststores(t, is, map[string]string{certflowv1.PKCS12TruststoreKey: p12Password, certflowv1.JKSTruststoreKey: jksPassword})
	})

	t.Run("a missing password Secret is named in the Issuing condition, before any order", func(t *testing.T) {
		w := w.in(t)
		cert := certificate(ns, "nopassword", "nopassword-tls", "nopassword.certflow.test")
		cert.Spec.Keystores = &certflowv1.CertificateKeystores{
			PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: &certflowv1.KeystorePasswordSecretRef{Name: "missing-password", Key: "password"}},
		}
		w.create(cert)
		want := "the pkcs12 keystore's password: Secret keystores/missing-password does not exist (spec.keystores.pkcs12.passwordSecretRef)"
		got := w.waitFor(ns, "nopassword", 2*time.Minute, "Issuing naming the missing password Secret", func(c *certflowv1.Certificate) bool {
			issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
			return issuing != nil && issuing.Reason == certflowv1.ReasonKeystorePassword && strings.Contains(issuing.Message, want)
		})
		if ready := meta.FindStatusCondition(got.Status.Conditions, certflowv1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse {
			t.Errorf("Ready %+v, want False", ready)
		}
		if n := w.ordersFor("nopassword.certflow.test"); n != 0 {
			t.Errorf("%d orders reached the CA though the keystore could not be written", n)
		}
		var s corev1.Secret
		if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: ns, Name: "nopassword-tls"}, &s); !apierrors.IsNotFound(err) {
			t.Errorf("Secret nopassword-tls: %v; want none", err)
		}

		// Fixed: the Secret's creation starts the next attempt at once,
		// without a renew, and it is issued with its keystore.
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "missing-password"},
			Data:       map[string][]byte{"password": []byte(p12Password + " (fixed)")},
		})
		w.waitFor(ns, "nopassword", 30*time.Second, "Ready after the password Secret was made", func(c *certflowv1.Certificate) bool {
			return meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
		})
		checkPKCS12(t, w.tlsSecret(ns, "nopassword-tls"), p12Password+" (fixed)")
	})

	t.Run("adding keystores to an issued Certificate writes them without a new order", func(t *testing.T) {
		w := w.in(t)
		w.create(certificate(ns, "plain", "plain-tls", "plain.certflow.test"))
		w.waitReady(ns, "plain")
		before := w.tlsSecret(ns, "plain-tls")
		for _, k := range []string{certflowv1.PKCS12SecretKey, certflowv1.JKSSecretKey} {
			if _, ok := before.secret.Data[k]; ok {
				t.Fatalf("the Secret has %s before the Certificate asks for it", k)
			}
		}

		var cert certflowv1.Certificate
		if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: ns, Name: "plain"}, &cert); err != nil {
			t.Fatal(err)
		}
		inline, alias := jksPassword, "plain"
		cert.Spec.Keystores = &certflowv1.CertificateKeystores{
			PKCS12: &certflowv1.PKCS12Keystore{Create: true, Profile: certflowv1.PKCS12ProfileLegacyDES, PasswordSecretRef: &certflowv1.KeystorePasswordSecretRef{Name: "web-keystore", Key: "password"}},
			JKS:    &certflowv1.JKSKeystore{Create: true, Alias: &alias, Password: &inline},
		}
		if err := w.kube.Update(w.ctx, &cert); err != nil {
			t.Fatal(err)
		}
		w.waitReady(ns, "plain")
		deadline := time.Now().Add(time.Minute)
		var after issued
		for {
			after = w.tlsSecret(ns, "plain-tls")
			if len(after.secret.Data[certflowv1.PKCS12SecretKey]) > 0 && len(after.secret.Data[certflowv1.JKSSecretKey]) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Secret has no keystores a minute after the Certificate asked for them (entries: %v)", dataKeys(after.secret))
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !after.leaf.Equal(before.leaf) {
			t.Errorf("the certificate changed (serial %s, was %s): adding keystores made a new order", after.leaf.SerialNumber.Text(16), before.leaf.SerialNumber.Text(16))
		}
		checkPKCS12(t, after, p12Password)
		checkJKS(t, after, jksPassword, "plain")
	})
}

func dataKeys(s *corev1.Secret) []string {
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	return keys
}

// checkPKCS12 opens the Secret's keystore.p12 and checks that it holds the
// leaf of tls.crt, the key of tls.key and the rest of the chain.
func checkPKCS12(t *testing.T, is issued, password string) {
	t.Helper()
	key, leaf, cas, err := pkcs12.DecodeChain(is.secret.Data[certflowv1.PKCS12SecretKey], password)
	if err != nil {
		t.Fatalf("opening keystore.p12 of Secret %s: %v", is.secret.Name, err)
	}
	if !leaf.Equal(is.leaf) {
		t.Errorf("keystore.p12 holds serial %s, tls.crt %s", leaf.SerialNumber.Text(16), is.leaf.SerialNumber.Text(16))
	}
	if !keystoreKeyIs(t, key, is) {
		t.Error("keystore.p12's key is not tls.key")
	}
	for _, c := range is.chain[1:] {
		if !containsCertificate(cas, c) {
			t.Errorf("keystore.p12 lacks %s of the chain", c.Subject)
		}
	}
}

// checkJKS opens the Secret's keystore.jks and checks that its alias entry
// holds the chain of tls.crt and the key of tls.key.
func checkJKS(t *testing.T, is issued, password, alias string) {
	t.Helper()
	store := keystore.New()
	if err := store.Load(bytes.NewReader(is.secret.Data[certflowv1.JKSSecretKey]), []byte(password)); err != nil {
		t.Fatalf("opening keystore.jks of Secret %s: %v", is.secret.Name, err)
	}
	entry, err := store.GetPrivateKeyEntry(alias, []byte(password))
	if err != nil {
		t.Fatalf("keystore.jks entry %q: %v", alias, err)
	}
	if len(entry.CertificateChain) != len(is.chain) {
		t.Fatalf("keystore.jks's chain has %d certificates, tls.crt %d", len(entry.CertificateChain), len(is.chain))
	}
	for i, c := range is.chain {
		if !bytes.Equal(entry.CertificateChain[i].Content, c.Raw) {
			t.Errorf("keystore.jks's certificate %d is not tls.crt's", i)
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
	if err != nil || !keystoreKeyIs(t, key, is) {
		t.Errorf("keystore.jks's key is not tls.key (%v)", err)
	}
}

// checkTruststores checks that each truststore opens with its password and
// holds ca.crt, when the Secret has a ca.crt, and that there is none when it
// has not.
func checkTruststores(t *testing.T, is issued, passwords map[string]string) {
	t.Helper()
	if len(is.secret.Data["ca.crt"]) == 0 {
		for entry := range passwords {
			if _, ok := is.secret.Data[entry]; ok {
				t.Errorf("the Secret has %s but no ca.crt", entry)
			}
		}
		return
	}
	ca, err := pki.ParseChain(is.secret.Data["ca.crt"])
	if err != nil {
		t.Fatalf("ca.crt: %v", err)
	}
	trust, err := pkcs12.DecodeTrustStore(is.secret.Data[certflowv1.PKCS12TruststoreKey], passwords[certflowv1.PKCS12TruststoreKey])
	if err != nil || len(trust) != len(ca) || !trust[0].Equal(ca[0]) {
		t.Errorf("truststore.p12: %d certificates, %v; want ca.crt's", len(trust), err)
	}
	store := keystore.New()
	if err := store.Load(bytes.NewReader(is.secret.Data[certflowv1.JKSTruststoreKey]), []byte(passwords[certflowv1.JKSTruststoreKey])); err != nil {
		t.Fatalf("opening truststore.jks: %v", err)
	}
	if e, err := store.GetTrustedCertificateEntry("ca"); err != nil || !bytes.Equal(e.Certificate.Content, ca[0].Raw) {
		t.Errorf("truststore.jks has no entry ca with ca.crt (%v)", err)
	}
}

func keystoreKeyIs(t *testing.T, key any, is issued) bool {
	t.Helper()
	want, err := x509.MarshalPKCS8PrivateKey(is.key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := x509.MarshalPKCS8PrivateKey(key)
	return err == nil && bytes.Equal(got, want)
}

func containsCertificate(certs []*x509.Certificate, want *x509.Certificate) bool {
	for _, c := range certs {
		if c.Equal(want) {
			return true
		}
	}
	return false
}

// TestHistoryScanFindsAKeystorePassword proves the scan's keystore detector:
// a password from a Secret and an inline one, planted in history as an
// activity input would carry them, are found; the request certflow does put
// in history (where the password is, not what) finds nothing.
func TestHistoryScanFindsAKeystorePassword(t *testing.T) {
	fromSecret, inline := "a keystore password kept in a Secret", "a keystore password written inline"
	secrets := []corev1.Secret{{
		ObjectMeta: metav1.ObjectMeta{Namespace: selfCheckNS, Name: "keystore-password"},
		Data:       map[string][]byte{"password": []byte(fromSecret)},
	}}
	cert := certificate(selfCheckNS, "app", "app-tls", "app.certflow.test")
	cert.Spec.Keystores = &certflowv1.CertificateKeystores{
		PKCS12: &certflowv1.PKCS12Keystore{Create: true, PasswordSecretRef: &certflowv1.KeystorePasswordSecretRef{Name: "keystore-password", Key: "password"}},
		JKS:    &certflowv1.JKSKeystore{Create: true, Password: &inline},
	}
	n := newNeedles()
	if added := n.addKeystorePasswords(secrets, []certflowv1.Certificate{*cert}); added != 2 {
		t.Fatalf("addKeystorePasswords added %d passwords, want 2", added)
	}
	for _, tc := range []struct {
		name  string
		input any
		want  string // part of the finding's what; "" for none
	}{
		{"the Secret's password in an input", struct{ Password string }{fromSecret}, "pkcs12 keystore password of Certificate team/app (Secret team/keystore-password password)"},
		{"the inline password in an input", struct{ Password string }{inline}, "jks keystore password of Certificate team/app (inline)"},
		{"the inline password as bytes", struct{ Password []byte }{[]byte(inline)}, "jks keystore password of Certificate team/app (inline)"},
		{"where the passwords are, as the request says it", struct {
			PasswordSecret, PasswordKey string
			PasswordInline              bool
		}{"keystore-password", "password", true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scan, err := n.scanEvent(activityScheduled(t, "StoreSecret", tc.input), nil)
			if err != nil {
				t.Fatal(err)
			}
			found := scan.report()
			if tc.want == "" && len(found) > 0 {
				t.Fatalf("found %v in public data", found)
			}
			if tc.want != "" && (len(found) != 1 || !strings.Contains(found[0], tc.want)) {
				t.Fatalf("found %v; want %s", found, tc.want)
			}
		})
	}
}
