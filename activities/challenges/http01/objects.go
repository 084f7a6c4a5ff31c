package http01

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	responder "github.com/certflow/certflow/internal/solver"
)

// ServicePort is the port of a challenge's Service, the one its route
// names (cert-manager's solver port).
const ServicePort = 8089

// hint says what to check when the API server refuses an object certflow
// makes for a challenge.
const hint = "check the http01 solver's podTemplate and ingressTemplate labels and annotations"

// managedBy marks the EndpointSlices certflow keeps, so that Kubernetes'
// EndpointSlice mirroring leaves them alone.
const managedBy = "certflow.dev"

// endpoints are the responder's ready endpoints, as one EndpointSlice
// holds them.
type endpoints struct {
	addressType discoveryv1.AddressType
	endpoints   []discoveryv1.Endpoint
	ports       []discoveryv1.EndpointPort
}

// responderEndpoints reads the ready endpoints of the responder Service,
// IPv4 ones when it has both.
func (t *Type) responderEndpoints(ctx context.Context) (endpoints, error) {
	var svc corev1.Service
	if err := t.Kube.Get(ctx, t.Responder, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return endpoints{}, activities.ConfigError("the HTTP-01 responder Service %s does not exist, so a challenge route would lead nowhere (worker flag --http01-solver-service)", t.Responder)
		}
		return endpoints{}, fmt.Errorf("reading the HTTP-01 responder Service %s: %w", t.Responder, err)
	}
	var list discoveryv1.EndpointSliceList
	if err := t.Kube.List(ctx, &list, client.InNamespace(t.Responder.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: t.Responder.Name}); err != nil {
		return endpoints{}, fmt.Errorf("reading the endpoints of the HTTP-01 responder Service %s: %w", t.Responder, err)
	}
	byType := map[discoveryv1.AddressType]*endpoints{}
	for _, slice := range list.Items {
		e := byType[slice.AddressType]
		if e == nil {
			e = &endpoints{addressType: slice.AddressType, ports: slice.Ports}
			byType[slice.AddressType] = e
		}
		for _, ep := range slice.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				e.endpoints = append(e.endpoints, discoveryv1.Endpoint{Addresses: ep.Addresses, Conditions: discoveryv1.EndpointConditions{Ready: ep.Conditions.Ready}})
			}
		}
	}
	for _, typ := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
		if e := byType[typ]; e != nil && len(e.endpoints) > 0 && len(e.ports) > 0 {
			return *e, nil
		}
	}
	return endpoints{}, fmt.Errorf("the HTTP-01 responder Service %s has no ready endpoints: is `certflow run` or `certflow solver` running behind it?", t.Responder)
}

// storeResponse writes the response where every responder replica reads it.
func (t *Type) storeResponse(ctx context.Context, cert activities.CertificateRef, p activities.Presented) error {
	want := responder.Record{Host: p.Identifier, Token: p.Token, KeyAuthorization: p.Value}.ConfigMap(t.Responder.Namespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: want.Namespace, Name: want.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, t.Kube, cm, func() error {
		cm.Labels = merged(routeLabels(), want.Labels)
		cm.Annotations = merged(cm.Annotations, map[string]string{annotationCertificate: cert.String()})
		cm.Data = want.Data
		return nil
	})
	if err != nil {
		return activities.KubeWriteError(err, fmt.Sprintf("storing the http-01 response for %s in ConfigMap %s/%s", p.Identifier, cm.Namespace, cm.Name), hint)
	}
	return nil
}

func (t *Type) removeResponse(ctx context.Context, token string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: t.Responder.Namespace, Name: responder.Name(token)}}
	return remove(ctx, t.Kube, "ConfigMap", cm)
}

// ensureService makes the challenge's Service in namespace, without a
// selector, and its EndpointSlice with the responder's endpoints: a route
// can name only a Service of its own namespace.
func (t *Type) ensureService(ctx context.Context, namespace, token string, typ corev1.ServiceType,
	tmpl *certflowv1.ACMEChallengeSolverHTTP01IngressPodTemplate, eps endpoints) error {
	name := responder.Name(token)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	_, err := controllerutil.CreateOrUpdate(ctx, t.Kube, svc, func() error {
		svc.Labels = merged(svc.Labels, routeLabels())
		if tmpl != nil {
			svc.Labels = merged(svc.Labels, tmpl.Metadata.Labels)
			svc.Annotations = merged(svc.Annotations, tmpl.Metadata.Annotations)
		}
		if !svc.CreationTimestamp.IsZero() {
			return nil // its type and ports are set once: an update would give up its node port
		}
		svc.Spec.Type = typ
		svc.Spec.Ports = []corev1.ServicePort{{
			Name: ptr.Deref(eps.ports[0].Name, ""), Protocol: corev1.ProtocolTCP, Port: ServicePort,
			TargetPort: intstr.FromInt32(*eps.ports[0].Port),
		}}
		return nil
	})
	if err != nil {
		return activities.KubeWriteError(err, fmt.Sprintf("making the http-01 Service %s/%s", namespace, name), hint)
	}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	_, err = controllerutil.CreateOrUpdate(ctx, t.Kube, slice, func() error {
		slice.Labels = merged(routeLabels(), map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: managedBy})
		slice.AddressType, slice.Endpoints, slice.Ports = eps.addressType, eps.endpoints, eps.ports[:1]
		return nil
	})
	if err != nil {
		return activities.KubeWriteError(err, fmt.Sprintf("making the endpoints of the http-01 Service %s/%s", namespace, name), hint)
	}
	return nil
}

func (t *Type) removeService(ctx context.Context, namespace, token string) error {
	meta := metav1.ObjectMeta{Namespace: namespace, Name: responder.Name(token)}
	if err := remove(ctx, t.Kube, "EndpointSlice", &discoveryv1.EndpointSlice{ObjectMeta: meta}); err != nil {
		return err
	}
	return remove(ctx, t.Kube, "Service", &corev1.Service{ObjectMeta: meta})
}

// remove deletes obj, a kind; one that is gone is fine.
func remove(ctx context.Context, kube client.Client, kind string, obj client.Object) error {
	if err := kube.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the http-01 %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// routeLabels mark every object made for a challenge.
func routeLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "certflow", "certflow.dev/http01-solver": "true"}
}

// annotationCertificate says which Certificate (namespace/name) a
// response is for, for a user who looks.
const annotationCertificate = "certflow.dev/certificate"

// merged is base with extra's entries added; base may be nil.
func merged(base, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, extra)
	return out
}
