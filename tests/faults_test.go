package tests

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// The fault tests (faults_*_test.go) break one part of the real stack while
// several Certificates are being issued, let it recover, and then check the
// same promise with checkNothingLost: whatever failed in between, nothing
// is lost, nothing is done twice, nothing is left behind.

// checkNothingLost waits until every Certificate is Ready for its latest spec
// and checks, for each:
//   - its Secret is whole: a kubernetes.io/tls Secret whose chain verifies
//     to Pebble's root for every name of the spec, whose key is the leaf's,
//     labelled for the Certificate, of the revision and expiry the status says;
//   - its workflow still runs (nothing ended it);
//   - the CA created exactly one order for its names: a retry that ordered
//     again would show as a second;
//
// and, for all of them: no pending key Secret is left in the namespace, no
// _acme-challenge record is left in BIND, and no other set of names was
// ordered twice either (an order abandoned for a new spec counts once).
func (w *world) checkNothingLost(certs ...*certflowv1.Certificate) {
	w.t.Helper()
	var allNames []string
	for _, c := range certs {
		w.waitReady(c.Namespace, c.Name)
		var cert certflowv1.Certificate
		if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(c), &cert); err != nil {
			w.t.Fatalf("reading Certificate %s/%s: %v", c.Namespace, c.Name, err)
		}
		w.checkSecret(&cert)
		w.checkWorkflowRuns(&cert)
		allNames = append(allNames, cert.Spec.DNSNames...)
		if n := w.ordersForExactly(cert.Spec.DNSNames); n != 1 {
			w.t.Errorf("Certificate %s/%s: the CA created %d orders for %v, want 1; orders:\n%s",
				cert.Namespace, cert.Name, n, cert.Spec.DNSNames, w.ordersCreated())
		}
	}
	for names, n := range w.ordersByNames() {
		if n > 1 {
			w.t.Errorf("the CA created %d orders for %s, want at most 1; orders:\n%s", n, names, w.ordersCreated())
		}
	}
	namespaces := map[string]bool{}
	for _, c := range certs {
		namespaces[c.Namespace] = true
	}
	for ns := range namespaces {
		var pending corev1.SecretList
		if err := w.kube.List(w.ctx, &pending, client.InNamespace(ns), client.MatchingLabels{activities.LabelPendingKey: "true"}); err != nil {
			w.t.Fatal(err)
		}
		for _, s := range pending.Items {
			w.t.Errorf("pending key Secret %s/%s is left behind (order %s)", s.Namespace, s.Name, s.Annotations[activities.AnnotationOrderURL])
		}
	}
	// Clean-up runs before the Order reports success, so a Ready Certificate
	// has none; the wait only absorbs a clean-up still in flight for a
	// Certificate whose spec changed.
	deadline := time.Now().Add(30 * time.Second)
	for left := w.challengeRecords(allNames...); len(left) > 0; left = w.challengeRecords(allNames...) {
		if time.Now().After(deadline) {
			w.t.Errorf("challenge records left in BIND: %v", left)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkSecret checks the Certificate's Secret holds what its status says was issued.
func (w *world) checkSecret(cert *certflowv1.Certificate) {
	w.t.Helper()
	is := w.tlsSecret(cert.Namespace, cert.Spec.SecretName)
	what := fmt.Sprintf("Secret %s/%s of Certificate %s", cert.Namespace, cert.Spec.SecretName, cert.Name)
	var verifyNames []string
	for _, n := range cert.Spec.DNSNames {
		if base, wild := strings.CutPrefix(n, "*."); wild {
			n = "anything." + base
		}
		verifyNames = append(verifyNames, n)
	}
	w.verify(is, verifyNames...)
	if got, want := sorted(is.leaf.DNSNames), sorted(cert.Spec.DNSNames); !slices.Equal(got, want) {
		w.t.Errorf("%s: certificate for %v, want %v", what, got, want)
	}
	if is.secret.Type != corev1.SecretTypeTLS {
		w.t.Errorf("%s: type %s, want %s", what, is.secret.Type, corev1.SecretTypeTLS)
	}
	if got := is.secret.Labels[activities.LabelCertificateName]; got != cert.Name {
		w.t.Errorf("%s: labelled for Certificate %q", what, got)
	}
	if cert.Status.Revision == nil || is.secret.Annotations[activities.AnnotationRevision] != strconv.Itoa(*cert.Status.Revision) {
		w.t.Errorf("%s: revision %q, status says %v", what, is.secret.Annotations[activities.AnnotationRevision], cert.Status.Revision)
	}
	if cert.Status.NotAfter == nil || !is.leaf.NotAfter.Equal(cert.Status.NotAfter.Time) {
		w.t.Errorf("%s: certificate expires %v, status says %v", what, is.leaf.NotAfter, cert.Status.NotAfter)
	}
}

// checkWorkflowRuns checks the Certificate's workflow is running: a fault
// must not end it (it would never renew).
func (w *world) checkWorkflowRuns(cert *certflowv1.Certificate) {
	w.t.Helper()
	id := certificateWorkflowID(cert.Namespace, cert.Name)
	// A client whose server restarted reconnects after its backoff, which
	// can be longer than a call's 10 s: a call that failed is made again,
	// for a minute.
	desc, err := w.temporal.DescribeWorkflowExecution(w.ctx, id, "")
	for end := time.Now().Add(time.Minute); err != nil && time.Now().Before(end); {
		time.Sleep(time.Second)
		desc, err = w.temporal.DescribeWorkflowExecution(w.ctx, id, "")
	}
	if err != nil {
		w.t.Errorf("describing workflow %s: %v", id, err)
		return
	}
	if status := desc.WorkflowExecutionInfo.Status.String(); status != "Running" {
		w.t.Errorf("workflow %s is %s, want Running", id, status)
	}
}

// ordersByNames counts the orders the CA created per set of names (sorted,
// comma-separated).
func (w *world) ordersByNames() map[string]int {
	counts := map[string]int{}
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Status == http.StatusCreated {
			counts[strings.Join(sorted(r.Names), ",")]++
		}
	}
	return counts
}

// ordersForExactly counts the orders the CA created for exactly these names.
func (w *world) ordersForExactly(names []string) int {
	return w.ordersByNames()[strings.Join(sorted(names), ",")]
}

// ordersCreated lists the orders the CA created, for failure messages.
func (w *world) ordersCreated() string {
	var sb strings.Builder
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Status == http.StatusCreated {
			fmt.Fprintf(&sb, "  %s %v %s\n", r.Time.Format("15:04:05.000"), r.Names, r.Location)
		}
	}
	return sb.String()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// createCertificates creates n Certificates <prefix>-0 ... in ns, each for
// <prefix>-i.certflow.test; every third also for its wildcard, so that some
// orders have two authorizations.
func (w *world) createCertificates(ns, prefix string, n int) []*certflowv1.Certificate {
	w.t.Helper()
	var certs []*certflowv1.Certificate
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		names := []string{name + ".certflow.test"}
		if i%3 == 2 {
			names = append(names, "*."+name+".certflow.test")
		}
		c := certificate(ns, name, name+"-tls", names...)
		w.create(c)
		certs = append(certs, c)
	}
	return certs
}

