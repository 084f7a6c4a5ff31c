package tests

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// refusedLine is what the worker logs when an activity's input does not
// match the API server.
const refusedLine = "refused an activity's input that does not match the API server"

// TestTrust plays someone who can reach Temporal but may not touch the
// tenants' namespaces: workflows started and signalled by hand, with input
// that names another tenant's Secret, issuer or names. Temporal is not a
// trust boundary: nothing of what such input asks for may happen, and each
// refusal says so in the worker's log and, when the Certificate exists, in
// a Warning Event on it.
//
// Tenant alice has Certificate web (a ClusterIssuer's) and tenant bob
// Certificate web (his own Issuer's, with its own account and TSIG key);
// both store into a Secret named tls, so a request that is alice's in every
// other way names bob's Secret too.
func TestTrust(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const alice, bob = "alice", "bob"
	aliceName, bobName := "alice.certflow.test", "bob.certflow.test"
	w.namespace(alice)
	w.namespace(bob)

	tsig := w.stack.TSIGSecret()
	tsig.Namespace, tsig.Name = bob, "bob-tsig"
	w.create(tsig)
	spec := w.stack.ClusterIssuer("bob-ca", w.proxy.DirectoryURL, w.proxy.CACertPEM, tsig.Name).Spec
	w.create(&certflowv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: bob, Name: "bob-ca"}, Spec: spec})
	bobsCert := certificate(bob, "web", "tls", bobName)
	bobsCert.Spec.IssuerRef = certflowv1.ObjectReference{Kind: certflowv1.IssuerKind, Name: "bob-ca"}
	w.create(bobsCert)
	w.create(certificate(alice, "web", "tls", aliceName))
	w.waitReady(bob, "web")
	alicesCert := w.waitReady(alice, "web")
	aliceRef := activities.CertificateRef{Namespace: alice, Name: "web"}
	bobsIssuer := activities.IssuerRef{Kind: activities.KindIssuer, Namespace: bob, Name: "bob-ca"}
	pebble := activities.IssuerRef{Kind: activities.KindClusterIssuer, Name: "pebble"}
	alicesRequest := certificates.RequestOf(alicesCert)

	t.Run("hand-started workflows", func(t *testing.T) {
		t.Run("an Order for alice's Certificate with bob's issuer and Secret is refused", func(t *testing.T) {
			t.Parallel()
			w := w.in(t)
			before := w.secretsOf(alice, bob)
			orders := w.ordersNaming(aliceName)
			id := sandbox.ClusterName + "/trust/alice-with-bobs-issuer"
			// Alice's request, so only the issuer is wrong.
			w.refusedOrder(id, workflows.OrderInput{Certificate: aliceRef, Issuer: bobsIssuer, Request: alicesRequest, Revision: 7, Attempt: 1})
			w.secretsOf(alice, bob).unchangedSince(t, before)
			if n := w.ordersNaming(aliceName); n != orders {
				t.Errorf("%d new orders for %s reached the CA: bob's account was used", n-orders, aliceName)
			}
			w.refusalLogged(id, "does not name "+bobsIssuer.String())
			w.refusalEvent(alice, "web", id)
			w.stillReady(alicesCert)
		})

		t.Run("an Order for alice's Certificate asking for other names is refused", func(t *testing.T) {
			t.Parallel()
			w := w.in(t)
			before := w.secretsOf(alice, bob)
			victim := "victim.certflow.test"
			req := alicesRequest
			req.DNSNames = []string{victim}
			id := sandbox.ClusterName + "/trust/alice-other-names"
			w.refusedOrder(id, workflows.OrderInput{Certificate: aliceRef, Issuer: pebble, Request: req, Revision: 7, Attempt: 1})
			w.secretsOf(alice, bob).unchangedSince(t, before)
			if n := w.ordersNaming(victim); n != 0 {
				t.Errorf("%d orders for %s reached the CA", n, victim)
			}
			w.refusalLogged(id, "asks for another certificate")
			w.refusalEvent(alice, "web", id)
			w.stillReady(alicesCert)
		})

		t.Run("an Order under an ID like alice's own cannot write her status", func(t *testing.T) {
			t.Parallel()
			w := w.in(t)
			// The ID extends her Certificate workflow's, as her real Orders' do;
			// only Temporal knows the workflow has no parent.
			id := activities.OrderWorkflowID(certificateWorkflowID(alice, "web"), 99, 1)
			forged := activities.CertificateStatus{Certificate: aliceRef,
				Conditions: []activities.Condition{{Type: certflowv1.ConditionReady, Status: "False", Reason: "Forged", Message: "forged"}},
				Event:      &activities.Event{Type: corev1.EventTypeWarning, Reason: "Forged", Message: "an Event of the attacker's choosing"}}
			req := alicesRequest
			req.DNSNames = []string{"forged.certflow.test"}
			w.refusedOrder(id, workflows.OrderInput{Certificate: aliceRef, Issuer: pebble, Request: req, Revision: 99, Attempt: 1, Status: forged})
			w.refusalLogged(id, "may not write its status")
			w.refusalEvent(alice, "web", id)
			w.stillReady(alicesCert)
			var events corev1.EventList
			if err := w.kube.List(w.ctx, &events, client.InNamespace(alice)); err != nil {
				t.Fatal(err)
			}
			for _, e := range events.Items {
				if e.Reason == "Forged" {
					t.Errorf("the hand-started Order recorded an Event: %s %s", e.Reason, e.Message)
				}
			}
		})

		t.Run("a Certificate that does not exist, naming bob's Secret and issuer, issues nothing", func(t *testing.T) {
			t.Parallel()
			w := w.in(t)
			before := w.secretsOf(alice, bob)
			ghost := activities.CertificateRef{Namespace: bob, Name: "ghost"}
			ghostName := "ghost.certflow.test"
			req := activities.Request{DNSNames: []string{ghostName}, SecretName: "tls"}

			// Its workflow reads the Certificate before anything else, finds
			// none, and ends.
			id := certificateWorkflowID(bob, "ghost")
			run := w.startByHand(id, workflows.CertificateWorkflowName, workflows.CertificateInput{
				Certificate: ghost, Spec: activities.CertificateSpec{Generation: 1, Issuer: bobsIssuer, Request: req},
			})
			if err := w.runEnds(run); err != nil {
				t.Errorf("the Certificate workflow of a Certificate that does not exist: %v, want it to end", err)
			}
			// An Order for it is refused at its first step.
			orderID := activities.OrderWorkflowID(id, 1, 1)
			w.refusedOrder(orderID, workflows.OrderInput{Certificate: ghost, Issuer: bobsIssuer, Request: req, Revision: 1, Attempt: 1})

			w.secretsOf(alice, bob).unchangedSince(t, before)
			if n := w.ordersNaming(ghostName); n != 0 {
				t.Errorf("%d orders for %s reached the CA", n, ghostName)
			}
			w.refusalLogged(orderID, "does not exist")
		})
	})

	t.Run("a spec signal with a huge generation does not freeze the Certificate", func(t *testing.T) {
		w := w.in(t)
		id := certificateWorkflowID(alice, "web")
		before := w.tlsSecret(alice, "tls")
		orders := w.ordersNaming(aliceName)
		desc, err := w.temporal.DescribeWorkflowExecution(w.ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.WorkflowExecutionInfo.Execution.RunId
		const huge = int64(1) << 40
		if err := w.temporal.SignalWorkflow(w.ctx, id, runID, workflows.SignalSpec, workflows.SpecChanged{Generation: huge}); err != nil {
			t.Fatal(err)
		}
		w.signalHandled(id, runID, huge)
		w.stillReady(alicesCert)
		if after := w.tlsSecret(alice, "tls"); after.secret.ResourceVersion != before.secret.ResourceVersion {
			t.Errorf("the signal alone changed Secret %s/tls (resourceVersion %s → %s)", alice, before.secret.ResourceVersion, after.secret.ResourceVersion)
		}
		if n := w.ordersNaming(aliceName); n != orders {
			t.Errorf("the signal alone made %d new orders", n-orders)
		}

		// A real change afterwards is issued.
		apiName := "alice-api.certflow.test"
		w.update(alicesCert, func() { alicesCert.Spec.DNSNames = append(alicesCert.Spec.DNSNames, apiName) })
		w.waitReady(alice, "web")
		after := w.tlsSecret(alice, "tls")
		w.verify(after, aliceName, apiName)
		if after.leaf.SerialNumber.Cmp(before.leaf.SerialNumber) == 0 {
			t.Error("the Secret holds the certificate from before the change")
		}
	})
}

