package shim

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certflow/certflow/api/v1alpha1"
)

var gatewayGVK = gatewayv1.SchemeGroupVersion.WithKind("Gateway")

// gatewayReconciler is the gateway-shim: an annotated Gateway gets one
// Certificate per Secret its terminating HTTPS and TLS listeners name, with
// the hostnames of the listeners that name it.
type gatewayReconciler struct{ syncer }

func (r *gatewayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var gw gatewayv1.Gateway
	if err := r.client.Get(ctx, req.NamespacedName, &gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// kubernetes.io/tls-acme is an Ingress annotation: cert-manager does not
	// read it on Gateways either.
	return ctrl.Result{}, r.sync(ctx, &gw, gatewayGVK, false, func(skip func(string, ...any)) (entries, error) {
		return listenerEntries(gw.Namespace, gw.Spec.Listeners, skip), nil
	})
}

// listenerEntries are the Certificates a Gateway's listeners ask for, as
// cert-manager reads them. Only HTTPS and TLS listeners that terminate TLS
// (mode Terminate, the Gateway API's default) need one; passthrough ones are
// passed over without a word. A listener without a hostname is skipped: a
// certificate needs a name. A certificateRef to anything but a Secret of the
// Gateway's namespace is skipped: certflow writes Secrets of the Certificate's
// namespace only. Each skip says so in an Event.
func listenerEntries(namespace string, listeners []gatewayv1.Listener, skip func(string, ...any)) entries {
	var ents entries
	index := map[string]int{} // secret name -> its entry in ents.want
	for i, l := range listeners {
		if l.Protocol != gatewayv1.HTTPSProtocolType && l.Protocol != gatewayv1.TLSProtocolType {
			continue
		}
		if l.TLS == nil {
			skip("skipped listener %s (spec.listeners[%d]): %s without tls", l.Name, i, l.Protocol)
			continue
		}
		if l.TLS.Mode != nil && *l.TLS.Mode != gatewayv1.TLSModeTerminate {
			continue
		}
		var secrets []string
		for j, ref := range l.TLS.CertificateRefs {
			group, kind := "", "Secret"
			if ref.Group != nil {
				group = string(*ref.Group)
			}
			if ref.Kind != nil {
				kind = string(*ref.Kind)
			}
			switch {
			case (group != "" && group != "core") || kind != "Secret":
				skip("skipped listener %s certificateRefs[%d] (%s %s): certflow writes core Secrets only", l.Name, j, kindOf(group, kind), ref.Name)
			case ref.Namespace != nil && string(*ref.Namespace) != namespace:
				skip("skipped listener %s certificateRefs[%d] (Secret %s/%s): certflow writes Secrets in the Gateway's namespace only", l.Name, j, *ref.Namespace, ref.Name)
			default:
				secrets = append(secrets, string(ref.Name))
			}
		}
		if l.Hostname == nil || *l.Hostname == "" {
			if len(secrets) > 0 {
				skip("skipped listener %s (spec.listeners[%d]): it has no hostname to put in a certificate", l.Name, i)
			}
			ents.keep = append(ents.keep, secrets...)
			continue
		}
		for _, s := range secrets {
			k, ok := index[s]
			if !ok {
				k = len(ents.want)
				index[s] = k
				ents.want = append(ents.want, wanted{secretName: s})
			}
			ents.want[k].hosts = append(ents.want[k].hosts, string(*l.Hostname))
		}
	}
	return ents
}

func kindOf(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// gatewayAPIServed says whether the API server serves Gateway API v1
// Gateways: without the CRD, watching them would fail the manager.
func gatewayAPIServed(mapper meta.RESTMapper) (bool, error) {
	_, err := mapper.RESTMapping(gatewayGVK.GroupKind(), gatewayGVK.Version)
	switch {
	case meta.IsNoMatchError(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("asking the API server whether it serves %s: %w", gatewayGVK.GroupVersion(), err)
	}
	return true, nil
}

func setupGateways(mgr ctrl.Manager, s syncer) error {
	if err := indexGatewaySecrets(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("gateway-shim").
		For(&gatewayv1.Gateway{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&v1alpha1.Certificate{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.LabelChangedPredicate{}))).
		Watches(&v1alpha1.Certificate{}, handler.EnqueueRequestsFromMapFunc(namingSecret(s.client, func() client.ObjectList { return &gatewayv1.GatewayList{} })),
			builder.WithPredicates(deleted)).
		Complete(&gatewayReconciler{s})
}
