package tests

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
)

// bootstrapCA is cert-manager's documented CA bootstrap, with only
// apiVersion changed: a selfSigned ClusterIssuer signs a root CA
// Certificate, whose Secret a ca ClusterIssuer signs leaves with.
const bootstrapCA = `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata:
  name: selfsigned
spec:
  selfSigned: {}
---
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata:
  name: root-ca
  namespace: certflow
spec:
  isCA: true
  commonName: certflow-test-root
  secretName: root-ca
  duration: 2160h
  privateKey:
    algorithm: ECDSA
    size: 256
  nameConstraints:
    critical: true
    permitted:
      dnsDomains: [svc.cluster.local]
  issuerRef:
    name: selfsigned
    kind: ClusterIssuer
    group: cert-manager.io
---
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata:
  name: internal-ca
spec:
  ca:
    secretName: root-ca
    crlDistributionPoints: [http://crl.certflow.test/root.crl]
    ocspServers: [http://ocsp.certflow.test]
---
apiVersion: certflow.dev/v1alpha1
kind: Certificate
metadata:
  name: backend
  namespace: apps
spec:
  secretName: backend-tls
  dnsNames: [backend.apps.svc.cluster.local]
  usages: [server auth, client auth]
  duration: 720h
  issuerRef:
    name: internal-ca
    kind: ClusterIssuer
    group: cert-manager.io
`

// TestCAIssuerChain applies the bootstrap chain as manifests and checks the
// root (self-signed, a CA with its name constraints) and the leaf (signed
// by the root, with the usages, duration and the issuer's URLs) verify, and
// that a renewal of the root reaches the leaf.
func TestCAIssuerChain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.namespace("apps")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap.yaml"), []byte(bootstrapCA), 0o600); err != nil {
		t.Fatal(err)
	}
	w.kubectlApply("", dir)

	w.waitReady("certflow", "root-ca")
	root := w.tlsSecret("certflow", "root-ca")
	if !root.leaf.IsCA || root.leaf.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("root: isCA %v, key usage %b: want a CA that signs certificates", root.leaf.IsCA, root.leaf.KeyUsage)
	}
	if err := root.leaf.CheckSignatureFrom(root.leaf); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	if got := root.leaf.PermittedDNSDomains; len(got) != 1 || got[0] != "svc.cluster.local" || !root.leaf.PermittedDNSDomainsCritical {
		t.Errorf("root name constraints: %v (critical %v), want svc.cluster.local, critical", got, root.leaf.PermittedDNSDomainsCritical)
	}

	w.waitReady("apps", "backend")
	leaf := w.tlsSecret("apps", "backend-tls")
	roots := x509.NewCertPool()
	caPEM, err := pki.ParseChain(leaf.secret.Data["ca.crt"])
	if err != nil {
		t.Fatalf("ca.crt: %v", err)
	}
	if !caPEM[0].Equal(root.leaf) {
		t.Errorf("ca.crt is %q, want the root", caPEM[0].Subject)
	}
	roots.AddCert(root.leaf)
	if _, err := leaf.leaf.Verify(x509.VerifyOptions{DNSName: "backend.apps.svc.cluster.local", Roots: roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the leaf does not verify against the root as a client certificate: %v", err)
	}
	if d := leaf.leaf.NotAfter.Sub(leaf.leaf.NotBefore); d < 720*time.Hour || d > 721*time.Hour {
		t.Errorf("leaf lives %s, want 720h", d)
	}
	if len(leaf.leaf.CRLDistributionPoints) != 1 || len(leaf.leaf.OCSPServer) != 1 {
		t.Errorf("leaf CRL %v, OCSP %v: want the issuer's", leaf.leaf.CRLDistributionPoints, leaf.leaf.OCSPServer)
	}
	if !pki.KeyMatches(leaf.leaf, leaf.key) {
		t.Error("tls.key is not the leaf's key")
	}

	// A renewed root rolls through to the leaf: signed again, with the new
	// root in ca.crt.
	if err := w.temporal.SignalWorkflow(w.ctx, "sandbox/certificate/certflow/root-ca", "", "renew", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		newRoot, newLeaf := w.tlsSecret("certflow", "root-ca"), w.tlsSecret("apps", "backend-tls")
		ca, err := pki.ParseChain(newLeaf.secret.Data["ca.crt"])
		if !newRoot.leaf.Equal(root.leaf) && err == nil && ca[0].Equal(newRoot.leaf) && newLeaf.leaf.CheckSignatureFrom(newRoot.leaf) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leaf was not signed again by the renewed root within a minute (root renewed: %v; ca.crt %v is the new root: %v; signature: %v; leaf AKI %x, root SKI %x old %x)",
				!newRoot.leaf.Equal(root.leaf), err, err == nil && ca[0].Equal(newRoot.leaf), newLeaf.leaf.CheckSignatureFrom(newRoot.leaf),
				newLeaf.leaf.AuthorityKeyId, newRoot.leaf.SubjectKeyId, root.leaf.SubjectKeyId)
		}
		time.Sleep(200 * time.Millisecond)
	}

	var ca certflowv1.ClusterIssuer
	if err := w.kube.Get(w.ctx, client.ObjectKey{Name: "internal-ca"}, &ca); err != nil {
		t.Fatal(err)
	}
	w.waitClusterIssuerReady("internal-ca", time.Minute)
	if err := w.kube.Get(w.ctx, client.ObjectKey{Name: "internal-ca"}, &ca); err != nil {
		t.Fatal(err)
	}
	if ready := meta.FindStatusCondition(ca.Status.Conditions, certflowv1.ConditionReady); ready == nil || ready.Reason != "KeyPairVerified" {
		t.Errorf("internal-ca Ready: %+v, want KeyPairVerified", ready)
	}
}
