package tests

import (
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// apiServerOutage is how long kube-apiserver stays down (its restart adds
// several seconds more).
const apiServerOutage = 10 * time.Second

// TestFaultAPIServerRestartedMidIssuance stops kube-apiserver while
// Certificates are issuing and starts it again on the same port, over the
// same etcd, with the same certificates. certflow's controller and worker
// keep running and reconnect; every issuance completes with nothing lost,
// and no Secret is half-written.
func TestFaultAPIServerRestartedMidIssuance(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "apiserver-restarted"
	w.namespace(ns)
	w.proxy.Delay(sandbox.ActionFinalize, stepDelay)
	certs := w.createCertificates(ns, "cert", 6)
	w.waitStep(certs, certflowv1.StepFinalizing, 2*time.Minute)

	if err := w.stack.Kubernetes.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Log("stopped kube-apiserver")
	for end := time.Now().Add(apiServerOutage); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		w.expectRunning("run")
	}
	if err := w.stack.Kubernetes.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("started kube-apiserver again; %s", w.steps(certs))
	w.checkNothingLost(certs...)
	w.expectRunning("run")
}
