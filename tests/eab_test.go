package tests

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// eabIssuer is cert-manager's documented ClusterIssuer for a CA that
// requires external account binding (ZeroSSL's example), with apiVersion
// changed; the CA, its bundle, the key ID, the solver's nameserver and TSIG
// key name are filled in.
const eabIssuer = `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata:
  name: %[1]s
spec:
  acme:
    server: %[2]s
    caBundle: %[3]s
    email: ops@certflow.test
    externalAccountBinding:
      keyID: %[4]s
      keySecretRef:
        name: %[1]s-eab
        key: secret
      keyAlgorithm: HS256
    privateKeySecretRef:
      name: %[1]s-account
    solvers:
    - dns01:
        rfc2136:
          nameserver: %[5]s
          tsigKeyName: %[6]s
          tsigAlgorithm: HMACSHA256
          tsigSecretSecretRef:
            name: bind-tsig
            key: secret
---
apiVersion: v1
kind: Secret
metadata:
  name: %[1]s-eab
  namespace: certflow
stringData:
  secret: %[7]s
`

// TestExternalAccountBinding applies cert-manager's EAB ClusterIssuer at a
// Pebble that requires binding: with the CA's key ID and MAC key it issues;
// with a wrong MAC key the issuer is not Ready and says the CA refused the
// binding.
func TestExternalAccountBinding(t *testing.T) {
	t.Parallel()
	const kid, macKey = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	w := newWorldWith(t, worldOptions{noIssuer: true, stack: sandbox.Options{Pebble: sandbox.PebbleOptions{ExternalAccountMACKeys: map[string]string{kid: macKey}}}})
	const ns = "eab"
	w.namespace(ns)
	apply := func(name, key string) {
		caBundle := base64.StdEncoding.EncodeToString(w.proxy.CACertPEM)
		manifest := fmt.Sprintf(eabIssuer, name, w.proxy.DirectoryURL, caBundle, kid, w.stack.BIND.Addr, w.stack.BIND.TSIGKeyName, key)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "issuer.yaml"), []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		w.kubectlApply("", dir)
	}
	apply("zerossl", macKey)
	apply("wrong-mac", "c29tZSBvdGhlciBrZXkgdGhhdCB0aGUgQ0EgZG9lcyBub3Qga25vdw")

	w.waitClusterIssuerReady("zerossl", time.Minute)
	cert := certificate(ns, "bound", "bound-tls", "bound.certflow.test")
	cert.Spec.IssuerRef.Name = "zerossl"
	w.create(cert)
	w.waitReady(ns, "bound")
	w.verify(w.tlsSecret(ns, "bound-tls"), "bound.certflow.test")

	deadline := time.Now().Add(time.Minute)
	for {
		var iss certflowv1.ClusterIssuer
		if err := w.kube.Get(w.ctx, client.ObjectKey{Name: "wrong-mac"}, &iss); err != nil {
			t.Fatal(err)
		}
		ready := meta.FindStatusCondition(iss.Status.Conditions, certflowv1.ConditionReady)
		if ready != nil && ready.Status == "False" {
			if want := `the CA refused the external account binding of key ID "kid-1"`; !strings.Contains(ready.Message, want) {
				t.Errorf("wrong-mac Ready: %q, want it to say %q", ready.Message, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wrong-mac: no Ready=False within a minute: %+v", ready)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
