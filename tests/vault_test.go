package tests

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/standin/vault"
)

// vaultIssuers are cert-manager's documented Vault Issuers (token, AppRole,
// Kubernetes auth with a ServiceAccount and the Role that lets the issuer
// request its tokens) with a Certificate each, apiVersion changed. The
// token issuer also names a Vault Enterprise namespace. Placeholders in
// braces are the stand-in's address, its TLS CA and the credentials.
const vaultIssuers = `
apiVersion: v1
kind: Secret
type: Opaque
metadata:
  name: cert-manager-vault-token
  namespace: apps
data:
  token: "{token}"
---
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata:
  name: vault-issuer
  namespace: apps
spec:
  vault:
    path: pki_int/sign/example-dot-com
    server: {server}
    namespace: team-a
    caBundle: {caBundle}
    auth:
      tokenSecretRef:
          name: cert-manager-vault-token
          key: token
---
apiVersion: v1
kind: Secret
type: Opaque
metadata:
  name: cert-manager-vault-approle
  namespace: apps
data:
  secretId: "{secretId}"
---
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata:
  name: vault-approle
  namespace: apps
spec:
  vault:
    path: pki_int/sign/example-dot-com
    server: {server}
    namespace: team-a
    caBundle: {caBundle}
    auth:
      appRole:
        path: approle
        roleId: "291b9d21-8ff5-f5b4-e46e-7bcd2bfc8cf5"
        secretRef:
          name: cert-manager-vault-approle
          key: secretId
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: vault-issuer
  namespace: apps
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: vault-issuer
  namespace: apps
rules:
  - apiGroups: ['']
    resources: ['serviceaccounts/token']
    resourceNames: ['vault-issuer']
    verbs: ['create']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: vault-issuer
  namespace: apps
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: vault-issuer
subjects:
  - kind: ServiceAccount
    name: certflow
    namespace: certflow
---
apiVersion: certflow.dev/v1alpha1
kind: Issuer
metadata:
  name: vault-kubernetes
  namespace: apps
spec:
  vault:
    path: pki_int/sign/example-dot-com
    server: {server}
    namespace: team-a
    caBundle: {caBundle}
    auth:
      kubernetes:
        role: my-app-1
        mountPath: /v1/auth/kubernetes
        serviceAccountRef:
          name: vault-issuer
---
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata:
  name: example-com
  namespace: apps
spec:
  secretName: example-com-tls
  duration: 720h
  issuerRef:
    name: vault-issuer
  commonName: www.example.com
  dnsNames:
  - www.example.com
  - api.example.com
---
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata:
  name: approle
  namespace: apps
spec:
  secretName: approle-tls
  issuerRef:
    name: vault-approle
  dnsNames:
  - approle.example.com
---
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata:
  name: kubernetes
  namespace: apps
spec:
  secretName: kubernetes-tls
  issuerRef:
    name: vault-kubernetes
  dnsNames:
  - kubernetes.example.com
`

