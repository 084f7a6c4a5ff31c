package controller

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
)

// Finalizer keeps a deleted Certificate until its workflow has stopped, so
// that the workflow's clean-up (DNS records, the pending key Secret) has run
// before the object is gone.
const Finalizer = "certflow.dev/workflow"

// AnnotationForceDelete, set to "true" on a Certificate, lets it go at once
// when it is deleted: its workflow is terminated, if Temporal can be
// reached, without its clean-up.
const AnnotationForceDelete = "certflow.dev/force-delete"

// DefaultFinalizerTimeout is how long a deleted Certificate waits for its
// workflow to stop. Clean-up takes seconds; a workflow whose tasks fail (a
// worker without the payload key) or a Temporal that is down must not keep a
// Certificate, or its namespace, from going forever.
const DefaultFinalizerTimeout = 5 * time.Minute

// deletionRecheck is how long a deleted Certificate waits before the
// reconciler looks again whether its cancelled workflow has stopped.
const deletionRecheck = 2 * time.Second

// finalize cancels the workflow of a deleted Certificate and lets the object
// go once the workflow has stopped (it cleans up when cancelled), or when
// the wait is over: past the finalizer timeout, or at once with
// AnnotationForceDelete. A workflow still running then is terminated, and a
// Warning Event says what may be left behind.
func (r *certificateReconciler) finalize(ctx context.Context, cert *v1alpha1.Certificate) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cert, Finalizer) {
		return ctrl.Result{}, nil
	}
	// A Certificate made again under the same name starts a new workflow.
	r.sent.Delete(client.ObjectKeyFromObject(cert))
	id := activities.CertificateWorkflowID(r.cluster, activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name})
	deadline := cert.DeletionTimestamp.Add(r.timeout)
	forced := cert.Annotations[AnnotationForceDelete] == "true"
	if !forced && time.Now().Before(deadline) {
		running, err := r.cancel(ctx, id)
		switch {
		case err != nil:
			// Temporal is down, or refuses: look again, and give up at the deadline.
			ctrl.LoggerFrom(ctx).Error(err, "stopping the workflow of a deleted Certificate", "workflowID", id, "until", deadline)
			return ctrl.Result{RequeueAfter: min(time.Until(deadline), 10*time.Second)}, nil
		case running:
			return ctrl.Result{RequeueAfter: min(time.Until(deadline), deletionRecheck)}, nil
		}
		return r.release(ctx, cert)
	}
	why := fmt.Sprintf("its workflow did not stop within %s", r.timeout)
	if forced {
		why = "it is annotated " + AnnotationForceDelete
	}
	// One try, briefly: Temporal may be what is down.
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	left := "it may be left running, without its clean-up (DNS records, the pending key Secret)"
	switch err := r.temporal.TerminateWorkflow(tctx, id, "", "Certificate deleted: "+why); {
	case isNotFound(err):
		return r.release(ctx, cert) // it had stopped
	case err == nil:
		left = "it was terminated without its clean-up (DNS records, the pending key Secret may remain)"
	}
	r.events.Eventf(cert, nil, corev1.EventTypeWarning, "ForcedDeletion", eventAction,
		"removed the finalizer because %s: workflow %s: %s", why, id, left)
	return r.release(ctx, cert)
}

// cancel asks the workflow to stop and says whether it still runs.
// Cancelling is idempotent: a second request for a run already asked to
// stop changes nothing, and a closed or missing workflow is NotFound.
func (r *certificateReconciler) cancel(ctx context.Context, id string) (bool, error) {
	if err := r.temporal.CancelWorkflow(ctx, id, ""); err != nil && !isNotFound(err) {
		return false, fmt.Errorf("cancelling workflow %s: %w", id, err)
	}
	return r.workflowRunning(ctx, id)
}

// release removes the finalizer.
func (r *certificateReconciler) release(ctx context.Context, cert *v1alpha1.Certificate) (ctrl.Result, error) {
	patch := client.MergeFromWithOptions(cert.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(cert, Finalizer)
	if err := r.client.Patch(ctx, cert, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("removing finalizer: %w", err))
	}
	return ctrl.Result{}, nil
}

// workflowRunning says whether the latest run of workflow id is still open.
func (r *certificateReconciler) workflowRunning(ctx context.Context, id string) (bool, error) {
	desc, err := r.temporal.DescribeWorkflowExecution(ctx, id, "")
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describing workflow %s: %w", id, err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}
