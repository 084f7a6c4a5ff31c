package tests

import (
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestFaultControllerKilledWhileIssuing runs the controller and the worker as
// two processes and kills the controller with SIGKILL while Certificates are
// issuing. Issuances in flight go on (they are the worker's); Certificates
// created and changed while the controller is down wait for it, and once it
// is back every one ends Ready for its latest spec, with nothing lost.
func TestFaultControllerKilledWhileIssuing(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{split: true})
	const ns = "controller-killed"
	w.namespace(ns)
	// Issuances stay in flight a while, so the kill finds them there.
	w.proxy.Delay(sandbox.ActionFinalize, stepDelay)
	certs := w.createCertificates(ns, "early", 6)
	w.waitStep(certs, certflowv1.StepFinalizing, 2*time.Minute)
	w.kill("controller")
	t.Logf("killed the controller; %s", w.steps(certs))

	// While it is down: two new Certificates, and two changed ones (a name
	// added: a new issuance, which must not reuse the old order).
	late := w.createCertificates(ns, "late", 2)
	for _, c := range certs[:2] {
		w.update(c, func() { c.Spec.DNSNames = append(c.Spec.DNSNames, "extra-"+c.Name+".certflow.test") })
	}
	certs = append(certs, late...)
	// Only the controller starts workflows: give a wrong start a moment to
	// happen (a window, not a wait for something expected).
	time.Sleep(2 * time.Second)
	for _, c := range late {
		if _, err := w.temporal.DescribeWorkflowExecution(w.ctx, certificateWorkflowID(ns, c.Name), ""); err == nil {
			t.Errorf("workflow of %s started while the controller was down", c.Name)
		}
	}
	w.expectRunning("worker")

	w.start("controller")
	// Ready for the latest generation, with the added name in the Secret's
	// certificate: the changes made while the controller was down are not lost.
	w.checkNothingLost(certs...)
}
