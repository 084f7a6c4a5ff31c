package acme_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestExternalAccountBindingAtACAThatRequiresIt registers accounts at a
// Pebble that requires external account binding (as ZeroSSL and Google
// Trust Services do): with the CA's key ID and MAC key the account is made;
// with a wrong key, or none, the CA refuses and the error says so.
func TestExternalAccountBindingAtACAThatRequiresIt(t *testing.T) {
	t.Parallel()
	const kid, macKey = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	ca, err := sandbox.StartPebble(testContext(t), sandbox.PebbleOptions{
		Dir: t.TempDir(), DNSServer: bind.Addr, ExternalAccountMACKeys: map[string]string{kid: macKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ca.Stop() })

	register := func(t *testing.T, name string, binding *certflowv1.ACMEExternalAccountBinding, key string) error {
		if binding != nil {
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: unique(name + "-eab")},
				Data: map[string][]byte{"secret": []byte(key)}}
			if err := kube.Create(testContext(t), secret); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kube.Delete(context.Background(), secret) })
			binding.Key = certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: secret.Name}, Key: "secret"}
		}
		issuer := createIssuer(t, name, func(s *certflowv1.IssuerSpec) {
			s.ACME.Server, s.ACME.CABundle, s.ACME.ExternalAccountBinding = ca.DirectoryURL, ca.CACertPEM, binding
		})
		_, err := call(t, newActivities(), activities.EnsureAccount, activities.EnsureAccountInput{Issuer: issuer, Generation: 1})
		return err
	}

	t.Run("the CA's key ID and MAC key register the account", func(t *testing.T) {
		if err := register(t, "eab-right", &certflowv1.ACMEExternalAccountBinding{KeyID: kid}, macKey); err != nil {
			t.Fatalf("EnsureAccount: %v", err)
		}
	})
	refusals := []struct {
		name    string
		binding *certflowv1.ACMEExternalAccountBinding
		key     string
		want    string // in the error's message
	}{
		{"a wrong MAC key", &certflowv1.ACMEExternalAccountBinding{KeyID: kid}, "c29tZSBvdGhlciBrZXkgdGhhdCB0aGUgQ0EgZG9lcyBub3Qga25vdw",
			`the CA refused the external account binding of key ID "kid-1" (spec.acme.externalAccountBinding, Secret eab-wrong-`},
		{"an unknown key ID", &certflowv1.ACMEExternalAccountBinding{KeyID: "kid-2"}, macKey,
			`the CA refused the external account binding of key ID "kid-2"`},
		{"no binding", nil, "", "externalAccountRequired: ACME server policy requires newAccount requests must include a value for the 'externalAccountBinding' field"},
	}
	for _, tc := range refusals {
		t.Run(tc.name+" is a configuration error, in the CA's words", func(t *testing.T) {
			err := register(t, "eab-wrong", tc.binding, tc.key)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != activities.ErrTypeConfig || !strings.Contains(app.Message(), tc.want) {
				t.Fatalf("EnsureAccount: %v, want a configuration error saying %q", err, tc.want)
			}
		})
	}
}
