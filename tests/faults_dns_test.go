package tests

import (
	"slices"
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// bindOutage is how long BIND stays down: longer than an activity's retries
// of a failed DNS update (about 15 s), so that a step that needs BIND fails
// rather than waits it out.
const bindOutage = 30 * time.Second

// TestFaultBINDStoppedDuringPropagation stops BIND (SIGTERM: it finishes its
// journal) for 30 s while issuances wait for their records to propagate,
// and starts it again on the same port with the same zone. At the stop, one
// issuance has been validated and is removing its records, and another is
// about to present. The records in BIND at the stop are still there after
// it; issuances that were waiting go on, the others recover; nothing is lost
// or left behind.
func TestFaultBINDStoppedDuringPropagation(t *testing.T) {
	t.Parallel()
	// Presenting fails while BIND is down: that attempt fails, and the next
	// comes after the issuer's retryBackoff.
	w := newWorldWith(t, worldOptions{dnsProxy: true, retryBackoff: 10 * time.Second})
	const ns = "bind-stopped"
	w.namespace(ns)
	// Every step that talks to BIND is slow, so the stop finds issuances in
	// them; finalizing too, so that it shows in status.
	w.dns.Delay(sandbox.DNSQuery, stepDelay)
	w.dns.Delay(sandbox.DNSUpdate, stepDelay)
	w.proxy.Delay(sandbox.ActionFinalize, stepDelay)
	certs := w.createCertificates(ns, "waiting", 5)
	w.waitAllReached(certs, certflowv1.StepPropagating, 2*time.Minute)

	// From now until the stop no update reaches BIND: the records presented
	// so far are the ones that must survive it, and every clean-up from now
	// on meets the outage.
	w.dns.Delay(sandbox.DNSUpdate, time.Hour)
	propagating := w.atStep(certs, certflowv1.StepPropagating)
	if len(propagating) == 0 {
		t.Fatalf("no Certificate is propagating: %s", w.steps(certs))
	}
	// Validated after the freeze: its clean-up waits in the proxy.
	removing := w.waitStep(propagating, certflowv1.StepFinalizing, 2*time.Minute)
	late := w.createCertificates(ns, "late", 1)
	w.waitAnyInFlight(late, time.Minute)
	certs = append(certs, late...)

	var names []string
	for _, c := range certs {
		names = append(names, c.Spec.DNSNames...)
	}
	presented := w.challengeRecords(names...)
	// Without a record in BIND at the stop, the comparison after the restart
	// would pass with every record lost.
	if len(presented) == 0 {
		t.Fatalf("no challenge record in BIND at the stop, though %d Certificates were propagating: %s", len(propagating), w.steps(certs))
	}
	if err := w.stack.BIND.Stop(); err != nil {
		t.Fatalf("stopping BIND: %v", err)
	}
	// Through the outage, DNS messages meet the stopped BIND at once, as
	// they would without a proxy: the updates held go first.
	w.dns.Delay(sandbox.DNSUpdate, 0)
	w.dns.Delay(sandbox.DNSQuery, 0)
	t.Logf("stopped BIND with %d challenge records in it, %s removing its own; %s", len(presented), removing.Name, w.steps(certs))
	for end := time.Now().Add(bindOutage); time.Now().Before(end); time.Sleep(time.Second) {
		w.expectRunning("run")
	}
	// Slow propagation checks again hold the issuances back from validating
	// and cleaning up while the records are compared.
	w.dns.Delay(sandbox.DNSQuery, stepDelay)
	if err := w.stack.BIND.Start(w.ctx); err != nil {
		t.Fatalf("starting BIND again: %v", err)
	}
	after := w.challengeRecords(names...)
	for _, rr := range presented {
		if !slices.Contains(after, rr) {
			t.Errorf("challenge record %s, in BIND at the stop, is gone after the restart", rr)
		}
	}
	w.dns.Delay(sandbox.DNSQuery, 0)
	w.proxy.Delay(sandbox.ActionFinalize, 0)
	t.Logf("started BIND again with %d challenge records in it; %s", len(after), w.steps(certs))
	w.checkNothingLost(certs...)
}
