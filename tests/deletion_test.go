package tests

import (
	"testing"
	"time"

	tclient "go.temporal.io/sdk/client"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