// TestVaultIssuer issues Certificates through cert-manager's Vault Issuer
// manifests against the Vault stand-in (which signs for real under its
// root), with each auth method, and checks what users see when Vault says
// no: a wrong token leaves the issuer not Ready with Vault's answer until
// the Secret is fixed; a name the role does not allow fails the Certificate
// with Vault's message.
func TestVaultIssuer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.namespace("apps")
	token, secretID := randomCredential(t), randomCredential(t)
	clientset, err := kubernetes.NewForConfig(w.stack.Kubernetes.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := vault.Start(vault.Config{
		Namespace: "team-a", Tokens: []string{token}, AppRoles: map[string]string{"291b9d21-8ff5-f5b4-e46e-7bcd2bfc8cf5": secretID},
		KubernetesRoles: map[string]vault.KubernetesRole{"my-app-1": {
			ServiceAccountNames: []string{"vault-issuer"}, ServiceAccountNamespaces: []string{"apps"}, Audience: "vault://apps/vault-kubernetes",
		}},
		Kubernetes: clientset, Mount: "pki_int",
		Roles: map[string]vault.Role{"example-dot-com": {AllowedDomains: []string{"example.com"}, AllowSubdomains: true, MaxTTL: 2160 * time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	w.credentials = map[string][]byte{"the Vault stand-in's token": []byte(token), "the AppRole secret ID": []byte(secretID)}
	// Runs before the world's history scan (clean-ups run last first).
	t.Cleanup(func() {
		for i, issued := range srv.IssuedTokens() {
			w.credentials[fmt.Sprintf("Vault login token %d", i)] = []byte(issued)
		}
	})

	manifests := strings.NewReplacer("{server}", srv.URL, "{caBundle}", base64.StdEncoding.EncodeToString(srv.TLSCAPEM),
		"{token}", base64.StdEncoding.EncodeToString([]byte(token)), "{secretId}", base64.StdEncoding.EncodeToString([]byte(secretID))).Replace(vaultIssuers)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vault.yaml"), []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	w.kubectlApply("", dir)

	t.Run("each auth method issues a chain that verifies against Vault's root", func(t *testing.T) {
		w := w.in(t)
		for cert, names := range map[string][]string{
			"example-com": {"www.example.com", "api.example.com"}, "approle": {"approle.example.com"}, "kubernetes": {"kubernetes.example.com"},
		} {
			w.waitReady("apps", cert)
			is := w.tlsSecret("apps", cert+"-tls")
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(srv.Root)
			for _, c := range is.chain[1:] {
				inters.AddCert(c)
			}
			for _, name := range names {
				if _, err := is.leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inters}); err != nil {
					t.Errorf("%s: the certificate for %s does not verify against the stand-in's root: %v", cert, name, err)
				}
			}
			if !pki.KeyMatches(is.leaf, is.key) {
				t.Errorf("%s: tls.key is not the certificate's key", cert)
			}
			ca, err := pki.ParseChain(is.secret.Data["ca.crt"])
			if err != nil || !ca[0].Equal(srv.Root) {
				t.Errorf("%s: ca.crt is not Vault's root (%v)", cert, err)
			}
			if is.leaf.Subject.CommonName != names[0] && cert == "example-com" {
				t.Errorf("%s: common name %q, want %q", cert, is.leaf.Subject.CommonName, names[0])
			}
		}
		if d := w.tlsSecret("apps", "example-com-tls").leaf; d.NotAfter.Sub(d.NotBefore) < 720*time.Hour || d.NotAfter.Sub(d.NotBefore) > 721*time.Hour {
			t.Errorf("example-com lives %s, want its duration 720h sent as the ttl", d.NotAfter.Sub(d.NotBefore))
		}
		for _, name := range []string{"vault-issuer", "vault-approle", "vault-kubernetes"} {
			// The Issuer workflow writes this in its own time: a Certificate may be Ready first.
			w.waitIssuer("apps", name, 30*time.Second, "Ready=True VaultVerified", func(c *metav1.Condition) bool {
				return c.Status == metav1.ConditionTrue && c.Reason == certflowv1.ReasonVaultVerified
			})
		}
		var namespaced, without int
		for _, r := range srv.Requests() {
			switch {
			case r.Path == "/v1/sys/health":
			case r.Namespace == "team-a":
				namespaced++
			default:
				without++
			}
		}
		if namespaced == 0 || without != 0 {
			t.Errorf("%d requests sent X-Vault-Namespace team-a, %d did not: want all", namespaced, without)
		}
	})

	t.Run("a wrong token leaves the issuer not Ready with Vault's answer until the Secret is fixed", func(t *testing.T) {
		w := w.in(t)
		wrong := randomCredential(t)
		w.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "wrong-token"}, Data: map[string][]byte{"token": []byte(wrong)}})
		w.create(&certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "vault-wrong"}, Spec: certflowv1.IssuerSpec{Vault: &certflowv1.VaultIssuer{
			Server: srv.URL, Path: "pki_int/sign/example-dot-com", Namespace: "team-a", CABundle: srv.TLSCAPEM,
			Auth: certflowv1.VaultAuth{TokenSecretRef: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "wrong-token"}}},
		}}})
		ready := w.waitIssuer("apps", "vault-wrong", time.Minute, "Ready=False", func(c *metav1.Condition) bool { return c.Status == metav1.ConditionFalse })
		if !strings.Contains(ready.Message, "Vault answered 403: permission denied") || strings.Contains(ready.Message, wrong) || ready.Reason != "Misconfigured" {
			t.Errorf("Ready %s: %q, want Misconfigured saying Vault's 403 and not the token", ready.Reason, ready.Message)
		}
		w.credentials["the wrong Vault token"] = []byte(wrong)
		var secret corev1.Secret
		if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: "apps", Name: "wrong-token"}, &secret); err != nil {
			t.Fatal(err)
		}
		secret.Data["token"] = []byte(token)
		if err := w.kube.Update(w.ctx, &secret); err != nil {
			t.Fatal(err)
		}
		// The backoff after the first failure is a minute or more: Ready within
		// 30 s means the changed Secret made the issuer look again.
		w.waitIssuer("apps", "vault-wrong", 30*time.Second, "Ready=True after the Secret was fixed", func(c *metav1.Condition) bool {
			return c.Status == metav1.ConditionTrue && c.Reason == certflowv1.ReasonVaultVerified
		})
	})

	t.Run("a name the role does not allow fails with Vault's message", func(t *testing.T) {
		w := w.in(t)
		c := certificate("apps", "other", "other-tls", "www.other.test")
		c.Spec.IssuerRef = certflowv1.ObjectReference{Name: "vault-issuer"}
		w.create(c)
		cert := w.waitFor("apps", "other", time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
			return c.Status.FailedIssuanceAttempts != nil && *c.Status.FailedIssuanceAttempts >= 1
		})
		issuing := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionIssuing)
		if issuing == nil || !strings.Contains(issuing.Message, "subject alternate name www.other.test not allowed by this role") {
			t.Errorf("Issuing %+v, want Vault's message naming www.other.test", issuing)
		}
	})
}

// issuerReady is the Issuer's Ready condition, nil when it has none.
func (w *world) issuerReady(namespace, name string) *metav1.Condition {
	w.t.Helper()
	var iss certflowv1.Issuer
	if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &iss); err != nil {
		w.t.Fatal(err)
	}
	return meta.FindStatusCondition(iss.Status.Conditions, certflowv1.ConditionReady)
}

// waitIssuer polls the Issuer's Ready condition until ok says yes.
func (w *world) waitIssuer(namespace, name string, timeout time.Duration, what string, ok func(*metav1.Condition) bool) *metav1.Condition {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ready := w.issuerReady(namespace, name); ready != nil && ok(ready) {
			return ready
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("Issuer %s/%s: %s did not happen within %s; Ready: %+v", namespace, name, what, timeout, w.issuerReady(namespace, name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// randomCredential is a fresh random token.
func randomCredential(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "hvs." + hex.EncodeToString(b)
}
