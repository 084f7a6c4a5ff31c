package http01

import (
	"context"
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	responder "github.com/certflow/certflow/internal/solver"
)

// ingressClassAnnotation is the class annotation older ingress controllers
// read (an http01 ingress's class).
const ingressClassAnnotation = "kubernetes.io/ingress.class"

// ingressRoute routes a challenge with an Ingress of its own, or with a
// rule added to an existing Ingress (spec.name).
type ingressRoute struct {
	kube      client.Client
	spec      *certflowv1.ACMEChallengeSolverHTTP01Ingress
	namespace string
}

// rule sends the challenge's path for its name to its Service.
func ingressRule(p activities.Presented) networkingv1.IngressRule {
	exact := networkingv1.PathTypeExact
	return networkingv1.IngressRule{
		Host: p.Identifier,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{
				Path:     activities.HTTP01Path + p.Token,
				PathType: &exact,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: responder.Name(p.Token), Port: networkingv1.ServiceBackendPort{Number: ServicePort},
				}},
			}},
		}},
	}
}

func (r *ingressRoute) add(ctx context.Context, p activities.Presented) error {
	if r.spec.Name != "" {
		err := r.edit(ctx, func(ing *networkingv1.Ingress) bool {
			if slices.ContainsFunc(ing.Spec.Rules, routesTo(p)) {
				return false
			}
			ing.Spec.Rules = append(ing.Spec.Rules, ingressRule(p))
			return true
		})
		switch {
		case apierrors.IsNotFound(err):
			return activities.ConfigError("the Ingress %s/%s that the http01 solver names does not exist, so the challenge for %s cannot be routed",
				r.namespace, r.spec.Name, p.Identifier)
		case err != nil:
			return activities.KubeWriteError(err, fmt.Sprintf("adding the challenge route for %s to Ingress %s/%s", p.Identifier, r.namespace, r.spec.Name), hint)
		}
		return nil
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: responder.Name(p.Token)}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.kube, ing, func() error {
		ing.Labels = merged(ing.Labels, routeLabels())
		if t := r.spec.IngressTemplate; t != nil {
			ing.Labels = merged(ing.Labels, t.Metadata.Labels)
			ing.Annotations = merged(ing.Annotations, t.Metadata.Annotations)
		}
		if r.spec.Class != nil {
			ing.Annotations = merged(ing.Annotations, map[string]string{ingressClassAnnotation: *r.spec.Class})
		}
		ing.Spec.IngressClassName = r.spec.IngressClassName
		ing.Spec.Rules = []networkingv1.IngressRule{ingressRule(p)}
		return nil
	})
	if err != nil {
		return activities.KubeWriteError(err, fmt.Sprintf("making the http-01 Ingress %s/%s", ing.Namespace, ing.Name), hint)
	}
	return nil
}

func (r *ingressRoute) remove(ctx context.Context, p activities.Presented) error {
	if r.spec.Name == "" {
		ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: responder.Name(p.Token)}}
		return remove(ctx, r.kube, "Ingress", ing)
	}
	err := r.edit(ctx, func(ing *networkingv1.Ingress) bool {
		n := len(ing.Spec.Rules)
		ing.Spec.Rules = slices.DeleteFunc(ing.Spec.Rules, routesTo(p))
		return len(ing.Spec.Rules) != n
	})
	if err != nil && !apierrors.IsNotFound(err) { // a gone Ingress took the rule with it
		return fmt.Errorf("removing the challenge route for %s from Ingress %s/%s: %w", p.Identifier, r.namespace, r.spec.Name, err)
	}
	return nil
}

// edit changes the existing Ingress the solver names with change, which
// says whether it changed anything, retrying on conflicts.
func (r *ingressRoute) edit(ctx context.Context, change func(*networkingv1.Ingress) bool) error {
	key := types.NamespacedName{Namespace: r.namespace, Name: r.spec.Name}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var ing networkingv1.Ingress
		if err := r.kube.Get(ctx, key, &ing); err != nil {
			return err
		}
		if !change(&ing) {
			return nil
		}
		return r.kube.Update(ctx, &ing)
	})
}

// routesTo finds the rule made for the challenge: the one whose only path
// leads to the challenge's Service.
func routesTo(p activities.Presented) func(networkingv1.IngressRule) bool {
	return func(rule networkingv1.IngressRule) bool {
		if rule.HTTP == nil || len(rule.HTTP.Paths) != 1 {
			return false
		}
		b := rule.HTTP.Paths[0].Backend.Service
		return rule.Host == p.Identifier && b != nil && b.Name == responder.Name(p.Token)
	}
}

// httpRoute routes a challenge with a Gateway API HTTPRoute of its own.
type httpRoute struct {
	kube      client.Client
	spec      *certflowv1.ACMEChallengeSolverHTTP01GatewayHTTPRoute
	namespace string
}

func (r *httpRoute) add(ctx context.Context, p activities.Presented) error {
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: responder.Name(p.Token)}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.kube, route, func() error {
		route.Labels = merged(merged(route.Labels, routeLabels()), r.spec.Labels)
		route.Spec = httpRouteSpec(r.spec, p)
		return nil
	})
	switch {
	case meta.IsNoMatchError(err):
		return activities.ConfigError("the http01 solver routes with gatewayHTTPRoute, and the cluster serves no Gateway API HTTPRoute")
	case err != nil:
		return activities.KubeWriteError(err, fmt.Sprintf("making the http-01 HTTPRoute %s/%s", route.Namespace, route.Name), hint)
	}
	return nil
}

func (r *httpRoute) remove(ctx context.Context, p activities.Presented) error {
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: responder.Name(p.Token)}}
	if err := remove(ctx, r.kube, "HTTPRoute", route); err != nil && !meta.IsNoMatchError(err) {
		return err
	}
	return nil
}

// httpRouteSpec sends the challenge's path for its name, on the solver's
// parents, to its Service.
func httpRouteSpec(spec *certflowv1.ACMEChallengeSolverHTTP01GatewayHTTPRoute, p activities.Presented) gatewayv1.HTTPRouteSpec {
	parents := make([]gatewayv1.ParentReference, len(spec.ParentRefs))
	for i, ref := range spec.ParentRefs {
		parents[i] = gatewayv1.ParentReference{
			Group:       (*gatewayv1.Group)(ref.Group),
			Kind:        (*gatewayv1.Kind)(ref.Kind),
			Namespace:   (*gatewayv1.Namespace)(ref.Namespace),
			Name:        gatewayv1.ObjectName(ref.Name),
			SectionName: (*gatewayv1.SectionName)(ref.SectionName),
			Port:        (*gatewayv1.PortNumber)(ref.Port),
		}
	}
	exact, path := gatewayv1.PathMatchExact, activities.HTTP01Path+p.Token
	port := gatewayv1.PortNumber(ServicePort)
	return gatewayv1.HTTPRouteSpec{
		CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: parents},
		Hostnames:       []gatewayv1.Hostname{gatewayv1.Hostname(p.Identifier)},
		Rules: []gatewayv1.HTTPRouteRule{{
			Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: &exact, Value: &path}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
				BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(responder.Name(p.Token)), Port: &port},
			}}},
		}},
	}
}
