package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
)

// What makes a Certificate reconcile:
//   - a change of its spec (generation): the workflow's own status writes do
//     not, or every status write would echo back as a signal;
//   - its Issuer or ClusterIssuer being created, changed (generation) or
//     deleted, so that a Certificate waiting for a missing issuer starts when
//     it appears, and one waiting for a configuration change tries again
//     (issuer_changes.go). Issuer status updates do not: a ClusterIssuer's
//     status write must not reconcile every Certificate using it;
//   - a Secret it or its issuer reads changing, while it waits for a
//     configuration change (issuer_changes.go);
//   - its target Secret being created, changed or deleted, seen through
//     metadata-only watch of the Secrets labelled as a Certificate's.

// issuerRefIndex indexes Certificates by the issuer they name, as
// "<Kind>/<name>" (see issuerIndexKey); Issuers' Certificates are further
// found by namespace.
const issuerRefIndex = "spec.issuerRef"

func issuerIndexKey(kind, name string) string { return kind + "/" + name }

func setupCertificates(mgr manager.Manager, opts Options, secrets cache.Cache) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Certificate{}, issuerRefIndex,
		func(obj client.Object) []string {
			ref, err := issuerRefOf(obj.(*v1alpha1.Certificate))
			if err != nil {
				return nil
			}
			return []string{issuerIndexKey(ref.Kind, ref.Name)}
		})
	if err != nil {
		return err
	}
	r := &certificateReconciler{
		client:                   mgr.GetClient(),
		secrets:                  secrets,
		temporal:                 opts.Temporal,
		taskQueue:                opts.TaskQueue,
		cluster:                  opts.Cluster,
		clusterResourceNamespace: opts.ClusterResourceNamespace,
		searchAttributes:         opts.SearchAttributes,
		timeout:                  opts.FinalizerTimeout,
		events:                   mgr.GetEventRecorder("certflow-controller"),
	}
	// Creations, deletions and spec changes; see the list above.
	issuerChanges := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("certificate").
		For(&v1alpha1.Certificate{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.Issuer{}, handler.EnqueueRequestsFromMapFunc(r.certificatesOf(v1alpha1.IssuerKind)), issuerChanges).
		Watches(&v1alpha1.ClusterIssuer{}, handler.EnqueueRequestsFromMapFunc(r.certificatesOf(v1alpha1.ClusterIssuerKind)), issuerChanges).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(certificateOfSecret)).
		WatchesRawSource(r.watchIssuerSecrets()).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}

// certificatesOf maps an issuer of the given kind to the Certificates that
// name it: in its namespace for an Issuer, anywhere for a ClusterIssuer.
func (r *certificateReconciler) certificatesOf(kind string) handler.MapFunc {
	return func(ctx context.Context, issuer client.Object) []reconcile.Request {
		return r.certificatesOfIssuer(ctx, kind, issuer, func(*v1alpha1.Certificate) bool { return true })
	}
}

// certificatesOfIssuer lists the Certificates that name the issuer and
// keeps those that pass keep.
func (r *certificateReconciler) certificatesOfIssuer(ctx context.Context, kind string, issuer client.Object, keep func(*v1alpha1.Certificate) bool) []reconcile.Request {
	var certs v1alpha1.CertificateList
	opts := []client.ListOption{client.MatchingFields{issuerRefIndex: issuerIndexKey(kind, issuer.GetName())}}
	if kind == v1alpha1.IssuerKind {
		opts = append(opts, client.InNamespace(issuer.GetNamespace()))
	}
	if err := r.client.List(ctx, &certs, opts...); err != nil {
		// A read of the cache fails only when it is not started; the
		// periodic resync reconciles everything again anyway.
		ctrl.LoggerFrom(ctx).Error(err, "listing Certificates of an issuer", "kind", kind, "name", issuer.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range certs.Items {
		if keep(&certs.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&certs.Items[i])})
		}
	}
	return reqs
}

// certificateOfSecret maps a Secret to the Certificate it is labelled for.
// The label holds a hash of a name too long for a label value, so the name
// comes from the annotation beside it (activities.SecretOwner).
func certificateOfSecret(_ context.Context, secret client.Object) []reconcile.Request {
	name, _ := activities.SecretOwner(secret.GetLabels(), secret.GetAnnotations())
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: secret.GetNamespace(), Name: name}}}
}
