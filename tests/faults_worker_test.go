package tests

import (
	"net/http"
	"strings"
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

// TestFaultWorkerKilledAtEachStep kills `certflow run` with SIGKILL while
// Certificates are issuing, once in each step of an issuance, and starts it
// again: every issuance resumes where it was (the same order, the same
// pending key) and nothing is lost or left behind. The steps take turns on
// one stack, each with Certificates of its own.
func TestFaultWorkerKilledAtEachStep(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{dnsProxy: true, kubeProxy: true})
	for _, step := range []certflowv1.IssuanceStep{
		certflowv1.StepOrdering, certflowv1.StepPresenting, certflowv1.StepPropagating,
		certflowv1.StepValidating, certflowv1.StepFinalizing, certflowv1.StepStoring,
	} {
		t.Run(string(step), func(t *testing.T) { w.in(t).killedIn(step) })
	}
}

// killedIn kills certflow while issuances are in step, starts it again, and
// checks that nothing was lost.
func (w *world) killedIn(step certflowv1.IssuanceStep) {
	t := w.t
	ns := "killed-" + string(step)
	w.namespace(ns)
	holdStep[step](w, ns, stepDelay)
	// Half now, half once the first is in the step: at the kill, issuances
	// are at different steps.
	certs := w.createCertificates(ns, string(step)+"-first", 3)
	w.waitStep(certs, step, 2*time.Minute)
	certs = append(certs, w.createCertificates(ns, string(step)+"-second", 3)...)
	w.waitAnyInFlight(certs[3:], time.Minute)
	// Still in the step: the fault holds it for stepDelay.
	at := w.waitStep(certs, step, stepDelay)
	if step == certflowv1.StepOrdering {
		// Step ordering covers the key and the permit too: kill once an
		// order exists and its authorizations are being read, and every
		// order the CA made is recorded with its pending key. (A kill between the CA's answer and that write loses
		// the order's URL, and the issuance orders again: ACME has no way
		// to find the order.)
		w.waitHeld(sandbox.ActionAuthorization, time.Minute)
		w.waitOrdersRecorded(ns, certs, time.Minute)
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
// dies meanwhile) and waits until every order the CA made before for the
// Certificates is recorded in a pending key Secret of their namespace.
func (w *world) waitOrdersRecorded(ns string, certs []*certflowv1.Certificate, timeout time.Duration) {
	w.t.Helper()
	w.proxy.Delay(sandbox.ActionNewOrder, time.Hour)
	held := time.Now()
	deadline := held.Add(timeout)
	for {
		missing := w.unrecordedOrders(ns, certs, held)
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d orders not recorded in a pending key Secret within %s", missing, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unrecordedOrders counts the new-order requests for the Certificates sent
// before a time that are in flight, or made an order no pending key Secret
// of the namespace records.
func (w *world) unrecordedOrders(ns string, certs []*certflowv1.Certificate, before time.Time) int {
	w.t.Helper()
	var secrets corev1.SecretList
	if err := w.kube.List(w.ctx, &secrets, client.InNamespace(ns)); err != nil {
		w.t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, s := range secrets.Items {
		recorded[s.Annotations[activities.AnnotationOrderURL]] = true
	}
	ours := map[string]bool{}
	for _, c := range certs {
		ours[strings.Join(sorted(c.Spec.DNSNames), ",")] = true
	}
	missing := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && ours[strings.Join(sorted(r.Names), ",")] && r.Time.Before(before) &&
			(r.Status == 0 || r.Status == http.StatusCreated && !recorded[r.Location]) {
			missing++
		}
	}
	return missing
}
