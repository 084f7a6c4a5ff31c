package permits_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
	"github.com/certflow/certflow/activities/permits"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/sandbox"
)

// The tests share a Temporal dev server and an API server with certflow's
// CRDs, started once per test binary.
var (
	temporal client.Client
	kube     ctrlclient.Client
)

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "permits", func(ctx context.Context, dir string, cleanup func(func())) error {
		var (
			k8s        *sandbox.Kubernetes
			tmp        *sandbox.Temporal
			kErr, tErr error
			wg         sync.WaitGroup
		)
		wg.Go(func() {
			k8s, kErr = sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: filepath.Join(dir, "kubernetes")})
		})
		wg.Go(func() {
			if tErr = os.MkdirAll(filepath.Join(dir, "temporal"), 0o755); tErr == nil {
				tmp, tErr = sandbox.StartTemporal(ctx, sandbox.TemporalOptions{Dir: filepath.Join(dir, "temporal")})
			}
		})
		wg.Wait()
		if k8s != nil {
			cleanup(func() { _ = k8s.Stop() })
		}
		if tmp != nil {
			cleanup(func() { _ = tmp.Stop() })
		}
		if err := errors.Join(kErr, tErr); err != nil {
			return err
		}
		var err error
		if kube, err = k8s.Client(); err != nil {
			return err
		}
		if temporal, err = tmp.Dial(ctx); err != nil {
			return err
		}
		cleanup(temporal.Close)
		return nil
	}))
}

var seq atomic.Int32

// unique makes a name used once per test binary, so that -count=N reruns
// start from a new limiter.
func unique(name string) string { return fmt.Sprintf("%s-%d", name, seq.Add(1)) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testCluster is the cluster's name in the limiters' workflow IDs.
const testCluster = "test"

// newActivities are the activities as the worker builds them, on taskQueue.
func newActivities(taskQueue string) *permits.Activities {
	return &permits.Activities{Temporal: temporal, TaskQueue: taskQueue, Cluster: testCluster, Issuers: &issuers.Resolver{Client: kube},
		Certificates: &certificates.Reader{Kube: kube}}
}

// acmeSpec is an ACME issuer's spec with the given budgets.
func acmeSpec(limits *certflowv1.RateLimits) certflowv1.IssuerSpec {
	return certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
		Server:     "https://acme.certflow.test/dir",
		PrivateKey: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "account"}},
		RateLimits: limits,
	}}
}

// createIssuer makes a ClusterIssuer named unique(base) and ends its limiter
// after the test.
func createIssuer(t *testing.T, base string, spec certflowv1.IssuerSpec) activities.IssuerRef {
	t.Helper()
	ci := &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: unique(base)}, Spec: spec}
	if err := kube.Create(testContext(t), ci); err != nil {
		t.Fatal(err)
	}
	ref := activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: ci.Name}
	t.Cleanup(func() {
		_ = kube.Delete(context.Background(), ci)
		_ = temporal.TerminateWorkflow(context.Background(), activities.LimiterWorkflowID(testCluster, ref), "", "test over")
	})
	return ref
}

func limit(n int32, period time.Duration) *certflowv1.RateLimit {
	return &certflowv1.RateLimit{Limit: n, Period: metav1.Duration{Duration: period}}
}

// certificateOf is a Certificate in namespace default issued by the issuer:
// permits are asked for a Certificate that names the issuer.
func certificateOf(t *testing.T, issuer activities.IssuerRef) activities.CertificateRef {
	t.Helper()
	name := "cert-of-" + issuer.Name
	return activitytest.ApplyCertificate(t, kube, "default", name, issuer,
		activities.Request{DNSNames: []string{name + ".example.com"}, SecretName: name + "-tls"})
}
