package shim

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// What makes an Ingress or Gateway sync:
//   - a change of its spec (generation), annotations or labels; status
//     updates do not;
//   - a change of the spec or labels of a Certificate it controls, or its
//     deletion: the shim puts it back as the object asks;
//   - the deletion of a Certificate it names and does not control (one made
//     by hand): its own can be made now. Objects are found by the Secret
//     names they hold (secretIndex).

// secretIndex indexes Ingresses and Gateways by the names of the Secrets
// their TLS entries and listeners name.
const secretIndex = "shim.secretNames"

// deleted lets only deletions through.
var deleted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func indexIngressSecrets(mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(context.Background(), &networkingv1.Ingress{}, secretIndex, func(obj client.Object) []string {
		var names []string
		for _, t := range obj.(*networkingv1.Ingress).Spec.TLS {
			names = append(names, t.SecretName)
		}
		return names
	})
}

func indexGatewaySecrets(mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(context.Background(), &gatewayv1.Gateway{}, secretIndex, func(obj client.Object) []string {
		var names []string
		for _, l := range obj.(*gatewayv1.Gateway).Spec.Listeners {
			if l.TLS != nil {
				for _, ref := range l.TLS.CertificateRefs {
					names = append(names, string(ref.Name))
				}
			}
		}
		return names
	})
}

// namingSecret maps a Certificate to the objects of list's kind in its
// namespace that name a Secret of its name.
func namingSecret(c client.Client, list func() client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, cert client.Object) []reconcile.Request {
		l := list()
		if err := c.List(ctx, l, client.InNamespace(cert.GetNamespace()), client.MatchingFields{secretIndex: cert.GetName()}); err != nil {
			// The cache fails a read only before it has started.
			ctrl.LoggerFrom(ctx).Error(err, "listing the objects that name a Certificate's Secret", "namespace", cert.GetNamespace(), "name", cert.GetName())
			return nil
		}
		var reqs []reconcile.Request
		switch l := l.(type) {
		case *networkingv1.IngressList:
			for i := range l.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
			}
		case *gatewayv1.GatewayList:
			for i := range l.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
			}
		}
		return reqs
	}
}
