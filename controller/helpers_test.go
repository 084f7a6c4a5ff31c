package controller

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// waitFor is how long a test waits for the controller to act.
const waitFor = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test after waitFor with
// what was last seen.
func eventually(t *testing.T, what string, cond func() (ok bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: last seen %s", waitFor, what, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newNamespace creates a namespace for one test. envtest runs no namespace
// controller, so namespaces are left behind with the API server.
func newNamespace(t *testing.T, ctx context.Context) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "controller-test-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func acmeIssuerSpec() v1alpha1.IssuerSpec {
	return v1alpha1.IssuerSpec{ACME: &v1alpha1.ACMEIssuer{
		Server:     "https://acme.example.test/directory",
		PrivateKey: v1alpha1.SecretKeySelector{LocalObjectReference: v1alpha1.LocalObjectReference{Name: "acme-account"}},
	}}
}

func newCertificate(ns, name string, issuer v1alpha1.ObjectReference) *v1alpha1.Certificate {
	return &v1alpha1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.CertificateSpec{
			DNSNames:   []string{name + ".example.test"},
			SecretName: name + "-tls",
			IssuerRef:  issuer,
		},
	}
}

// describe returns the latest run of workflow id, or the error (NotFound when none).
func describe(ctx context.Context, id string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return temporal.DescribeWorkflowExecution(ctx, id, "")
}

// history is the latest run's history of workflow id.
func history(t *testing.T, ctx context.Context, id string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	iter := temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatalf("reading history of %s: %v", id, err)
		}
		events = append(events, ev)
	}
	return events
}

// startInput decodes the input the workflow was started with.
func startInput(t *testing.T, ctx context.Context, id string, into any) {
	t.Helper()
	events := history(t, ctx, id)
	if len(events) == 0 {
		t.Fatalf("workflow %s has no history", id)
	}
	attrs := events[0].GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		t.Fatalf("first event of %s is %s, not WorkflowExecutionStarted", id, events[0].GetEventType())
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), into); err != nil {
		t.Fatalf("decoding the input of %s: %v", id, err)
	}
}

// hints decodes every hint the workflow got, in order: the one it was
// started with (an eager start's input), then every "spec" signal.
func hints(t *testing.T, ctx context.Context, id string) []workflows.SpecChanged {
	t.Helper()
	var specs []workflows.SpecChanged
	for _, ev := range history(t, ctx, id) {
		if attrs := ev.GetWorkflowExecutionStartedEventAttributes(); attrs != nil {
			var in workflows.CertificateInput
			if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in); err != nil {
				t.Fatalf("decoding the input of %s: %v", id, err)
			}
			if in.Heard != nil {
				specs = append(specs, *in.Heard)
			}
		}
		attrs := ev.GetWorkflowExecutionSignaledEventAttributes()
		if attrs == nil || attrs.GetSignalName() != workflows.SignalSpec {
			continue
		}
		var spec workflows.SpecChanged
		if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &spec); err != nil {
			t.Fatalf("decoding a spec signal of %s: %v", id, err)
		}
		specs = append(specs, spec)
	}
	return specs
}

func hasEvent(t *testing.T, ctx context.Context, id string, typ enumspb.EventType) bool {
	t.Helper()
	for _, ev := range history(t, ctx, id) {
		if ev.GetEventType() == typ {
			return true
		}
	}
	return false
}
