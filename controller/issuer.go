package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// +kubebuilder:rbac:groups=certflow.dev,resources=issuers/status;clusterissuers/status,verbs=patch

// issuerReconciler serves one kind, Issuer or ClusterIssuer. For each issuer
// (ACME, ca, selfSigned or vault) it starts workflow
// <cluster>/issuer/<kind>/<namespace>/<name>/<uid>/<generation>, which
// registers the account, checks the key pair or logs in to Vault, and writes the issuer's
// status; the ID names the generation, so each spec change is checked once
// and a restart of the controller starts nothing new (the ID is never
// reused). When a Secret the issuer reads changes while its workflow waits
// after a failure, the workflow is told to try again now.
type issuerReconciler struct {
	client                   client.Client
	temporal                 tclient.Client
	taskQueue                string
	cluster                  string
	clusterResourceNamespace string
	events                   recorder.EventRecorder
	kind                     string
}

func setupIssuers(mgr manager.Manager, opts Options, secrets cache.Cache) error {
	for _, kind := range []string{v1alpha1.IssuerKind, v1alpha1.ClusterIssuerKind} {
		obj, _ := v1alpha1.NewIssuerObject(kind) // a known kind
		r := &issuerReconciler{
			client:                   mgr.GetClient(),
			temporal:                 opts.Temporal,
			taskQueue:                opts.TaskQueue,
			cluster:                  opts.Cluster,
			clusterResourceNamespace: opts.ClusterResourceNamespace,
			events:                   mgr.GetEventRecorder("certflow-controller"),
			kind:                     kind,
		}
		err := ctrl.NewControllerManagedBy(mgr).
			Named(strings.ToLower(kind)).
			For(obj, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
			WatchesRawSource(source.Kind(secrets, client.Object(secretMetadata()), handler.EnqueueRequestsFromMapFunc(r.readingSecret))).
			WithOptions(crcontroller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
			Complete(r)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	return nil
}

func (r *issuerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj, err := v1alpha1.NewIssuerObject(r.kind)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	typ := obj.IssuerSpec().Type() // the CRD admits only the types certflow serves
	ref := activities.IssuerRef{Kind: r.kind, Namespace: req.Namespace, Name: req.Name}
	in := workflows.IssuerInput{Issuer: ref, Generation: obj.GetGeneration(), Type: typ}
	id := activities.IssuerWorkflowID(r.cluster, ref, string(obj.GetUID()), in.Generation)
	_, err = r.temporal.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             r.taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// Say "already started" rather than hand back the existing run: for
		// this ID that means done, whether the run is open or closed.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.IssuerWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return ctrl.Result{}, fmt.Errorf("starting workflow %s: %w", id, err)
	}
	if started != nil && failed(obj) {
		// A Secret the issuer reads may have changed: try again now rather
		// than at the end of the backoff. A closed workflow has nothing to
		// try again.
		err := r.temporal.SignalWorkflow(ctx, id, "", workflows.SignalRecheck, nil)
		var gone *serviceerror.NotFound
		if err != nil && !errors.As(err, &gone) {
			return ctrl.Result{}, fmt.Errorf("signalling workflow %s: %w", id, err)
		}
	}
	return ctrl.Result{}, nil
}

// failed says whether the workflow of the issuer's current generation
// reported a failure, after which it waits to try again.
func failed(obj v1alpha1.IssuerObject) bool {
	ready := meta.FindStatusCondition(obj.IssuerStatus().Conditions, v1alpha1.ConditionReady)
	return ready != nil && ready.Status == metav1.ConditionFalse && ready.ObservedGeneration == obj.GetGeneration()
}

// readingSecret maps a Secret to the issuers of this kind that read it.
func (r *issuerReconciler) readingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list client.ObjectList = &v1alpha1.IssuerList{}
	opts := []client.ListOption{client.MatchingFields{secretIndex: secret.GetName()}}
	switch {
	case r.kind == v1alpha1.IssuerKind:
		opts = append(opts, client.InNamespace(secret.GetNamespace()))
	case secret.GetNamespace() == r.clusterResourceNamespace:
		list = &v1alpha1.ClusterIssuerList{}
	default:
		return nil // ClusterIssuers read Secrets of the cluster-resource namespace only
	}
	if err := r.client.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the issuers of a Secret", "kind", r.kind, "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	items, _ := meta.ExtractList(list) // a typed list's items always extract
	reqs := make([]reconcile.Request, 0, len(items))
	for _, item := range items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(item.(client.Object))})
	}
	return reqs
}
