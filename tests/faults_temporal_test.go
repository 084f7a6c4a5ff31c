package tests

import (
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// temporalOutage is how long Temporal stays down: longer than the SDK's
// first reconnection attempts, shorter than any activity's timeout.
const temporalOutage = 15 * time.Second

// TestFaultTemporalRestartedMidIssuance stops the Temporal server (its
// workflows kept in a database file) while Certificates are issuing and
// starts it again on the same port. certflow keeps running through the
// outage and reconnects; every issuance completes with nothing lost.
func TestFaultTemporalRestartedMidIssuance(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{Temporal: sandbox.TemporalOptions{Persistent: true}}})
	const ns = "temporal-restarted"
	w.namespace(ns)
	w.proxy.Delay(sandbox.ActionFinalize, stepDelay)
	certs := w.createCertificates(ns, "cert", 6)
	w.waitStep(certs, certflowv1.StepFinalizing, 2*time.Minute)

	if err := w.stack.Temporal.Stop(); err != nil {
		t.Fatalf("stopping Temporal: %v", err)
	}
	t.Logf("stopped Temporal; %s", w.steps(certs))
	// What a user sees through the outage: certflow still running, not a
	// crash loop.
	for end := time.Now().Add(temporalOutage); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		w.expectRunning("run")
	}
	if err := w.stack.Temporal.Start(w.ctx); err != nil {
		t.Fatalf("starting Temporal again: %v", err)
	}
	t.Log("started Temporal again")
	w.checkNothingLost(certs...)
	w.expectRunning("run")
}
