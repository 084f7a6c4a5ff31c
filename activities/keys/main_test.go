package keys_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	"github.com/certflow/certflow/activities/issuers/acme"
	"github.com/certflow/certflow/activities/keys"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/sandbox"
)

// The tests share an API server with certflow's CRDs, started once per test
// binary. Making a key asks no CA: the issuer's server is never called.
var kube client.Client

const clusterNS = "certflow-system"

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "keys", func(ctx context.Context, dir string, cleanup func(func())) error {
		k8s, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: filepath.Join(dir, "kubernetes")})
		if err != nil {
			return err
		}
		cleanup(func() { _ = k8s.Stop() })
		if kube, err = k8s.Client(); err != nil {
			return err
		}
		return kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clusterNS}})
	}))
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var seq atomic.Int32

func unique(name string) string { return fmt.Sprintf("%s-%d", name, seq.Add(1)) }

// bindings are EnsurePendingKey as the worker wires it, for ACME issuers
// whose solvers use dns-01.
func bindings() []activities.Binding {
	resolver := &issuers.Resolver{Client: kube, ClusterResourceNamespace: clusterNS}
	a := &keys.Activities{Kube: kube, Issuers: resolver, Certificates: &certificates.Reader{Kube: kube}, Types: map[string]issuers.Type{
		activities.IssuerTypeACME: &acme.Activities{Issuers: resolver, Kube: kube, ChallengeTypes: []string{"dns-01"}},
	}}
	return a.Bindings()
}

func ensure(t *testing.T, in activities.EnsurePendingKeyInput) (activities.EnsurePendingKeyResult, error) {
	t.Helper()
	return activitytest.Run(t, bindings(), activities.EnsurePendingKey, in)
}

func mustEnsure(t *testing.T, in activities.EnsurePendingKeyInput) activities.EnsurePendingKeyResult {
	t.Helper()
	res, err := ensure(t, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// issuance makes a ClusterIssuer with a dns01 solver for the zone
// certflow.test and a Certificate it
// issues for the names, and returns the input of the Certificate's first
// issuance.
func issuance(t *testing.T, base string, names ...string) activities.EnsurePendingKeyInput {
	t.Helper()
	name := unique(base)
	ci := &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
		Server:     "https://acme.certflow.test/directory",
		PrivateKey: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: name + "-account"}},
		Solvers: []certflowv1.ACMEChallengeSolver{{
			Selector: &certflowv1.CertificateDNSNameSelector{DNSZones: []string{"certflow.test"}},
			DNS01:    &certflowv1.ACMEChallengeSolverDNS01{RFC2136: &certflowv1.ACMEIssuerDNS01ProviderRFC2136{Nameserver: "127.0.0.1:53"}},
		}},
	}}}
	req := activities.Request{DNSNames: names, SecretName: name + "-tls"}
	issuer := activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: name}
	cert := activitytest.Certificate("default", name, issuer, req)
	for _, obj := range []client.Object{ci, cert} {
		if err := kube.Create(testContext(t), obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kube.Delete(context.Background(), obj) })
	}
	return activities.EnsurePendingKeyInput{
		Certificate: activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name},
		Issuer:      issuer, Request: req, Revision: 1,
	}
}

func secret(t *testing.T, namespace, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := kube.Get(testContext(t), types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func pendingSecret(t *testing.T, in activities.EnsurePendingKeyInput) *corev1.Secret {
	t.Helper()
	return secret(t, in.Certificate.Namespace, activities.PendingKeySecretName(in.Certificate.Name))
}
