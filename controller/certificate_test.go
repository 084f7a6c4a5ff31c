package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// startCertificate creates a ClusterIssuer and a Certificate naming it, and
// waits until the Certificate's workflow exists.
func startCertificate(t *testing.T, ctx context.Context) (cert *v1alpha1.Certificate, workflowID string) {
	t.Helper()
	ns := newNamespace(t, ctx)
	issuer := &v1alpha1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "le-" + ns}, Spec: acmeIssuerSpec()}
	if err := k8s.Create(ctx, issuer); err != nil {
		t.Fatal(err)
	}
	// Once the manager has seen the issuer, its creation no longer maps to
	// the Certificate: fewer duplicate signals for the tests to sort out.
	eventually(t, "the manager's cache has the ClusterIssuer", func() (bool, string) {
		err := mgr.GetClient().Get(ctx, client.ObjectKeyFromObject(issuer), &v1alpha1.ClusterIssuer{})
		return err == nil, fmt.Sprint(err)
	})
	cert = newCertificate(ns, "web", v1alpha1.ObjectReference{Name: issuer.Name, Kind: "ClusterIssuer", Group: "certflow.dev"})
	if err := k8s.Create(ctx, cert); err != nil {
		t.Fatal(err)
	}
	workflowID = activities.CertificateWorkflowID(testCluster, activities.CertificateRef{Namespace: ns, Name: cert.Name})
	eventually(t, "the Certificate's workflow exists", func() (bool, string) {
		_, err := describe(ctx, workflowID)
		return err == nil, fmt.Sprint(err)
	})
	return cert, workflowID
}

func TestApplyingACertificateStartsItsWorkflowWithAHint(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cert, id := startCertificate(t, ctx)

	desc, err := describe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != workflows.CertificateWorkflowName || info.GetTaskQueue() != testTaskQueue ||
		info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow %s: type %q on task queue %q, %s; want %q on %q, running",
			id, info.GetType().GetName(), info.GetTaskQueue(), info.GetStatus(), workflows.CertificateWorkflowName, testTaskQueue)
	}
	// The workflow is started with its Certificate's name only, and a hint
	// to look at it: it reads the spec from the API server itself.
	var in workflows.CertificateInput
	startInput(t, ctx, id, &in)
	// A new Certificate's run is started with the hint in its input (an
	// eager start), not sent it by signal.
	if in.Certificate != (activities.CertificateRef{Namespace: cert.Namespace, Name: "web"}) || in.Spec.Generation != 0 ||
		in.Heard == nil || *in.Heard != (workflows.SpecChanged{Generation: 1}) {
		t.Fatalf("start input: %+v, want the Certificate and a hint of generation 1 and no Secret", in)
	}
	eventually(t, "the Certificate has the finalizer", func() (bool, string) {
		var got v1alpha1.Certificate
		err := k8s.Get(ctx, client.ObjectKeyFromObject(cert), &got)
		return err == nil && controllerutil.ContainsFinalizer(&got, Finalizer), fmt.Sprint(got.Finalizers, err)
	})
}

