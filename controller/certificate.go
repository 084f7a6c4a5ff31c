package controller

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// Finalizer keeps a deleted Certificate until its workflow has stopped, so
// that the workflow's clean-up (DNS records, the pending key Secret) has run
// before the object is gone.
const Finalizer = "certflow.dev/workflow"

// deletionRecheck is how long a deleted Certificate waits before the
// reconciler looks again whether its cancelled workflow has stopped. Clean-up
// takes seconds (one or two activities); a reconcile never blocks on it.
const deletionRecheck = 2 * time.Second

// eventAction is the action of the Events the controller records.
const eventAction = "Reconcile"

// +kubebuilder:rbac:groups=certflow.dev,resources=certificates,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates/finalizers,verbs=update
// +kubebuilder:rbac:groups=certflow.dev,resources=issuers;clusterissuers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=certflow,resources=leases,verbs=get;list;watch;create;update;patch;delete

// certificateReconciler turns each Certificate into workflow
// certificate/<namespace>/<name>. A reconcile sends the whole snapshot with
// SignalWithStart, which starts the workflow when none runs and otherwise only
// signals it; the workflow ignores a snapshot it has seen. The reconciler
// remembers what it sent and sends a snapshot equal to the last one only
// after a restart: every signal is a workflow task and history events, and a
// resync of thousands of Certificates must not wake thousands of sleeping
// workflows. For the same reason a new version of the target Secret that
// certflow wrote itself is not sent: the workflow has it from StoreSecret.
type certificateReconciler struct {
	client    client.Client
	temporal  tclient.Client
	taskQueue string
	cluster   string
	events    recorder.EventRecorder
	sent      sync.Map // types.NamespacedName -> workflows.CertificateSpec last sent
}

func (r *certificateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cert v1alpha1.Certificate
	if err := r.client.Get(ctx, req.NamespacedName, &cert); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cert.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &cert)
	}
	// The finalizer goes on before the workflow can exist, so that no
	// workflow outlives its Certificate unnoticed.
	if !controllerutil.ContainsFinalizer(&cert, Finalizer) {
		patch := client.MergeFromWithOptions(cert.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(&cert, Finalizer)
		if err := r.client.Patch(ctx, &cert, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	// An issuer that was missing (the workflow backs off, or never started)
	// and is back: the workflow hears at once, rather than after its backoff.
	issuerWasMissing := false
	if c := meta.FindStatusCondition(cert.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == v1alpha1.ReasonIssuerNotFound {
		issuerWasMissing = true
	}
	issuer, issuerSpec, err := r.resolveIssuer(ctx, &cert)
	if err != nil {
		return ctrl.Result{}, err
	}
	if issuer == nil {
		// The issuer watch brings the Certificate back when the issuer appears.
		return ctrl.Result{}, nil
	}
	version, ownWrite, err := r.secretVersion(ctx, &cert)
	if err != nil {
		return ctrl.Result{}, err
	}
	in := workflows.CertificateInput{
		Certificate: activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name},
		Spec:        snapshot(&cert, *issuer, issuerSpec.RetryBackoff, version),
	}
	if last, ok := r.sent.Load(req.NamespacedName); ok && !issuerWasMissing {
		switch {
		case reflect.DeepEqual(last, in.Spec):
			return ctrl.Result{}, nil
		case ownWrite && onlySecretVersionDiffers(last.(workflows.CertificateSpec), in.Spec):
			// certflow's own Secret write: the workflow has its version
			// from StoreSecret, and a signal would only wake it.
			r.sent.Store(req.NamespacedName, in.Spec)
			return ctrl.Result{}, nil
		}
	}
	id := activities.CertificateWorkflowID(r.cluster, activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name})
	run, err := r.temporal.SignalWithStartWorkflow(ctx, id, workflows.SignalSpec, in.Spec, tclient.StartWorkflowOptions{
		ID:        id,
		TaskQueue: r.taskQueue,
		// A Certificate deleted and made again gets a new run under the same ID.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.CertificateWorkflowName, in)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("sending spec to workflow %s: %w", id, err)
	}
	r.sent.Store(req.NamespacedName, in.Spec)
	if issuerWasMissing {
		if err := r.temporal.SignalWorkflow(ctx, id, "", workflows.SignalRenew, nil); err != nil {
			return ctrl.Result{}, fmt.Errorf("signalling workflow %s that its issuer is back: %w", id, err)
		}
	}
	ctrl.LoggerFrom(ctx).V(1).Info("sent spec", "workflowID", id, "runID", run.GetRunID(),
		"generation", cert.Generation, "secretResourceVersion", version)
	return ctrl.Result{}, nil
}

// onlySecretVersionDiffers says whether two snapshots differ in the target
// Secret's resourceVersion alone.
func onlySecretVersionDiffers(last, next workflows.CertificateSpec) bool {
	last.SecretResourceVersion = next.SecretResourceVersion
	return reflect.DeepEqual(last, next)
}

// finalize cancels the workflow of a deleted Certificate and lets the object
// go once the workflow has stopped. The workflow cleans up when cancelled;
// while it runs, the reconciler looks again after deletionRecheck.
func (r *certificateReconciler) finalize(ctx context.Context, cert *v1alpha1.Certificate) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cert, Finalizer) {
		return ctrl.Result{}, nil
	}
	// A Certificate made again under the same name starts a new workflow.
	r.sent.Delete(client.ObjectKeyFromObject(cert))
	id := activities.CertificateWorkflowID(r.cluster, activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name})
	// Cancelling is idempotent: a second request for a run already asked to
	// stop changes nothing, and a closed or missing workflow is NotFound.
	if err := r.temporal.CancelWorkflow(ctx, id, ""); err != nil && !isNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("cancelling workflow %s: %w", id, err)
	}
	running, err := r.workflowRunning(ctx, id)
	if err != nil {
		return ctrl.Result{}, err
	}
	if running {
		return ctrl.Result{RequeueAfter: deletionRecheck}, nil
	}
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
