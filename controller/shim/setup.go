package shim

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certflow/certflow/api/v1alpha1"
)

// What the shim needs of the API server, beside what package controller
// needs: Ingresses and Gateways are read from the cache (list and watch);
// Certificates are made, updated (a patch) and deleted. The finalizers
// subresources let it set blockOwnerDeletion on the Certificates' controller
// reference where the OwnerReferencesPermissionEnforcement admission plugin
// runs. Events are core/v1's (events.go), as package controller's leader
// election writes them: create and patch.
//
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses/finalizers,verbs=update
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways,verbs=list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways/finalizers,verbs=update
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates,verbs=create;patch;delete

// Options configures the ingress-shim and the gateway-shim.
type Options struct {
	// CertManagerAnnotations reads cert-manager's annotations too
	// (cert-manager.io/cluster-issuer, cert-manager.io/duration, ...,
	// kubernetes.io/tls-acme), so that cert-manager's manifests work as they are.
	CertManagerAnnotations bool
	// DefaultIssuer is the issuer of an Ingress annotated
	// kubernetes.io/tls-acme: "true"; without a Name there is none.
	DefaultIssuer v1alpha1.ObjectReference
}

// controllerIndex indexes the Certificates an Ingress or Gateway controls by
// its UID.
const controllerIndex = "shim.controllerUID"

// Setup registers the ingress-shim, and the gateway-shim when the API server
// serves Gateway API v1 Gateways (checked once: a Gateway CRD installed later
// needs a restart of the controller).
func Setup(mgr ctrl.Manager, opts Options) error {
	if d := opts.DefaultIssuer; d.Name != "" && (checkKind("", d.Kind) != nil || checkGroup("", d.Group) != nil) {
		return fmt.Errorf("the default issuer %s of group %q: the kind must be Issuer or ClusterIssuer, the group empty, certflow.dev or cert-manager.io", d.Kind, d.Group)
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Certificate{}, controllerIndex, func(obj client.Object) []string {
		ref := metav1.GetControllerOf(obj)
		if ref == nil || !isShimOwner(ref) {
			return nil
		}
		return []string{string(ref.UID)}
	})
	if err != nil {
		return fmt.Errorf("indexing Certificates by their Ingress or Gateway: %w", err)
	}
	events, err := newRecorder(mgr)
	if err != nil {
		return err
	}
	s := syncer{client: mgr.GetClient(), events: events, opts: opts}
	if err := setupIngresses(mgr, s); err != nil {
		return fmt.Errorf("setting up the ingress-shim: %w", err)
	}
	served, err := gatewayAPIServed(mgr.GetRESTMapper())
	if err != nil {
		return err
	}
	if !served {
		mgr.GetLogger().Info("gateway-shim off: the API server does not serve Gateway API v1 Gateways; restart the controller once it does",
			"groupVersion", gatewayv1.SchemeGroupVersion.String())
		return nil
	}
	if err := setupGateways(mgr, s); err != nil {
		return fmt.Errorf("setting up the gateway-shim: %w", err)
	}
	return nil
}

func isShimOwner(ref *metav1.OwnerReference) bool {
	return (ref.APIVersion == networkingv1.SchemeGroupVersion.String() && ref.Kind == ingressGVK.Kind) ||
		(ref.APIVersion == gatewayv1.SchemeGroupVersion.String() && ref.Kind == gatewayGVK.Kind)
}