// refusedOrder starts an Order workflow by hand and checks that it fails with
// ErrTypeMismatch.
func (w *world) refusedOrder(id string, in workflows.OrderInput) {
	w.t.Helper()
	err := w.runEnds(w.startByHand(id, workflows.OrderWorkflowName, in))
	if !hasErrorType(err, activities.ErrTypeMismatch) {
		w.t.Errorf("Order %s ended with %v, want an error of type %s", id, err, activities.ErrTypeMismatch)
	}
}

// startByHand starts a workflow as anyone who reaches Temporal can: by its
// registered name, on certflow's task queue, with input of their choosing.
func (w *world) startByHand(id, workflowType string, in any) tclient.WorkflowRun {
	w.t.Helper()
	run, err := w.temporal.ExecuteWorkflow(w.ctx, tclient.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue, WorkflowExecutionTimeout: 2 * time.Minute,
	}, workflowType, in)
	if err != nil {
		w.t.Fatalf("starting workflow %s: %v", id, err)
	}
	return run
}

// runEnds waits for the run to end and returns its error.
func (w *world) runEnds(run tclient.WorkflowRun) error {
	ctx, cancel := context.WithTimeout(w.ctx, 3*time.Minute)
	defer cancel()
	return run.Get(ctx, nil)
}

