package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/pki"
	standin "github.com/certflow/certflow/internal/standin/vault"
)

// TestAgainstStandIn runs the issuer's calls against the Vault stand-in
// (no Kubernetes, no Temporal): each case is an Issuer of namespace apps
// whose token Secret holds a token.
func TestAgainstStandIn(t *testing.T) {
	const good, wrong = "hvs.good-token-0123456789", "hvs.wrong-token-9876543210"
	srv, err := standin.Start(standin.Config{
		Namespace: "team-a", Tokens: []string{good}, AppRoles: map[string]string{"role-id-1": "secret-id-1"}, Mount: "pki",
		Roles: map[string]standin.Role{"web": {AllowedDomains: []string{"example.test"}, AllowSubdomains: true, MaxTTL: 24 * time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrFor := func(names ...string) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tokenAuth := certflowv1.VaultAuth{TokenSecretRef: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "vault"}}}
	issuer := func(change func(*certflowv1.VaultIssuer)) certflowv1.IssuerSpec {
		v := &certflowv1.VaultIssuer{Server: srv.URL, Path: "pki/sign/web", Namespace: "team-a", CABundle: srv.TLSCAPEM, Auth: tokenAuth}
		if change != nil {
			change(v)
		}
		return certflowv1.IssuerSpec{Vault: v}
	}
	for _, tc := range []struct {
		name    string
		spec    certflowv1.IssuerSpec
		token   string
		names   []string
		wantErr string // "" for success; "retry" for a retryable error
	}{
		{"a token signs a name the role allows, with the chain up to the root", issuer(nil), good, []string{"web.example.test"}, ""},
		{"AppRole logs in and signs", issuer(func(v *certflowv1.VaultIssuer) {
			v.Auth = certflowv1.VaultAuth{AppRole: &certflowv1.VaultAppRole{Path: "approle", RoleID: "role-id-1",
				SecretRef: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "vault"}, Key: "token"}}}
		}), "secret-id-1", []string{"api.example.test"}, ""},
		{"a wrong token is a configuration error saying Vault's 403", issuer(nil), wrong, []string{"web.example.test"}, "Vault answered 403: permission denied"},
		{"a wrong AppRole secret ID is a configuration error", issuer(func(v *certflowv1.VaultIssuer) {
			v.Auth = certflowv1.VaultAuth{AppRole: &certflowv1.VaultAppRole{Path: "approle", RoleID: "role-id-1",
				SecretRef: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "vault"}, Key: "token"}}}
		}), "secret-id-2", []string{"api.example.test"}, "invalid role or secret ID"},
		{"a name the role does not allow is a configuration error with Vault's message", issuer(nil), good, []string{"web.other.test"},
			"common name web.other.test not allowed by this role"},
		{"another Vault namespace finds nothing", issuer(func(v *certflowv1.VaultIssuer) { v.Namespace = "team-b" }), good, []string{"web.example.test"},
			"Vault answered 404"},
		{"a server whose certificate the CA bundle does not verify is a configuration error", issuer(func(v *certflowv1.VaultIssuer) { v.CABundle = nil }),
			good, []string{"web.example.test"}, "TLS certificate does not verify"},
		{"an unreachable Vault is retried", issuer(func(v *certflowv1.VaultIssuer) { v.Server = "https://127.0.0.1:1" }), good, []string{"web.example.test"}, "retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, iss := newActivities(t, tc.spec, tc.token)
			ctx := context.Background()
			res, err := a.sign(ctx, iss, activities.SignInput{Issuer: iss.Ref, CSR: csrFor(tc.names...), Request: activities.Request{Duration: 48 * time.Hour}})
			_, checkErr := a.CheckIssuer(ctx, activities.CheckIssuerInput{Issuer: iss.Ref})
			if tc.wantErr == "" {
				if err != nil || checkErr != nil {
					t.Fatalf("sign: %v; check: %v", err, checkErr)
				}
				leaf, root := verify(t, res, srv.Root)
				if leaf.DNSNames[0] != tc.names[0] || leaf.NotAfter.Sub(leaf.NotBefore) > 25*time.Hour {
					t.Errorf("leaf for %v living %s, want %v capped by the role's 24h", leaf.DNSNames, leaf.NotAfter.Sub(leaf.NotBefore), tc.names)
				}
				if !root.Equal(srv.Root) || res.Issued.ARICertID != "" {
					t.Errorf("ca.crt %q, ARI %q: want the stand-in's root and no ARI", root.Subject, res.Issued.ARICertID)
				}
				return
			}
			if strings.Contains(tc.wantErr, "not allowed") {
				if checkErr != nil {
					t.Errorf("check: %v, want none: the login works", checkErr)
				}
				checkErr = err // only signing fails
			}
			for what, err := range map[string]error{"sign": err, "check": checkErr} {
				var app *temporal.ApplicationError
				isConfig := errors.As(err, &app) && app.Type() == activities.ErrTypeConfig
				switch {
				case err == nil:
					t.Errorf("%s: no error", what)
				case strings.Contains(err.Error(), tc.token):
					t.Errorf("%s: the error holds the credential: %v", what, err)
				case tc.wantErr == "retry" && isConfig:
					t.Errorf("%s: %v is a configuration error, want a retryable one", what, err)
				case tc.wantErr != "retry" && (!isConfig || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("%s: %v, want a configuration error saying %q", what, err, tc.wantErr)
				}
			}
		})
	}
	var namespaces int
	for _, r := range srv.Requests() {
		if r.Path != "/v1/sys/health" && r.Namespace != "" {
			namespaces++
		}
	}
	if namespaces == 0 {
		t.Error("no request sent X-Vault-Namespace")
	}
}

// newActivities are the activities with a fake API server holding Secret
// apps/vault (key token: token) and Issuer apps/vault of spec.
func newActivities(t *testing.T, spec certflowv1.IssuerSpec, token string) (*Activities, *issuers.Issuer) {
	t.Helper()
	scheme, err := connect.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "vault"}, Data: map[string][]byte{"token": []byte(token + "\n")}},
		&certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "vault"}, Spec: spec},
	).Build()
	a := &Activities{Issuers: &issuers.Resolver{Client: kube}}
	iss, err := a.resolve(context.Background(), activities.IssuerRef{Kind: activities.KindIssuer, Namespace: "apps", Name: "vault"})
	if err != nil {
		t.Fatal(err)
	}
	return a, iss
}

// verify checks the chain of res verifies up to root and returns the leaf
// and ca.crt.
func verify(t *testing.T, res activities.FinalizeResult, root *x509.Certificate) (*x509.Certificate, *x509.Certificate) {
	t.Helper()
	chain, err := pki.ParseChain([]byte(res.ChainPEM))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ParseChain([]byte(res.CAPEM))
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inters.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: chain[0].DNSNames[0]}); err != nil {
		t.Errorf("the chain does not verify against the stand-in's root: %v", err)
	}
	return chain[0], ca[0]
}

// mustParse is the first certificate of a PEM chain.
func mustParse(t *testing.T, chainPEM string) *x509.Certificate {
	t.Helper()
	chain, err := pki.ParseChain([]byte(chainPEM))
	if err != nil {
		t.Fatal(err)
	}
	return chain[0]
}
