package tests

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certflow/certflow/internal/sandbox"
)

// No ingress controller or Gateway implementation runs here (DESIGN.md
// section 7), so routingController stands in for one: it listens where
// Pebble validates http-01 challenges (and where certflow's self-check
// looks) and routes each request only as the Ingresses of its class and the
// HTTPRoutes attached to its Gateway say, to the endpoints of the Service
// they name, as a conformant implementation reads them. The endpoints it
// expects are the responder's: the responder Service's EndpointSlice names
// responderPodIP (never dialled), and requests for it go to the responder's
// loopback port.
type routingController struct {
	t           *testing.T
	kube        client.Client
	class       string
	gateway     client.ObjectKey
	responder   string // host:port the responder listens on
	respondPort int32

	mu      sync.Mutex
	refuse  map[string]bool     // hosts answered 404 whatever the routes say
	through map[string]routedBy // the objects the last request for a host went through
	missing []string            // requests with no route, and why
}

// routedBy are the objects a request was routed through: the Ingress (nil
// for an HTTPRoute) and the Service.
type routedBy struct {
	ingress *networkingv1.Ingress
	service *corev1.Service
}

// responderPodIP is the address of the responder's "pod" in its Service's
// EndpointSlice: what the challenge Services must copy.
const responderPodIP = "10.0.0.10"

// startRouting starts the responder's Service, its EndpointSlice and a
// routingController on Pebble's http-01 port, and moves certflow's
// responder off that port. Call it before certflow starts.
func startRouting(w *world) *routingController {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	responder := ln.Addr().String()
	ln.Close()
	_, portText, _ := net.SplitHostPort(responder)
	port, _ := strconv.Atoi(portText)
	w.args = append(w.args, "--http01-solver-listen", responder)

	portName := "http"
	ready := true
	p := int32(port)
	w.create(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "certflow-solver"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": "certflow"},
			Ports:    []corev1.ServicePort{{Name: portName, Port: 80, TargetPort: intstr.FromInt32(p)}},
		},
	})
	w.create(&discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "certflow-solver-abcde",
			Labels: map[string]string{discoveryv1.LabelServiceName: "certflow-solver"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{responderPodIP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &p}},
	})

	rc := &routingController{t: w.t, kube: w.kube, class: "test-class", gateway: client.ObjectKey{Namespace: "default", Name: "test-gateway"},
		responder: responder, respondPort: p, refuse: map[string]bool{}, through: map[string]routedBy{}}
	srv := &http.Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(w.stack.Pebble.HTTPPort)), Handler: rc}
	front, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		w.t.Fatal(err)
	}
	go func() { _ = srv.Serve(front) }()
	w.t.Cleanup(func() { _ = srv.Close() })
	return rc
}

// refuseHost makes every request for host a 404, as a misrouted name is.
func (rc *routingController) refuseHost(host string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.refuse[host] = true
}

// routedThrough says which objects the last request for host that reached
// the responder went through, and why requests found no route.
func (rc *routingController) routedThrough(host string) (routedBy, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.through[host], slices.Clone(rc.missing)
}

func (rc *routingController) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	rc.mu.Lock()
	refused := rc.refuse[host]
	rc.mu.Unlock()
	if refused {
		http.NotFound(w, r)
		return
	}
	var by routedBy
	ns, svc, port, err := rc.route(r, host, &by)
	if err == nil {
		by.service, err = rc.checkEndpoints(r, ns, svc, port)
	}
	rc.mu.Lock()
	if err != nil {
		rc.missing = append(rc.missing, fmt.Sprintf("%s%s: %v", host, r.URL.Path, err))
	} else {
		rc.through[host] = by
	}
	rc.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: rc.responder}).ServeHTTP(w, r)
}

// route finds the Service and port the request goes to: an Ingress of the
// class with an Exact path for the host, else an HTTPRoute attached to the
// Gateway with an Exact path match for a hostname.
func (rc *routingController) route(r *http.Request, host string, by *routedBy) (namespace, service string, port int32, err error) {
	var ingresses networkingv1.IngressList
	if err := rc.kube.List(r.Context(), &ingresses); err != nil {
		return "", "", 0, err
	}
	for _, ing := range ingresses.Items {
		class := ing.Annotations["kubernetes.io/ingress.class"]
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		if class != rc.class {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host != host || rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact && p.Path == r.URL.Path && p.Backend.Service != nil {
					by.ingress = &ing
					return ing.Namespace, p.Backend.Service.Name, p.Backend.Service.Port.Number, nil
				}
			}
		}
	}
	var routes gatewayv1.HTTPRouteList
	if err := rc.kube.List(r.Context(), &routes); err != nil && !meta.IsNoMatchError(err) {
		return "", "", 0, err
	}
	for _, route := range routes.Items {
		attached := slices.ContainsFunc(route.Spec.ParentRefs, func(p gatewayv1.ParentReference) bool {
			ns := route.Namespace
			if p.Namespace != nil {
				ns = string(*p.Namespace)
			}
			return string(p.Name) == rc.gateway.Name && ns == rc.gateway.Namespace
		})
		if !attached || !slices.Contains(route.Spec.Hostnames, gatewayv1.Hostname(host)) {
			continue
		}
		for _, rule := range route.Spec.Rules {
			exact := slices.ContainsFunc(rule.Matches, func(m gatewayv1.HTTPRouteMatch) bool {
				return m.Path != nil && m.Path.Type != nil && *m.Path.Type == gatewayv1.PathMatchExact && m.Path.Value != nil && *m.Path.Value == r.URL.Path
			})
			if exact && len(rule.BackendRefs) == 1 && rule.BackendRefs[0].Port != nil {
				b := rule.BackendRefs[0]
				return route.Namespace, string(b.Name), int32(*b.Port), nil
			}
		}
	}
	return "", "", 0, fmt.Errorf("no Ingress of class %s and no HTTPRoute on %s routes it", rc.class, rc.gateway)
}

// checkEndpoints checks that the Service's port leads to the responder,
// and returns the Service.
func (rc *routingController) checkEndpoints(r *http.Request, namespace, service string, port int32) (*corev1.Service, error) {
	var svc corev1.Service
	if err := rc.kube.Get(r.Context(), client.ObjectKey{Namespace: namespace, Name: service}, &svc); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
	if i < 0 {
		return nil, fmt.Errorf("Service %s/%s has no port %d", namespace, service, port)
	}
	var endpointSlices discoveryv1.EndpointSliceList
	if err := rc.kube.List(r.Context(), &endpointSlices, client.InNamespace(namespace), client.MatchingLabels{discoveryv1.LabelServiceName: service}); err != nil {
		return nil, err
	}
	for _, s := range endpointSlices.Items {
		for _, p := range s.Ports {
			if p.Port == nil || *p.Port != rc.respondPort || (p.Name != nil && *p.Name != svc.Spec.Ports[i].Name) {
				continue
			}
			for _, e := range s.Endpoints {
				if slices.Contains(e.Addresses, responderPodIP) {
					return &svc, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("Service %s/%s port %d does not lead to the responder at %s:%d", namespace, service, port, responderPodIP, rc.respondPort)
}
