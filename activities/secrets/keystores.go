package secrets

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// Keystores are written as cert-manager writes them (its issuing controller's
// keystore.go): keystore.p12 and keystore.jks hold the key with the chain and
// the CA certificates after it; truststore.p12 and truststore.jks hold the CA
// certificates of ca.crt, and are written only when there is a ca.crt. Both
// files of a kind are encrypted with the same password. certflow's default
// PKCS#12 profile is Modern2023, where cert-manager's is LegacyRC2.
//
// The passwords are read from the API server each time they are needed, and
// go nowhere else: not into a result, an error or a log.

// keystoreKeys are the Secret's entries that keystores write.
var keystoreKeys = []string{
	certflowv1.PKCS12SecretKey, certflowv1.PKCS12TruststoreKey,
	certflowv1.JKSSecretKey, certflowv1.JKSTruststoreKey,
}

// passwords are the keystores' passwords; nil for a keystore not asked for.
type passwords struct {
	pkcs12, jks []byte
}

// keystorePasswords reads the password of each keystore ks asks for: from
// its Secret in the Certificate's namespace, or from the Certificate (cert,
// as the API server has it) for an inline one. A password that is not there
// is a configuration error naming where it was looked for.
func (a *Activities) keystorePasswords(ctx context.Context, cert *certflowv1.Certificate, ks *activities.Keystores) (passwords, error) {
	var pw passwords
	if ks == nil {
		return pw, nil
	}
	var inline struct{ pkcs12, jks *string }
	if k := cert.Spec.Keystores; k != nil && k.PKCS12 != nil {
		inline.pkcs12 = k.PKCS12.Password
	}
	if k := cert.Spec.Keystores; k != nil && k.JKS != nil {
		inline.jks = k.JKS.Password
	}
	var err error
	if ks.PKCS12 != nil {
		if pw.pkcs12, err = a.password(ctx, cert.Namespace, "pkcs12", ks.PKCS12, inline.pkcs12); err != nil {
			return passwords{}, err
		}
	}
	if ks.JKS != nil {
		if pw.jks, err = a.password(ctx, cert.Namespace, "jks", ks.JKS, inline.jks); err != nil {
			return passwords{}, err
		}
	}
	return pw, nil
}

func (a *Activities) password(ctx context.Context, namespace, kind string, k *activities.Keystore, inline *string) ([]byte, error) {
	field := "spec.keystores." + kind
	if k.PasswordInline {
		if inline == nil || *inline == "" {
			return nil, activities.ConfigErrorBecause(certflowv1.ReasonKeystorePassword, "the %s keystore's password: the Certificate's %s.password is empty", kind, field)
		}
		return []byte(*inline), nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: k.PasswordSecret}
	var s corev1.Secret
	if err := a.Kube.Get(ctx, key, &s); apierrors.IsNotFound(err) {
		return nil, activities.ConfigErrorBecause(certflowv1.ReasonKeystorePassword,
			"the %s keystore's password: Secret %s does not exist (%s.passwordSecretRef)", kind, key, field)
	} else if err != nil {
		return nil, fmt.Errorf("reading the %s keystore's password Secret %s: %w", kind, key, err)
	}
	if len(s.Data[k.PasswordKey]) == 0 {
		return nil, activities.ConfigErrorBecause(certflowv1.ReasonKeystorePassword,
			"the %s keystore's password: Secret %s has no key %q, or it is empty (%s.passwordSecretRef)", kind, key, k.PasswordKey, field)
	}
	return s.Data[k.PasswordKey], nil
}

// keystoreData encodes the keystores ks asks for from the key and chain (and
// ca.crt, when there is one) of the Secret being written.
func keystoreData(ks *activities.Keystores, pw passwords, keyPEM, chainPEM, caPEM []byte) (map[string][]byte, error) {
	data := map[string][]byte{}
	if ks == nil {
		return data, nil
	}
	key, err := pki.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("encoding keystores: the key: %w", err)
	}
	chain, err := pki.ParseChain(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("encoding keystores: the chain: %w", err)
	}
	var cas []*x509.Certificate
	if len(caPEM) > 0 {
		if cas, err = pki.ParseChain(caPEM); err != nil {
			return nil, fmt.Errorf("encoding keystores: %s: %w", keyCA, err)
		}
	}
	if k := ks.PKCS12; k != nil {
		enc := pkcs12Encoder(k.Profile)
		rest := append(append([]*x509.Certificate{}, chain[1:]...), cas...)
		if data[certflowv1.PKCS12SecretKey], err = enc.Encode(key, chain[0], rest, string(pw.pkcs12)); err != nil {
			return nil, encodeError(certflowv1.PKCS12SecretKey, err)
		}
		if len(cas) > 0 {
			if data[certflowv1.PKCS12TruststoreKey], err = enc.EncodeTrustStore(cas, string(pw.pkcs12)); err != nil {
				return nil, encodeError(certflowv1.PKCS12TruststoreKey, err)
			}
		}
	}
	if k := ks.JKS; k != nil {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: the key: %w", certflowv1.JKSSecretKey, err)
		}
		entries := make([]keystore.Certificate, len(chain))
		for i, c := range chain {
			entries[i] = keystore.Certificate{Type: "X509", Content: c.Raw}
		}
		store := keystore.New()
		now := time.Now()
		if err := store.SetPrivateKeyEntry(jksAlias(k), keystore.PrivateKeyEntry{CreationTime: now, PrivateKey: keyDER, CertificateChain: entries}, pw.jks); err != nil {
			return nil, encodeError(certflowv1.JKSSecretKey, err)
		}
		if data[certflowv1.JKSSecretKey], err = storeJKS(store, cas, pw.jks, now); err != nil {
			return nil, encodeError(certflowv1.JKSSecretKey, err)
		}
		if len(cas) > 0 {
			if data[certflowv1.JKSTruststoreKey], err = storeJKS(keystore.New(), cas, pw.jks, now); err != nil {
				return nil, encodeError(certflowv1.JKSTruststoreKey, err)
			}
		}
	}
	return data, nil
}

