package tests

import (
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// TestTwoClustersShareATemporalNamespace runs a second cluster (its own
// kube-apiserver, its own certflow with --cluster-name other and its own
// task queue) against the world's Temporal namespace. Both have Certificate
// default/web. Deleting the world's ends only the world's workflow: the
// other cluster's keeps running, and renews when asked. Workflow IDs without
// the cluster's name were the same in both, so the deletion cancelled the
// other cluster's workflow.
func TestTwoClustersShareATemporalNamespace(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	other, err := sandbox.StartKubernetes(w.ctx, sandbox.KubernetesOptions{Dir: filepath.Join(w.dir, "other-cluster")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Stop() })
	otherKube, err := other.Client()
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sandbox.ClusterResourceNamespace}},
		w.stack.TSIGSecret(),
		w.stack.ClusterIssuer("pebble", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName),
		certificate("default", "web", "web-tls", "web.other.certflow.test"),
	} {
		if err := otherKube.Create(w.ctx, obj); err != nil {
			t.Fatalf("creating %T %s in the other cluster: %v", obj, obj.GetName(), err)
		}
	}
	const otherName, otherQueue = "other", "certflow-other"
	w.startOwnCertflow("certflow-other-cluster.log", "--kubeconfig", other.Kubeconfig, "--cluster-name", otherName, "--task-queue", otherQueue)

	mine := certificate("default", "web", "web-tls", "web.certflow.test")
	w.create(mine)
	w.waitReady("default", "web")
	otherReady := func(revision int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			var c certflowv1.Certificate
			err := otherKube.Get(w.ctx, client.ObjectKey{Namespace: "default", Name: "web"}, &c)
			if err == nil && meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady) &&
				c.Status.Revision != nil && *c.Status.Revision >= revision {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other cluster's Certificate default/web: not Ready with revision %d in 2 minutes (%v): %+v", revision, err, c.Status)
			}
		}
	}
	otherReady(1)

	otherID := activities.CertificateWorkflowID(otherName, activities.CertificateRef{Namespace: "default", Name: "web"})
	if err := w.kube.Delete(w.ctx, mine); err != nil {
		t.Fatal(err)
	}
	w.gone(mine, time.Minute)
	w.workflowClosed(certificateWorkflowID("default", "web"), time.Minute)
	desc, err := w.temporal.DescribeWorkflowExecution(w.ctx, otherID, "")
	if err != nil {
		t.Fatal(err)
	}
	if status := desc.WorkflowExecutionInfo.Status.String(); status != "Running" {
		t.Fatalf("the other cluster's workflow %s is %s after this cluster's Certificate was deleted, want Running", otherID, status)
	}
	if err := w.temporal.SignalWorkflow(w.ctx, otherID, "", workflows.SignalRenew, nil); err != nil {
		t.Fatal(err)
	}
	otherReady(2)
}
