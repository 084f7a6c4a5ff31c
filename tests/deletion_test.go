package tests

import (
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/controller"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestDeletionDoesNotHangWhenTemporalIsDown: a deleted Certificate waits
// for its workflow to stop and clean up, but not forever: with Temporal
// down, it goes when --finalizer-timeout has passed, with a Warning Event
// that says what may be left; with the force-delete annotation, at once.
func TestDeletionDoesNotHangWhenTemporalIsDown(t *testing.T) {
	t.Parallel()
	const timeout = 15 * time.Second
	w := newWorldWith(t, worldOptions{
		stack:        sandbox.Options{Temporal: sandbox.TemporalOptions{Persistent: true}},
		certflowArgs: []string{"--finalizer-timeout", timeout.String()},
	})
	const ns = "deletion"
	w.namespace(ns)
	waited, forced := certificate(ns, "waited", "waited-tls", "waited.certflow.test"), certificate(ns, "forced", "forced-tls", "forced.certflow.test")
	forced.Annotations = map[string]string{controller.AnnotationForceDelete: "true"}
	w.create(waited)
	w.create(forced)
	w.waitReady(ns, "waited")
	w.waitReady(ns, "forced")
	if err := w.stack.Temporal.Stop(); err != nil {
		t.Fatal(err)
	}
	// Up again before the world's own clean-ups, which read the histories.
	t.Cleanup(func() {
		if err := w.stack.Temporal.Start(w.ctx); err != nil {
			t.Errorf("starting Temporal again: %v", err)
		}
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if _, err := w.temporal.CheckHealth(w.ctx, &tclient.CheckHealthRequest{}); err == nil {
				return
			}
		}
	})

	start := time.Now()
	for _, c := range []client.Object{forced, waited} {
		if err := w.kube.Delete(w.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	w.gone(forced, 10*time.Second)
	if took := time.Since(start); took > timeout/2 {
		t.Errorf("the annotated Certificate went after %s, want at once", took)
	}
	w.gone(waited, timeout+30*time.Second)
	if took := time.Since(start); took < timeout {
		t.Errorf("the Certificate went after %s, before the finalizer timeout of %s: its workflow had no chance to clean up", took, timeout)
	}
	var events corev1.EventList
	if err := w.kube.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"waited", "forced"} {
		if !hasEvent(events, name, "ForcedDeletion") {
			t.Errorf("no ForcedDeletion Event on %s", name)
		}
	}
}

// TestNamespaceDeletionRemovesTheChallengeRecord: a namespace is deleted
// while a Certificate in it is issuing with an Issuer of that namespace,
// whose TSIG Secret is there too. The Issuer and its Secrets go at once; the
// Certificate stays until its workflow has stopped, and the workflow's
// clean-up still removes the TXT record from DNS, with what the worker last
// read of the Issuer.
//
// envtest runs no namespace controller: deleting the Namespace only marks it
// Terminating (the API server then refuses new objects in it, Events
// included). The test deletes its objects as the namespace controller
// would, all of them at once; here the Issuer and the Secrets first, so
// that the clean-up cannot find them, then the Certificate.
func TestNamespaceDeletionRemovesTheChallengeRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns, name = "doomed", "doomed.certflow.test"
	w.namespace(ns)
	issuer := w.namespacedIssuer(ns, "dns")
	cert := certificate(ns, "doomed", "doomed-tls", name)
	cert.Spec.IssuerRef = certflowv1.ObjectReference{Name: issuer.Name, Kind: certflowv1.IssuerKind}

	// The CA holds the challenge: the issuance waits in validation, its
	// record in BIND.
	w.proxy.Delay(sandbox.ActionChallenge, 5*time.Minute)
	w.create(cert)
	for deadline := time.Now().Add(time.Minute); len(w.challengeRecords(name)) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no challenge record for %s in BIND within a minute", name)
		}
	}

	if err := w.kube.Delete(w.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := w.kube.Delete(w.ctx, issuer); err != nil {
		t.Fatal(err)
	}
	if err := w.kube.DeleteAllOf(w.ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	w.gone(issuer, 10*time.Second)
	// The worker's cache of issuers hears of the deletion within moments.
	time.Sleep(time.Second)
	if err := w.kube.Delete(w.ctx, cert); err != nil {
		t.Fatal(err)
	}
	w.gone(cert, 2*time.Minute)
	if left := w.challengeRecords(name); len(left) > 0 {
		t.Errorf("challenge records left in BIND after the namespace was deleted: %v", left)
	}
}

// namespacedIssuer makes Issuer ns/name for the world's CA, as the world's
// ClusterIssuer is but with everything in ns: its TSIG Secret (created
// here) and its account key Secret (made when it registers). It waits
// until the Issuer is Ready.
func (w *world) namespacedIssuer(ns, name string) *certflowv1.Issuer {
	w.t.Helper()
	tsig := w.stack.TSIGSecret()
	tsig.Namespace, tsig.Name = ns, name+"-tsig"
	w.create(tsig)
	issuer := &certflowv1.Issuer{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       w.stack.ClusterIssuer(name, w.proxy.DirectoryURL, w.proxy.CACertPEM, tsig.Name).Spec,
	}
	w.create(issuer)
	deadline := time.Now().Add(time.Minute)
	for {
		var got certflowv1.Issuer
		err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(issuer), &got)
		if err == nil && meta.IsStatusConditionTrue(got.Status.Conditions, certflowv1.ConditionReady) {
			return issuer
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("Issuer %s/%s not Ready within a minute (%v): %+v", ns, name, err, got.Status.Conditions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