func TestSpecChangesAreSignalledAndStatusOrLabelChangesAreNot(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cert, id := startCertificate(t, ctx)
	key := client.ObjectKeyFromObject(cert)
	generations := func() (gens []int64) {
		for _, s := range hints(t, ctx, id) {
			gens = append(gens, s.Generation)
		}
		return gens
	}
	// Repeats of a generation are allowed (the workflow ignores them): an
	// issuer event, the resync or a retried reconcile send the same snapshot.
	addDNSName := func(name string) {
		t.Helper()
		if err := k8s.Get(ctx, key, cert); err != nil {
			t.Fatal(err)
		}
		cert.Spec.DNSNames = append(cert.Spec.DNSNames, name)
		if err := k8s.Update(ctx, cert); err != nil {
			t.Fatal(err)
		}
	}

	addDNSName("www.example.test")
	var before int
	eventually(t, "a spec signal with generation 2", func() (bool, string) {
		specs := hints(t, ctx, id)
		last := specs[len(specs)-1]
		before = len(specs)
		return last.Generation == 2, fmt.Sprintf("%+v", specs)
	})

	// A status write (what the workflow does) and a label change leave the
	// generation alone and must not be signalled.
	if err := k8s.Get(ctx, key, cert); err != nil {
		t.Fatal(err)
	}
	meta.SetStatusCondition(&cert.Status.Conditions, metav1.Condition{Type: "Ready", Status: "False", Reason: "Pending", Message: "written by the test"})
	if err := k8s.Status().Update(ctx, cert); err != nil {
		t.Fatal(err)
	}
	cert.Labels = map[string]string{"team": "shop"}
	if err := k8s.Update(ctx, cert); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the manager's cache sees the label", func() (bool, string) {
		var cached v1alpha1.Certificate
		err := mgr.GetClient().Get(ctx, key, &cached)
		return err == nil && cached.Labels["team"] == "shop", fmt.Sprint(cached.Labels, err)
	})
	// Barrier: a later spec change is signalled; nothing came in between.
	addDNSName("api.example.test")
	eventually(t, "after generation 2, one signal: generation 3", func() (bool, string) {
		gens := generations()
		return slices.Equal(gens[before:], []int64{3}), fmt.Sprint(gens, " after ", before)
	})
}

func TestACertificateWaitsForAMissingIssuerAndStartsWhenItAppears(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ns := newNamespace(t, ctx)
	cert := newCertificate(ns, "web", v1alpha1.ObjectReference{Name: "later"})
	if err := k8s.Create(ctx, cert); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(cert)
	id := activities.CertificateWorkflowID(testCluster, activities.CertificateRef{Namespace: ns, Name: "web"})
	wantMessage := fmt.Sprintf("Issuer %q not found in namespace %q", "later", ns)
	eventually(t, "Ready=False IssuerNotFound", func() (bool, string) {
		var got v1alpha1.Certificate
		err := k8s.Get(ctx, key, &got)
		c := meta.FindStatusCondition(got.Status.Conditions, "Ready")
		return err == nil && c != nil && c.Status == "False" && c.Reason == v1alpha1.ReasonIssuerNotFound && c.Message == wantMessage,
			fmt.Sprintf("%+v %v", got.Status.Conditions, err)
	})
	eventually(t, "a Warning Event IssuerNotFound", func() (bool, string) {
		var events eventsv1.EventList
		if err := k8s.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if e.Regarding.Name == "web" && e.Type == "Warning" && e.Reason == v1alpha1.ReasonIssuerNotFound && e.Note == wantMessage {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(events.Items))
	})
	// The reconcile that wrote the condition is the one that decided not to start.
	if _, err := describe(ctx, id); !isNotFound(err) {
		t.Fatalf("describing %s with the issuer missing: err = %v, want NotFound", id, err)
	}

	issuer := &v1alpha1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "later"}, Spec: acmeIssuerSpec()}
	if err := k8s.Create(ctx, issuer); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the workflow starts once the issuer exists", func() (bool, string) {
		_, err := describe(ctx, id)
		return err == nil, fmt.Sprint(err)
	})
	eventually(t, "the IssuerNotFound condition is taken back", func() (bool, string) {
		var got v1alpha1.Certificate
		err := k8s.Get(ctx, key, &got)
		return err == nil && meta.FindStatusCondition(got.Status.Conditions, "Ready") == nil, fmt.Sprintf("%+v %v", got.Status.Conditions, err)
	})
}

