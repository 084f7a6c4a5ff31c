package acme_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// The stack is started once per test binary: Kubernetes (envtest with the
// CRDs), BIND for the zone certflow.test, and Pebble resolving through BIND.
var (
	kube   client.Client
	bind   *sandbox.BIND
	pebble *sandbox.Pebble
)

// clusterNS holds the Secrets of ClusterIssuers.
const clusterNS = "certflow-system"

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "acme", func(ctx context.Context, dir string, cleanup func(func())) error {
		var (
			k8s        *sandbox.Kubernetes
			kErr, dErr error
			wg         sync.WaitGroup
		)
		wg.Go(func() {
			k8s, kErr = sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: filepath.Join(dir, "kubernetes")})
		})
		wg.Go(func() {
			for _, d := range []string{"bind", "pebble"} {
				if dErr = os.MkdirAll(filepath.Join(dir, d), 0o755); dErr != nil {
					return
				}
			}
			if bind, dErr = sandbox.StartBIND(ctx, sandbox.BINDOptions{Dir: filepath.Join(dir, "bind")}); dErr != nil {
				return
			}
			pebble, dErr = sandbox.StartPebble(ctx, sandbox.PebbleOptions{Dir: filepath.Join(dir, "pebble"), DNSServer: bind.Addr})
		})
		wg.Wait()
		if k8s != nil {
			cleanup(func() { _ = k8s.Stop() })
		}
		if bind != nil {
			cleanup(func() { _ = bind.Stop() })
		}
		if pebble != nil {
			cleanup(func() { _ = pebble.Stop() })
		}
		if err := errors.Join(kErr, dErr); err != nil {
			return err
		}
		var err error
		if kube, err = k8s.Client(); err != nil {
			return err
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clusterNS}}
		tsig := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS, Name: "tsig"},
			Data: map[string][]byte{"secret": []byte(bind.TSIGSecret)}}
		return errors.Join(kube.Create(ctx, ns), kube.Create(ctx, tsig))
	}))
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newActivities() *acme.Activities {
	return &acme.Activities{
		Issuers:        &issuers.Resolver{Client: kube, ClusterResourceNamespace: clusterNS},
		Kube:           kube,
		Certificates:   &certificates.Reader{Kube: kube},
		ChallengeTypes: []string{"dns-01"},
	}
}

// bindings are the ACME activities and EnsurePendingKey, which makes the key
// an order is for, as the worker registers them.
func bindings(a *acme.Activities) []activities.Binding {
	k := &keys.Activities{Kube: a.Kube, Issuers: a.Issuers, Certificates: a.Certificates, Types: map[string]issuers.Type{activities.IssuerTypeACME: a}}
	return slices.Concat(a.Bindings(), k.Bindings())
}

// rfc2136Solver is a DNS-01 solver for BIND's zone.
func rfc2136Solver() certflowv1.ACMEChallengeSolver {
	return certflowv1.ACMEChallengeSolver{DNS01: &certflowv1.ACMEChallengeSolverDNS01{
		RFC2136: &certflowv1.ACMEIssuerDNS01ProviderRFC2136{
			Nameserver: bind.Addr, TSIGKeyName: bind.TSIGKeyName, TSIGAlgorithm: "HMACSHA256",
			TSIGSecret: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "tsig"}, Key: "secret"},
		},
	}}
}

var seq atomic.Int32

// unique makes a name used once per test binary, so that -count=N reruns
// against the same stack start from nothing (a new account, no pending key).
func unique(name string) string {
	return fmt.Sprintf("%s-%d", name, seq.Add(1))
}

// createIssuer makes a ClusterIssuer for Pebble named unique(base), with its
// own account key Secret (<name>-account) and a DNS-01 solver for BIND; edit
// changes the spec.
func createIssuer(t *testing.T, base string, edit func(*certflowv1.IssuerSpec)) activities.IssuerRef {
	t.Helper()
	name := unique(base)
	spec := certflowv1.IssuerSpec{ACME: &certflowv1.ACMEIssuer{
		Server:     pebble.DirectoryURL,
		Email:      base + "@certflow.test",
		CABundle:   pebble.CACertPEM,
		PrivateKey: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: name + "-account"}},
		Solvers:    []certflowv1.ACMEChallengeSolver{rfc2136Solver()},
	}}
	if edit != nil {
		edit(&spec)
	}
	ci := &certflowv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := kube.Create(testContext(t), ci); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), ci) })
	return activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: name}
}

// createCertificate makes Certificate default/name for the request, issued
// by the issuer (its secretName defaults to name-tls).
func createCertificate(t *testing.T, name string, issuer activities.IssuerRef, req activities.Request) activities.CertificateRef {
	t.Helper()
	req.SecretName = cmp.Or(req.SecretName, name+"-tls")
	return activitytest.ApplyCertificate(t, kube, "default", name, issuer, req)
}

// call runs one activity as a worker would, so that heartbeats work and
// the bindings are exercised.
func call[In, Out any](t *testing.T, a *acme.Activities, act activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	return activitytest.Run(t, bindings(a), act, in)
}

// must is call for steps that have to succeed.
func must[In, Out any](t *testing.T, a *acme.Activities, act activities.Activity[In, Out], in In) Out {
	t.Helper()
	res, err := call(t, a, act, in)
	if err != nil {
		t.Fatalf("%s: %v", act.Name(), err)
	}
	return res
}

// ensureAndBegin makes the issuance's key and begins its order, as the Order does.
func ensureAndBegin(t *testing.T, a *acme.Activities, in activities.BeginOrderInput) (activities.EnsurePendingKeyResult, activities.BeginOrderResult) {
	t.Helper()
	key := must(t, a, activities.EnsurePendingKey, activities.EnsurePendingKeyInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request, Revision: in.Revision,
	})
	return key, must(t, a, activities.BeginOrder, in)
}

// applicationError finds the classified error under what the test
// environment returns.
func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		t.Fatalf("error %v (%T) is not an application error", err, err)
	}
	return app
}

func mustContain(t *testing.T, what, s, want string) {
	t.Helper()
	if !strings.Contains(s, want) {
		t.Fatalf("%s = %q, want it to contain %q", what, s, want)
	}
}