// encodeError is the error of encoding a keystore from a key and chain that
// parsed: what the user gave, the password (a character PKCS#12 cannot hold)
// or the alias, is at fault, and a retry would fail the same way.
func encodeError(entry string, err error) error {
	return activities.ConfigError("encoding %s (check the keystore's password and alias): %v", entry, err)
}

// pkcs12Encoder is go-pkcs12's encoder of a profile; unset is Modern2023.
func pkcs12Encoder(profile string) *pkcs12.Encoder {
	switch certflowv1.PKCS12Profile(profile) {
	case certflowv1.PKCS12ProfileLegacyRC2:
		return pkcs12.LegacyRC2
	case certflowv1.PKCS12ProfileLegacyDES:
		return pkcs12.LegacyDES
	case certflowv1.PKCS12ProfileModern2026:
		return pkcs12.Modern2026
	}
	return pkcs12.Modern2023
}

func jksAlias(k *activities.Keystore) string {
	if k.Alias == "" {
		return certflowv1.DefaultJKSAlias
	}
	return k.Alias
}

// storeJKS adds the CA certificates to a JKS store as trusted entries (ca,
// ca-1, ca-2, ..., as cert-manager names them) and encodes it.
func storeJKS(store keystore.KeyStore, cas []*x509.Certificate, password []byte, now time.Time) ([]byte, error) {
	for i, ca := range cas {
		alias := "ca"
		if i > 0 {
			alias = fmt.Sprintf("ca-%d", i)
		}
		entry := keystore.TrustedCertificateEntry{CreationTime: now, Certificate: keystore.Certificate{Type: "X509", Content: ca.Raw}}
		if err := store.SetTrustedCertificateEntry(alias, entry); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := store.Store(&buf, password); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// setKeystores replaces the Secret's keystore entries with data: entries of
// keystores no longer asked for go, as cert-manager removes them.
func setKeystores(s *corev1.Secret, data map[string][]byte) {
	for _, k := range keystoreKeys {
		delete(s.Data, k)
	}
	for k, v := range data {
		s.Data[k] = v
	}
}

// keystoresStale says why the Secret's keystores are not what ks asks for,
// "" when they are: a keystore asked for is missing, does not open with its
// password or does not hold the leaf of tls.crt; a truststore is missing
// while there is a ca.crt; or there is a keystore entry no keystore asks for.
// A changed PKCS#12 profile cannot be told from the file: it is written at
// the next store.
func keystoresStale(s *corev1.Secret, ks *activities.Keystores, pw passwords, leaf *x509.Certificate) string {
	var none activities.Keystores
	if ks == nil {
		ks = &none
	}
	hasCA := len(s.Data[keyCA]) > 0
	wanted := map[string]bool{}
	if ks.PKCS12 != nil {
		wanted[certflowv1.PKCS12SecretKey], wanted[certflowv1.PKCS12TruststoreKey] = true, hasCA
		if why := pkcs12Stale(s.Data[certflowv1.PKCS12SecretKey], pw.pkcs12, leaf); why != "" {
			return why
		}
	}
	if ks.JKS != nil {
		wanted[certflowv1.JKSSecretKey], wanted[certflowv1.JKSTruststoreKey] = true, hasCA
		if why := jksStale(s.Data[certflowv1.JKSSecretKey], pw.jks, jksAlias(ks.JKS), leaf); why != "" {
			return why
		}
	}
	for _, k := range keystoreKeys {
		switch has := len(s.Data[k]) > 0; {
		case wanted[k] && !has:
			return fmt.Sprintf("it has no %s", k)
		case !wanted[k] && has:
			return fmt.Sprintf("it has a %s that the Certificate does not ask for", k)
		}
	}
	return ""
}

func pkcs12Stale(data, password []byte, leaf *x509.Certificate) string {
	if len(data) == 0 {
		return "it has no " + certflowv1.PKCS12SecretKey
	}
	_, cert, _, err := pkcs12.DecodeChain(data, string(password))
	switch {
	case err != nil:
		return fmt.Sprintf("its %s does not open with the password: %v", certflowv1.PKCS12SecretKey, err)
	case !bytes.Equal(cert.Raw, leaf.Raw):
		return fmt.Sprintf("its %s holds another certificate than %s", certflowv1.PKCS12SecretKey, keyCert)
	}
	return ""
}

func jksStale(data, password []byte, alias string, leaf *x509.Certificate) string {
	if len(data) == 0 {
		return "it has no " + certflowv1.JKSSecretKey
	}
	store := keystore.New()
	if err := store.Load(bytes.NewReader(data), password); err != nil {
		return fmt.Sprintf("its %s does not open with the password: %v", certflowv1.JKSSecretKey, err)
	}
	entry, err := store.GetPrivateKeyEntry(alias, password)
	switch {
	case err != nil:
		return fmt.Sprintf("its %s has no key entry %q that opens with the password: %v", certflowv1.JKSSecretKey, alias, err)
	case len(entry.CertificateChain) == 0 || !bytes.Equal(entry.CertificateChain[0].Content, leaf.Raw):
		return fmt.Sprintf("its %s holds another certificate than %s", certflowv1.JKSSecretKey, keyCert)
	}
	return ""
}
