package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// TestLive signs a CSR through a real Vault: VAULT_ADDR, VAULT_TOKEN,
// VAULT_PKI_PATH (a sign endpoint such as pki/sign/web) and
// CERTFLOW_LIVE_VAULT_NAME (a name its role allows); VAULT_NAMESPACE and
// VAULT_CACERT (a PEM file) when the server needs them.
func TestLive(t *testing.T) {
	env := map[string]string{}
	for _, name := range []string{"VAULT_ADDR", "VAULT_TOKEN", "VAULT_PKI_PATH", "CERTFLOW_LIVE_VAULT_NAME"} {
		if env[name] = os.Getenv(name); env[name] == "" {
			t.Skip("set VAULT_ADDR, VAULT_TOKEN, VAULT_PKI_PATH and CERTFLOW_LIVE_VAULT_NAME to run this test against a real Vault")
		}
	}
	spec := &certflowv1.VaultIssuer{Server: env["VAULT_ADDR"], Path: env["VAULT_PKI_PATH"], Namespace: os.Getenv("VAULT_NAMESPACE"),
		Auth: certflowv1.VaultAuth{TokenSecretRef: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "vault"}}}}
	if file := os.Getenv("VAULT_CACERT"); file != "" {
		bundle, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		spec.CABundle = bundle
	}
	a, iss := newActivities(t, certflowv1.IssuerSpec{Vault: spec}, env["VAULT_TOKEN"])
	ctx := context.Background()
	if _, err := a.CheckIssuer(ctx, activities.CheckIssuerInput{Issuer: iss.Ref}); err != nil {
		t.Fatalf("checking the issuer: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	name := env["CERTFLOW_LIVE_VAULT_NAME"]
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.sign(ctx, iss, activities.SignInput{Issuer: iss.Ref, CSR: csr, Request: activities.Request{Duration: time.Hour}})
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	_, root := verify(t, res, mustParse(t, res.CAPEM))
	t.Logf("signed for %s up to %q, until %s", name, root.Subject, res.Issued.NotAfter)
}
