package shim

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/certflow/certflow/api/v1alpha1"
)

var ingressGVK = networkingv1.SchemeGroupVersion.WithKind("Ingress")

// ingressReconciler is the ingress-shim: an annotated Ingress gets one
// Certificate per spec.tls entry, named after its secretName, with its hosts
// as the names.
type ingressReconciler struct{ syncer }

func (r *ingressReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ing networkingv1.Ingress
	if err := r.client.Get(ctx, req.NamespacedName, &ing); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, r.sync(ctx, &ing, ingressGVK, true, func(skip func(string, ...any)) (entries, error) {
		return tlsEntries(ing.Spec.TLS, skip)
	})
}

// tlsEntries are the Certificates an Ingress's TLS entries ask for. An entry
// without hosts or secretName is skipped. Two entries with one secretName
// refuse the Ingress, as cert-manager does: the Certificate is named after
// the Secret, and merging the entries would hide a mistake.
func tlsEntries(tls []networkingv1.IngressTLS, skip func(string, ...any)) (entries, error) {
	var ents entries
	first := map[string]int{}
	for i, t := range tls {
		if j, ok := first[t.SecretName]; ok && t.SecretName != "" {
			return entries{}, fmt.Errorf("spec.tls[%d].secretName %q is also the secretName of spec.tls[%d]: each TLS entry needs a Secret of its own", i, t.SecretName, j)
		}
		first[t.SecretName] = i
		switch {
		case t.SecretName == "":
			skip("skipped spec.tls[%d] (hosts %s): it has no secretName", i, strings.Join(t.Hosts, ", "))
		case len(t.Hosts) == 0:
			skip("skipped spec.tls[%d] (secretName %s): it has no hosts", i, t.SecretName)
			ents.keep = append(ents.keep, t.SecretName)
		default:
			ents.want = append(ents.want, wanted{secretName: t.SecretName, hosts: t.Hosts})
		}
	}
	return ents, nil
}

// TrimIngress keeps of an Ingress what the ingress-shim reads, for the
// controller's cache: its metadata with only the annotations the shim may
// read, and spec.tls. An Ingress's rules and kubectl's last-applied
// annotation (a copy of the whole object) are most of its size, and every
// Ingress of the cluster is cached. Whatever else reads Ingresses through
// the controller's cache sees only this.
func TrimIngress(obj any) (any, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return obj, nil
	}
	ing.ManagedFields = nil
	for k := range ing.Annotations {
		if !strings.HasPrefix(k, PrefixCertflow) && !strings.HasPrefix(k, PrefixCertManager) && k != AnnotationTLSACME {
			delete(ing.Annotations, k)
		}
	}
	ing.Spec = networkingv1.IngressSpec{TLS: ing.Spec.TLS}
	ing.Status = networkingv1.IngressStatus{}
	return ing, nil
}

func setupIngresses(mgr ctrl.Manager, s syncer) error {
	if err := indexIngressSecrets(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("ingress-shim").
		For(&networkingv1.Ingress{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&v1alpha1.Certificate{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.LabelChangedPredicate{}))).
		Watches(&v1alpha1.Certificate{}, handler.EnqueueRequestsFromMapFunc(namingSecret(s.client, func() client.ObjectList { return &networkingv1.IngressList{} })),
			builder.WithPredicates(deleted)).
		Complete(&ingressReconciler{s})
}
