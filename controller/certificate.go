package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// eventAction is the action of the Events the controller records.
const eventAction = "Reconcile"

// What the controller needs of the API server: ClusterRole certflow-controller
// in deploy/rbac (make generate). Its reads come from the manager's cache, which
// lists and watches; it writes only the finalizer (a patch) and status (the
// shim makes Certificates: package shim's markers). Secrets are watched as
// metadata for the re-signal on a changed target and on a changed issuer
// Secret (issuer_changes.go), and read with get only for --payload-key-secret:
// list shows as much, and no Secret is ever written. core/v1 Events are the
// leader election's and the shim's, events.k8s.io the other reconcilers'.
// kube-system is read for the default --cluster-name. The Lease
// Role is hand-written (deploy/rbac/leader-election.yaml): it has no namespace,
// so it lands where certflow is installed.
//
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates,verbs=list;watch;patch
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates/status,verbs=patch
// +kubebuilder:rbac:groups=certflow.dev,resources=issuers;clusterissuers,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,resourceNames=kube-system,verbs=get

// certificateReconciler turns each Certificate into workflow
// <cluster>/certificate/<namespace>/<name>. A reconcile sends a SpecChanged
// hint (the generation and the target Secret's version it saw): in the
// input of a new Certificate's run, or with SignalWithStart, which starts
// the workflow when none runs and otherwise only signals it (send); the
// workflow then reads the spec and the Secret itself.
// The reconciler remembers what it sent and sends the same hint again only
// after a restart: every signal is a workflow task and history events, and a
// resync of thousands of Certificates must not wake thousands of sleeping
// workflows. For the same reason a new version of the target Secret that
// certflow wrote itself is not sent: the workflow has it from StoreSecret.
type certificateReconciler struct {
	client client.Client
	// secrets holds the name and version of every Secret, for issuerVersion.
	secrets                  cache.Cache
	temporal                 tclient.Client
	taskQueue                string
	cluster                  string
	clusterResourceNamespace string
	searchAttributes         bool
	timeout                  time.Duration // FinalizerTimeout
	events                   recorder.EventRecorder
	sent                     sync.Map // types.NamespacedName -> workflows.SpecChanged last sent
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
	issuer, err := r.resolveIssuer(ctx, &cert)
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
	hint := workflows.SpecChanged{Generation: cert.Generation, SecretResourceVersion: version, SearchAttributes: r.searchAttributes}
	if waitsForConfigChange(&cert) || signsWithKeyPair(issuer) {
		if hint.ConfigVersion, err = r.configVersion(ctx, &cert, issuer); err != nil {
			return ctrl.Result{}, err
		}
	}
	if last, ok := r.sent.Load(req.NamespacedName); ok && !issuerWasMissing {
		switch last := last.(workflows.SpecChanged); {
		case last == hint:
			return ctrl.Result{}, nil
		case ownWrite && last.Generation == hint.Generation && last.ConfigVersion == hint.ConfigVersion:
			// certflow's own Secret write: the workflow has its version
			// from StoreSecret, and a signal would only wake it.
			r.sent.Store(req.NamespacedName, hint)
			return ctrl.Result{}, nil
		}
	}
	id := activities.CertificateWorkflowID(r.cluster, activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name})
	run, err := r.send(ctx, &cert, id, hint)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("sending the hint to workflow %s: %w", id, err)
	}
	r.sent.Store(req.NamespacedName, hint)
	if issuerWasMissing {
		if err := r.temporal.SignalWorkflow(ctx, id, "", workflows.SignalRenew, nil); err != nil {
			return ctrl.Result{}, fmt.Errorf("signalling workflow %s that its issuer is back: %w", id, err)
		}
	}
	ctrl.LoggerFrom(ctx).V(1).Info("sent spec", "workflowID", id, "runID", run.GetRunID(),
		"generation", cert.Generation, "secretResourceVersion", version)
	return ctrl.Result{}, nil
}

// send gives the Certificate's workflow the hint. A Certificate that no
// workflow has written to yet most likely has none: its run starts with the
// hint in its input, eagerly, so that in `run` this process's worker gets
// the run's first workflow task in the start's answer instead of through
// Temporal's task queue. Otherwise, or when a run is open after all, the hint
// goes by SignalWithStart, which starts a run when none is open.
func (r *certificateReconciler) send(ctx context.Context, cert *v1alpha1.Certificate, id string, hint workflows.SpecChanged) (tclient.WorkflowRun, error) {
	opts := tclient.StartWorkflowOptions{
		ID:        id,
		TaskQueue: r.taskQueue,
		// A Certificate deleted and made again gets a new run under the same ID.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// The Web UI's line for the run: what it is for, as it was started.
		StaticSummary: startSummary(cert),
	}
	in := workflows.CertificateInput{Certificate: activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name}, InlineOrders: true}
	if cert.Status.WorkflowID == "" {
		eager, first := opts, in
		eager.EnableEagerStart, eager.WorkflowExecutionErrorWhenAlreadyStarted = true, true
		first.Heard = &hint
		run, err := r.temporal.ExecuteWorkflow(ctx, eager, workflows.CertificateWorkflowName, first)
		var open *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &open) {
			return run, err
		}
	}
	return r.temporal.SignalWithStartWorkflow(ctx, id, workflows.SignalSpec, hint, opts, workflows.CertificateWorkflowName, in)
}

// startSummary is the Web UI's line for a Certificate's workflow: its names
// and its issuer, as they were when the workflow started.
func startSummary(cert *v1alpha1.Certificate) string {
	names := strings.Join(cert.Spec.DNSNames, ", ")
	if names == "" {
		names = cert.Spec.CommonName
	}
	if ref, err := issuerRefOf(cert); err == nil {
		return names + " via " + ref.String()
	}
	return names
}