func TestTargetSecretChangesByOthersAreSignalledWithItsResourceVersion(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cert, id := startCertificate(t, ctx)
	lastVersion := func() (string, int) {
		specs := hints(t, ctx, id)
		return specs[len(specs)-1].SecretResourceVersion, len(specs)
	}

	secret := newSecret(cert.Namespace, cert.Spec.SecretName, map[string]string{activities.LabelCertificateName: cert.Name})
	if err := k8s.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	var signalsBefore int
	eventually(t, "a spec signal carries the Secret's resourceVersion", func() (bool, string) {
		v, n := lastVersion()
		signalsBefore = n
		return v == secret.ResourceVersion, fmt.Sprintf("%q, want %q", v, secret.ResourceVersion)
	})

	// certflow's own write (StoreSecret's) is not signalled: the workflow
	// has its version. A later write by someone else is. (Managed fields
	// count in seconds: each write is in a second of its own.)
	time.Sleep(1100 * time.Millisecond)
	secret.Data["tls.crt"] = []byte("issued by certflow")
	if err := k8s.Update(ctx, secret, client.FieldOwner(activities.FieldManager)); err != nil {
		t.Fatal(err)
	}
	ownVersion := secret.ResourceVersion
	time.Sleep(1100 * time.Millisecond)
	secret.Labels["team"] = "web"
	if err := k8s.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a spec signal carries the version of the other writer's change", func() (bool, string) {
		v, n := lastVersion()
		signalsBefore = n
		return v == secret.ResourceVersion, fmt.Sprintf("%q, want %q", v, secret.ResourceVersion)
	})
	for _, spec := range hints(t, ctx, id) {
		if spec.SecretResourceVersion == ownVersion {
			t.Fatalf("certflow's own write (version %s) was signalled", ownVersion)
		}
	}

	if err := k8s.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a later spec signal says the Secret is gone", func() (bool, string) {
		v, n := lastVersion()
		return n > signalsBefore && v == "", fmt.Sprintf("%d signals, last %q", n, v)
	})
}

func TestOwnSecretWrite(t *testing.T) {
	at := func(sec int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 11, 29, 4, 0, sec, 0, time.UTC)} }
	certflow := func(sec int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: activities.FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Time: at(sec)}
	}
	other := func(manager string, sec int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Time: at(sec)}
	}
	for _, tc := range []struct {
		name    string
		writers []metav1.ManagedFieldsEntry
		want    bool
	}{
		{"certflow alone", []metav1.ManagedFieldsEntry{certflow(1)}, true},
		{"certflow after another writer", []metav1.ManagedFieldsEntry{other("kubectl-edit", 1), certflow(2)}, true},
		{"another writer after certflow", []metav1.ManagedFieldsEntry{certflow(1), other("kubectl-label", 2)}, false},
		{"another writer in the same second", []metav1.ManagedFieldsEntry{other("kubectl-edit", 1), certflow(1)}, false},
		{"no write by certflow", []metav1.ManagedFieldsEntry{other("kubectl-create", 1)}, false},
		{"no managed fields", nil, false},
	} {
		if got := ownSecretWrite(tc.writers); got != tc.want {
			t.Errorf("%s: ownSecretWrite = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDeletingACertificateCancelsItsWorkflowAndWaitsUntilItStops(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	cert, id := startCertificate(t, ctx)
	key := client.ObjectKeyFromObject(cert)
	eventually(t, "the finalizer is on", func() (bool, string) {
		err := k8s.Get(ctx, key, cert)
		return err == nil && controllerutil.ContainsFinalizer(cert, Finalizer), fmt.Sprint(cert.Finalizers, err)
	})

	if err := k8s.Delete(ctx, cert); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the workflow is asked to cancel", func() (bool, string) {
		return hasEvent(t, ctx, id, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED), "no WorkflowExecutionCancelRequested"
	})
	// No worker runs it, so the workflow stays open and the Certificate stays.
	var got v1alpha1.Certificate
	if err := k8s.Get(ctx, key, &got); err != nil || got.DeletionTimestamp.IsZero() {
		t.Fatalf("while the workflow runs the Certificate must stay, being deleted: %v, deletionTimestamp %v", err, got.DeletionTimestamp)
	}

	if err := temporal.TerminateWorkflow(ctx, id, "", "the test plays a workflow that has cleaned up"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Certificate is gone once its workflow stopped", func() (bool, string) {
		err := k8s.Get(ctx, key, &got)
		return apierrors.IsNotFound(err), fmt.Sprint(got.Finalizers, err)
	})
}