// steps is each Certificate's current step ("" when none runs, "Ready" once
// issued), for logs.
func (w *world) steps(certs []*certflowv1.Certificate) string {
	var parts []string
	for _, c := range certs {
		var cur certflowv1.Certificate
		step := "?"
		if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Name}, &cur); err == nil {
			step = string(cur.Status.Step)
			if step == "" && cur.Status.Revision != nil {
				step = "issued"
			}
		}
		parts = append(parts, c.Name+"="+step)
	}
	return strings.Join(parts, " ")
}

// waitStep waits until one of the Certificates is at step and returns it.
func (w *world) waitStep(certs []*certflowv1.Certificate, step certflowv1.IssuanceStep, timeout time.Duration) *certflowv1.Certificate {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range certs {
			var cur certflowv1.Certificate
			if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(c), &cur); err == nil && cur.Status.Step == step {
				return &cur
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no Certificate reached step %s within %s: %s", step, timeout, w.steps(certs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stepOrder is the order of an issuance's steps.
var stepOrder = []certflowv1.IssuanceStep{
	certflowv1.StepOrdering, certflowv1.StepPresenting, certflowv1.StepPropagating,
	certflowv1.StepValidating, certflowv1.StepFinalizing, certflowv1.StepStoring,
}

// waitAllReached waits until each Certificate has been seen at step or a
// later one (or issued): a step that takes less than a second may never show.
func (w *world) waitAllReached(certs []*certflowv1.Certificate, step certflowv1.IssuanceStep, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	reached := map[string]bool{}
	for len(reached) < len(certs) {
		for _, c := range certs {
			var cur certflowv1.Certificate
			if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(c), &cur); err != nil {
				continue
			}
			if cur.Status.Revision != nil || slices.Index(stepOrder, cur.Status.Step) >= slices.Index(stepOrder, step) {
				reached[c.Name] = true
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("not every Certificate reached step %s within %s: %s", step, timeout, w.steps(certs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// atStep returns the Certificates at step now.
func (w *world) atStep(certs []*certflowv1.Certificate, step certflowv1.IssuanceStep) []*certflowv1.Certificate {
	w.t.Helper()
	var at []*certflowv1.Certificate
	for _, c := range certs {
		var cur certflowv1.Certificate
		if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(c), &cur); err == nil && cur.Status.Step == step {
			at = append(at, c)
		}
	}
	return at
}

// waitAnyInFlight waits until one of the Certificates has an issuance step
// running.
func (w *world) waitAnyInFlight(certs []*certflowv1.Certificate, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range certs {
			var cur certflowv1.Certificate
			if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(c), &cur); err == nil && cur.Status.Step != "" {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no issuance started within %s: %s", timeout, w.steps(certs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectRunning fails the test if the certflow subcommand has exited.
func (w *world) expectRunning(subcommand string) {
	w.t.Helper()
	p := w.certflow[subcommand]
	select {
	case <-p.exited:
		w.t.Fatalf("certflow %s exited (%v); its log ends:\n%s", subcommand, p.err, lastLines(p.logPath, 30))
	default:
	}
}

// certificateWorkflowID is the ID of a Certificate's workflow in the sandbox.
func certificateWorkflowID(namespace, name string) string {
	return activities.CertificateWorkflowID(sandbox.ClusterName, activities.CertificateRef{Namespace: namespace, Name: name})
}
