package tests

import (
	"bytes"
	"crypto/x509"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// TestIssuance walks one Certificate through its life on the real stack:
// issued via DNS-01 (RFC 2136 into BIND, validated by Pebble), renewed on
// demand, re-issued when its spec or Secret changes, and ended when deleted.
// The subtests run in order and build on each other.
func TestIssuance(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "issuance"
	w.namespace(ns)
	names := []string{"*.web.certflow.test", "web.certflow.test"}
	web := certificate(ns, "web", "web-tls", names...)
	w.create(web)
	workflowID := certificateWorkflowID(ns, "web")
	var first issued

	t.Run("a wildcard and its apex are issued via DNS-01", func(t *testing.T) {
		cert := w.waitReady(ns, "web")
		first = w.tlsSecret(ns, "web-tls")
		w.verify(first, "web.certflow.test", "anything.web.certflow.test")
		if first.secret.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %s, want %s", first.secret.Type, corev1.SecretTypeTLS)
		}
		if got := first.secret.Annotations["certflow.dev/alt-names"]; got != "*.web.certflow.test,web.certflow.test" {
			t.Errorf("alt-names annotation %q", got)
		}
		if cert.Status.Revision == nil || *cert.Status.Revision != 1 || cert.Status.NotAfter == nil || cert.Status.RenewalTime == nil {
			t.Errorf("status lacks revision/notAfter/renewalTime: %+v", cert.Status)
		}
		if cert.Status.WorkflowID != workflowID || cert.Status.IssuedBy != "ClusterIssuer/pebble" {
			t.Errorf("status workflowID %q issuedBy %q", cert.Status.WorkflowID, cert.Status.IssuedBy)
		}
		if left := w.challengeRecords(names...); len(left) > 0 {
			t.Errorf("challenge records left in BIND: %v", left)
		}
		if _, err := w.temporal.DescribeWorkflowExecution(w.ctx, workflowID+"/order/1/1", ""); err == nil {
			t.Error("an Order child ran: the attempt runs in the Certificate workflow")
		}
	})

	t.Run("the Web UI says what each workflow is for and waits for", func(t *testing.T) {
		w := w.in(t)
		desc, err := w.temporal.DescribeWorkflowExecution(w.ctx, workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := summaryText(t, desc.GetExecutionConfig().GetUserMetadata().GetSummary()), "*.web.certflow.test, web.certflow.test via ClusterIssuer/pebble"; got != want {
			t.Errorf("the Certificate workflow's summary %q, want %q", got, want)
		}
		// Every step of the attempt says what it does, and the last timer
		// what it waits for.
		var steps []string
		var renewal string
		iter := w.temporal.GetWorkflowHistory(w.ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity", ev.GetActivityTaskScheduledEventAttributes() != nil:
				summary := summaryText(t, ev.GetUserMetadata().GetSummary())
				if summary == "" {
					t.Errorf("event %d (%s) has no summary", ev.GetEventId(), ev.GetEventType())
				}
				steps = append(steps, summary)
			case ev.GetTimerStartedEventAttributes() != nil:
				renewal = summaryText(t, ev.GetUserMetadata().GetSummary())
			}
		}
		presenting := slices.IndexFunc(steps, func(s string) bool {
			names, ok := strings.CutPrefix(s, "presenting the challenges of ")
			return ok && slices.Equal(slices.Sorted(slices.Values(strings.Split(names, ", "))), []string{"*.web.certflow.test", "web.certflow.test"})
		})
		if presenting < 0 {
			t.Errorf("the attempt's steps say %q, want the challenges presented named", steps)
		}
		if !strings.HasPrefix(renewal, "renewal at ") && !strings.HasPrefix(renewal, "ARI re-check at ") {
			t.Errorf("the last timer's summary %q, want the renewal or an ARI re-check", renewal)
		}
		res, err := w.temporal.QueryWorkflow(w.ctx, workflowID, "", "__temporal_workflow_metadata")
		if err != nil {
			t.Fatal(err)
		}
		var meta sdkpb.WorkflowMetadata
		if err := res.Get(&meta); err != nil {
			t.Fatal(err)
		}
		if details := meta.GetCurrentDetails(); !strings.Contains(details, "Certificate issuance/web") || !strings.Contains(details, "Ready: True Issued") {
			t.Errorf("current details %q, want the Certificate and its Ready condition", details)
		}
	})

	t.Run("temporal workflow signal --name renew issues a new serial and key", func(t *testing.T) {
		out, err := exec.Command("../bin/temporal", "workflow", "signal", "--address", w.stack.Temporal.Address,
			"--workflow-id", workflowID, "--name", workflows.SignalRenew).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal workflow signal: %v\n%s", err, out)
		}
		w.waitFor(ns, "web", 2*time.Minute, "revision 2", revisionAtLeast(2))
		renewed := w.tlsSecret(ns, "web-tls")
		w.verify(renewed, "web.certflow.test")
		if renewed.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) == 0 {
			t.Error("renewal kept the serial")
		}
		if sameKey(renewed, first) {
			t.Error("rotationPolicy Always (the default) kept the private key")
		}
	})

	t.Run("adding a dnsName re-issues", func(t *testing.T) {
		w.update(web, func() { web.Spec.DNSNames = append(web.Spec.DNSNames, "api.certflow.test") })
		w.waitReady(ns, "web")
		got := w.tlsSecret(ns, "web-tls")
		if !slices.Contains(got.leaf.DNSNames, "api.certflow.test") {
			t.Fatalf("certificate names %v lack the added api.certflow.test", got.leaf.DNSNames)
		}
		w.verify(got, "api.certflow.test", "web.certflow.test")
	})

	t.Run("deleting the Secret re-issues", func(t *testing.T) {
		revision := *w.waitReady(ns, "web").Status.Revision
		before := w.tlsSecret(ns, "web-tls")
		if err := w.kube.Delete(w.ctx, before.secret); err != nil {
			t.Fatal(err)
		}
		w.waitFor(ns, "web", 2*time.Minute, "a new revision", revisionAtLeast(revision+1))
		after := w.tlsSecret(ns, "web-tls")
		w.verify(after, "web.certflow.test")
	})

	t.Run("no private key or TSIG secret is in any workflow history", func(t *testing.T) {
		w.assertNoSecretsInHistories(t)
	})

	t.Run("deleting the Certificate ends its workflow", func(t *testing.T) {
		if err := w.kube.Delete(w.ctx, web); err != nil {
			t.Fatal(err)
		}
		if status := w.workflowClosed(workflowID, time.Minute); status != "Canceled" {
			t.Errorf("workflow ended %s, want Canceled", status)
		}
		w.gone(web, time.Minute)
	})
}

func TestRotationPolicyNeverKeepsTheKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "never"
	w.namespace(ns)
	c := certificate(ns, "api", "api-tls", "api.certflow.test")
	c.Spec.PrivateKey = &certflowv1.CertificatePrivateKey{Algorithm: certflowv1.ECDSAKeyAlgorithm, Size: 384, RotationPolicy: certflowv1.RotationPolicyNever}
	w.create(c)
	w.waitReady(ns, "api")
	first := w.tlsSecret(ns, "api-tls")
	if first.leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("key algorithm %s, want ECDSA", first.leaf.PublicKeyAlgorithm)
	}
	if err := w.temporal.SignalWorkflow(w.ctx, certificateWorkflowID(ns, "api"), "", workflows.SignalRenew, nil); err != nil {
		t.Fatal(err)
	}
	w.waitFor(ns, "api", 2*time.Minute, "revision 2", revisionAtLeast(2))
	renewed := w.tlsSecret(ns, "api-tls")
	if renewed.leaf.SerialNumber.Cmp(first.leaf.SerialNumber) == 0 {
		t.Error("renewal kept the serial")
	}
	if !sameKey(renewed, first) {
		t.Error("rotationPolicy Never changed the private key")
	}
}

// TestWorkerKilledMidIssuanceResumesTheSameOrder kills certflow with SIGKILL
// while the CA holds its finalize request, restarts it, and checks the
// certificate is issued from the order made before the kill.
func TestWorkerKilledMidIssuanceResumesTheSameOrder(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "killed"
	w.namespace(ns)
	w.proxy.Delay(sandbox.ActionFinalize, 3*time.Second)
	w.create(certificate(ns, "db", "db-tls", "db.certflow.test"))
	w.waitFor(ns, "db", 2*time.Minute, "step finalizing", func(c *certflowv1.Certificate) bool {
		return c.Status.Step == certflowv1.StepFinalizing
	})
	w.killCertflow()
	w.proxy.Delay(sandbox.ActionFinalize, 0)
	// Orders the CA created (a new-order refused for a bad nonce, which the
	// client sends again, made none).
	orders := len(w.ordersCreatedAt())
	w.startCertflow()
	w.waitReady(ns, "db")
	w.verify(w.tlsSecret(ns, "db-tls"), "db.certflow.test")
	if after := len(w.ordersCreatedAt()); after != orders || orders != 1 {
		t.Errorf("orders created: %d before the kill, %d after; want the one order reused", orders, after)
	}
}

func revisionAtLeast(n int) func(*certflowv1.Certificate) bool {
	return func(c *certflowv1.Certificate) bool {
		return c.Status.Revision != nil && *c.Status.Revision >= n && c.Status.ObservedGeneration == c.Generation
	}
}

func sameKey(a, b issued) bool {
	ad, _ := x509.MarshalPKIXPublicKey(a.key.Public())
	bd, _ := x509.MarshalPKIXPublicKey(b.key.Public())
	return bytes.Equal(ad, bd)
}

// update changes a Certificate, retrying on conflicts.
func (w *world) update(c *certflowv1.Certificate, change func()) {
	w.t.Helper()
	for range 10 {
		if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(c), c); err != nil {
			w.t.Fatal(err)
		}
		change()
		err := w.kube.Update(w.ctx, c)
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("updating Certificate %s: conflicts", c.Name)
}

// summaryText decodes a user metadata payload: a JSON string.
func summaryText(t *testing.T, p *commonpb.Payload) string {
	t.Helper()
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		t.Fatalf("decoding a summary: %v", err)
	}
	return s
}