// hasErrorType says whether an application error of type typ is in err's chain.
func hasErrorType(err error, typ string) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if app, ok := err.(*temporal.ApplicationError); ok && app.Type() == typ {
			return true
		}
	}
	return false
}

// ordersNaming counts the new-order requests naming name that reached the
// CA, whatever it answered.
func (w *world) ordersNaming(name string) int {
	n := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && slices.Contains(r.Names, name) {
			n++
		}
	}
	return n
}

// secretsSnapshot is every Secret of some namespaces, by namespace/name.
type secretsSnapshot map[string]corev1.Secret

func (w *world) secretsOf(namespaces ...string) secretsSnapshot {
	w.t.Helper()
	s := secretsSnapshot{}
	for _, ns := range namespaces {
		var list corev1.SecretList
		if err := w.kube.List(w.ctx, &list, client.InNamespace(ns)); err != nil {
			w.t.Fatal(err)
		}
		for _, sec := range list.Items {
			s[ns+"/"+sec.Name] = sec
		}
	}
	return s
}

// unchangedSince checks that no Secret appeared, went, or changed its
// resourceVersion or data.
func (s secretsSnapshot) unchangedSince(t *testing.T, before secretsSnapshot) {
	t.Helper()
	for _, key := range slices.Sorted(maps.Keys(s)) {
		b, ok := before[key]
		switch {
		case !ok:
			t.Errorf("Secret %s appeared (labels %v)", key, s[key].Labels)
		case b.ResourceVersion != s[key].ResourceVersion:
			t.Errorf("Secret %s was written: resourceVersion %s → %s", key, b.ResourceVersion, s[key].ResourceVersion)
		case !maps.EqualFunc(b.Data, s[key].Data, bytes.Equal):
			t.Errorf("Secret %s: its data changed", key)
		}
	}
	for key := range before {
		if _, ok := s[key]; !ok {
			t.Errorf("Secret %s is gone", key)
		}
	}
}

// refusalLogged waits until the certflow log has the refusal line for the
// workflow, saying why.
func (w *world) refusalLogged(workflowID, why string) {
	w.t.Helper()
	path := w.certflow["run"].logPath
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		for line := range strings.Lines(string(data)) {
			if strings.Contains(line, refusedLine) && slices.Contains(strings.Fields(line), "workflowID="+workflowID) && strings.Contains(line, why) {
				if !strings.Contains(line, "level=WARN") {
					w.t.Errorf("the refusal is not logged as a warning: %s", line)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Errorf("%s has no line %q for workflow %s saying %q; its end:\n%s", path, refusedLine, workflowID, why, lastLines(path, 20))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// refusalEvent waits for the Warning Event Refused on the Certificate that
// names the workflow.
func (w *world) refusalEvent(ns, name, workflowID string) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var events corev1.EventList
		if err := w.kube.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
			w.t.Fatal(err)
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "Certificate" && e.InvolvedObject.Name == name && e.Type == corev1.EventTypeWarning &&
				e.Reason == "Refused" && strings.Contains(e.Message, workflowID) {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Errorf("no Warning Event Refused on Certificate %s/%s naming workflow %s", ns, name, workflowID)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stillReady checks that the Certificate is Ready, of the same generation
// and revision as before.
func (w *world) stillReady(before *certflowv1.Certificate) {
	w.t.Helper()
	var c certflowv1.Certificate
	if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(before), &c); err != nil {
		w.t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady) {
		w.t.Errorf("Certificate %s/%s is no longer Ready: %+v", c.Namespace, c.Name, c.Status.Conditions)
	}
	revision := func(c *certflowv1.Certificate) int {
		if c.Status.Revision == nil {
			return 0
		}
		return *c.Status.Revision
	}
	if c.Generation != before.Generation || revision(&c) != revision(before) {
		w.t.Errorf("Certificate %s/%s: generation %d revision %d, was %d and %d",
			c.Namespace, c.Name, c.Generation, revision(&c), before.Generation, revision(before))
	}
}

// signalHandled waits until the run of the workflow that got the spec
// signal naming generation has taken the look it asks for: a local activity
// (InspectSecret) recorded after the signal, or the run continued as new
// after it.
func (w *world) signalHandled(id, runID string, generation int64) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		signalled := false
		for _, ev := range historyEvents(w.t, w, w.temporal, id, runID) {
			switch ev.EventType {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				attrs := ev.GetWorkflowExecutionSignaledEventAttributes()
				var hint workflows.SpecChanged
				if attrs.SignalName == workflows.SignalSpec && len(attrs.Input.GetPayloads()) == 1 &&
					converter.GetDefaultDataConverter().FromPayload(attrs.Input.Payloads[0], &hint) == nil && hint.Generation == generation {
					signalled = true
				}
			case enumspb.EVENT_TYPE_MARKER_RECORDED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
				if signalled {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("workflow %s (run %s) did not handle the spec signal of generation %d within 30s", id, runID, generation)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
