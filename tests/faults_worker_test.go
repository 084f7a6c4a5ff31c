package tests

import (
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// stepDelay is how long a fault test holds the calls of a step: long enough
// to see the step in the status (written once a step has run for a second)
// and act while it runs.
const stepDelay = 4 * time.Second

// holdStep makes a step of issuances slow: it holds back, for d, an outside
// call the step makes (some other step may make it too); d = 0 lets go.
var holdStep = map[certflowv1.IssuanceStep]func(w *world, ns string, d time.Duration){
	// Reading the new order's authorizations: at the kill the CA has made
	// the order (and certflow recorded it), so the restarted worker must
	// find it rather than order again.
	certflowv1.StepOrdering: func(w *world, _ string, d time.Duration) { w.proxy.Delay(sandbox.ActionAuthorization, d) },
	// RFC 2136 updates, through the DNS proxy.
	certflowv1.StepPresenting: func(w *world, _ string, d time.Duration) { w.dns.Delay(sandbox.DNSUpdate, d) },
	// Propagation checks, through the DNS proxy.
	certflowv1.StepPropagating: func(w *world, _ string, d time.Duration) { w.dns.Delay(sandbox.DNSQuery, d) },
	// Accepting a challenge.
	certflowv1.StepValidating: func(w *world, _ string, d time.Duration) { w.proxy.Delay(sandbox.ActionChallenge, d) },
	certflowv1.StepFinalizing: func(w *world, _ string, d time.Duration) { w.proxy.Delay(sandbox.ActionFinalize, d) },
	// StoreSecret first reads the pending key Secret, through the
	// Kubernetes proxy (BeginOrder reads it too, while ordering).
	certflowv1.StepStoring: func(w *world, ns string, d time.Duration) {
		w.kubeProxy.Delay(http.MethodGet, "/api/v1/namespaces/"+ns+"/secrets/*-certflow-pending-key", d)
	},
}

// TestFaultWorkerKilledAtARandomStep kills `certflow run` with SIGKILL while
// Certificates are issuing, at a step chosen at random for each run, and
// starts it again: every issuance resumes where it was (the same order, the
// same pending key) and nothing is lost or left behind.
//
// CERTFLOW_FAULT_STEP=<step> chooses the step; CERTFLOW_FAULT_SEED=<n>
// repeats a run's choice.
func TestFaultWorkerKilledAtARandomStep(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CERTFLOW_FAULT_SEED"), 10, 64); err == nil {
		seed = s
	}
	steps := []certflowv1.IssuanceStep{
		certflowv1.StepOrdering, certflowv1.StepPresenting, certflowv1.StepPropagating,
		certflowv1.StepValidating, certflowv1.StepFinalizing, certflowv1.StepStoring,
	}
	step := steps[rand.New(rand.NewPCG(seed, seed)).IntN(len(steps))]
	if s := certflowv1.IssuanceStep(os.Getenv("CERTFLOW_FAULT_STEP")); s != "" {
		if !slices.Contains(steps, s) {
			t.Fatalf("CERTFLOW_FAULT_STEP=%s: want one of %v", s, steps)
		}
		step = s
	}
	t.Logf("killing certflow in step %s (seed %d: CERTFLOW_FAULT_SEED=%d repeats it)", step, seed, seed)

	w := newWorldWith(t, worldOptions{dnsProxy: true, kubeProxy: true})
	const ns = "worker-killed"
	w.namespace(ns)
	holdStep[step](w, ns, stepDelay)
	// Half now, half once the first is in the step: at the kill, issuances
	// are at different steps.
	certs := w.createCertificates(ns, "first", 3)
	w.waitStep(certs, step, 2*time.Minute)
	certs = append(certs, w.createCertificates(ns, "second", 3)...)
	w.waitAnyInFlight(certs[3:], time.Minute)
	// Still in the step: the fault holds it for stepDelay.
	at := w.waitStep(certs, step, stepDelay)
	if step == certflowv1.StepOrdering {
		// The status says ordering from the start (a permit first): kill
		// once an order exists and its authorizations are being read, and
		// every order the CA made is recorded with its pending key. (A kill
		// between the CA's answer and that write loses the order's URL, and
		// the issuance orders again: ACME has no way to find the order.)
		w.waitHeld(sandbox.ActionAuthorization, time.Minute)
		w.waitOrdersRecorded(ns, time.Minute)
	}
	w.killCertflow()
	t.Logf("killed certflow with %s in step %s; all: %s", at.Name, step, w.steps(certs))

	holdStep[step](w, ns, 0)
	w.proxy.Delay(sandbox.ActionNewOrder, 0)
	w.startCertflow()
	w.checkNothingLost(certs...)
}

// waitHeld waits until a request of an action is in flight at the ACME
// proxy (held by its Delay).
func (w *world) waitHeld(action string, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, r := range w.proxy.Requests() {
			if r.Action == action && r.Status == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no %s request in flight within %s", action, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOrdersRecorded holds new orders at the ACME proxy (until
// Delay(ActionNewOrder, 0); a held request never reaches the CA if certflow
// dies meanwhile) and waits until every order the CA made before is recorded
// in a pending key Secret of the namespace.
func (w *world) waitOrdersRecorded(ns string, timeout time.Duration) {
	w.t.Helper()
	w.proxy.Delay(sandbox.ActionNewOrder, time.Hour)
	held := time.Now()
	deadline := held.Add(timeout)
	for {
		missing := w.unrecordedOrders(ns, held)
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d orders not recorded in a pending key Secret within %s", missing, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unrecordedOrders counts the new-order requests sent before a time that
// are in flight, or made an order no pending key Secret of the namespace
// records.
func (w *world) unrecordedOrders(ns string, before time.Time) int {
	w.t.Helper()
	var secrets corev1.SecretList
	if err := w.kube.List(w.ctx, &secrets, client.InNamespace(ns)); err != nil {
		w.t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, s := range secrets.Items {
		recorded[s.Annotations[activities.AnnotationOrderURL]] = true
	}
	missing := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Time.Before(before) && (r.Status == 0 || r.Status == http.StatusCreated && !recorded[r.Location]) {
			missing++
		}
	}
	return missing
}
