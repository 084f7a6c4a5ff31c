package secrets

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/sandbox"
)

// kube reaches the API server every test here shares.
var kube client.Client

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "secrets", func(ctx context.Context, dir string, cleanup func(func())) error {
		k, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: dir})
		if err != nil {
			return err
		}
		cleanup(func() { _ = k.Stop() })
		kube, err = k.Client()
		return err
	}))
}

var namespaces atomic.Int32

// namespace creates a namespace of the test's own.
func namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("secrets-%d", namespaces.Add(1))
	if err := kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func env() *testsuite.TestActivityEnvironment {
	a := &Activities{Kube: kube, Certificates: &certificates.Reader{Kube: kube}, Issuers: &issuers.Resolver{Client: kube}}
	return activitytest.Env(a.Bindings())
}

// applyCertificate creates or updates Certificate ns/name so that it asks
// for req, issued by issuer, and returns InspectSecret's input for it.
func applyCertificate(t *testing.T, ns, name string, issuer activities.IssuerRef, req activities.Request) activities.InspectSecretInput {
	t.Helper()
	return activities.InspectSecretInput{Certificate: activitytest.ApplyCertificate(t, kube, ns, name, issuer, req)}
}

func execute[In, Out any](t *testing.T, e *testsuite.TestActivityEnvironment, a activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	return activitytest.RunIn(t, e, a, in)
}

// testCA is a throwaway CA. Go gives a CA certificate a subject key ID and
// every certificate it signs the matching authority key ID, which ARI needs.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := pki.GenerateKey(pki.ECDSA, 256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certflow test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// leafSpec is what a test certificate says.
type leafSpec struct {
	commonName string
	dnsNames   []string
	ips        []string
	algorithm  string // pki.RSA, pki.ECDSA, pki.Ed25519
	size       int
	notAfter   time.Time // zero: in 90 days
	serial     int64     // zero: random
}

// issued is a test certificate: its chain (leaf, CA), its key and the leaf.
type issued struct {
	chainPEM string
	keyPEM   []byte
	leaf     *x509.Certificate
}

func (ca *testCA) issue(t *testing.T, s leafSpec) issued {
	t.Helper()
	key, err := pki.GenerateKey(s.algorithm, s.size)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key, pki.PKCS1)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(s.serial)
	if s.serial == 0 {
		serial, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: s.commonName}, DNSNames: s.dnsNames,
		NotBefore: s.notAfter.Add(-90 * 24 * time.Hour), NotAfter: s.notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + ca.pem
	return issued{chainPEM: chain, keyPEM: keyPEM, leaf: leaf}
}

// pendingKey creates the pending key Secret of a Certificate, as BeginOrder would.
func pendingKey(t *testing.T, ns, cert string, keyPEM []byte) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: activities.PendingKeySecretName(cert),
			Labels: map[string]string{activities.LabelPendingKey: "true"}},
		Data: map[string][]byte{PendingKeyDataKey: keyPEM},
	}
	if err := kube.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// secret reads a Secret; nil when it does not exist.
func secret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := kube.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil
		}
		t.Fatal(err)
	}
	return &s
}

// createSecret creates a Secret with the given type, labels and data.
func createSecret(t *testing.T, ns, name string, typ corev1.SecretType, labels map[string]string, data map[string][]byte) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Type: typ, Data: data}
	if err := kube.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}
