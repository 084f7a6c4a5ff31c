package tests

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/solver"
)

// TestHTTP01 issues over HTTP-01 on the real stack: Pebble validates each
// challenge through routingController, which routes a request only as a
// conformant ingress controller reads the Ingress certflow made (or changed),
// to the Service and endpoints certflow made, and on to certflow's
// responder. So a valid certificate proves the routing objects were right
// when the CA looked; afterwards, and after a failure or a deletion, none
// is left.
func TestHTTP01(t *testing.T) {
	t.Parallel()
	var rc *routingController
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{GatewayAPI: true}, beforeCertflow: func(w *world) { rc = startRouting(w) }})
	const ns = "web"
	w.namespace(ns)
	class := rc.class
	w.create(w.http01Issuer("http", certflowv1.ACMEChallengeSolver{HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{
		Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{IngressClassName: &class},
	}}))

	t.Run("a new Ingress for each challenge", func(t *testing.T) {
		w := w.in(t)
		names := []string{"a.http.certflow.test", "b.http.certflow.test"}
		w.create(http01Certificate(ns, "site", "http", names...))
		w.waitReady(ns, "site")
		w.verify(w.tlsSecret(ns, "site-tls"), names...)
		for _, name := range names {
			if by := w.routedThrough(rc, name); by.service.Spec.Type != corev1.ServiceTypeNodePort {
				t.Errorf("the challenge Service for %s is %s, want NodePort (serviceType unset)", name, by.service.Spec.Type)
			}
		}
		w.noChallengeObjects(ns)
	})

	t.Run("the class annotation and the templates", func(t *testing.T) {
		w := w.in(t)
		w.create(w.http01Issuer("http-class", certflowv1.ACMEChallengeSolver{HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{
			Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{
				Class:       &class,
				ServiceType: "ClusterIP",
				IngressTemplate: &certflowv1.ACMEChallengeSolverHTTP01IngressTemplate{Metadata: certflowv1.ObjectMetaTemplate{
					Labels: map[string]string{"team": "web"}, Annotations: map[string]string{"nginx.ingress.kubernetes.io/ssl-redirect": "false"},
				}},
				PodTemplate: &certflowv1.ACMEChallengeSolverHTTP01IngressPodTemplate{Metadata: certflowv1.ObjectMetaTemplate{
					Labels: map[string]string{"sidecar.istio.io/inject": "false"},
				}},
			},
		}}))
		w.create(http01Certificate(ns, "classic", "http-class", "classic.http.certflow.test"))
		w.waitReady(ns, "classic")
		w.verify(w.tlsSecret(ns, "classic-tls"), "classic.http.certflow.test")
		by := w.routedThrough(rc, "classic.http.certflow.test")
		if by.ingress.Labels["team"] != "web" || by.ingress.Annotations["nginx.ingress.kubernetes.io/ssl-redirect"] != "false" {
			t.Errorf("the challenge Ingress has labels %v and annotations %v: want ingressTemplate's", by.ingress.Labels, by.ingress.Annotations)
		}
		if by.service.Spec.Type != corev1.ServiceTypeClusterIP || by.service.Labels["sidecar.istio.io/inject"] != "false" {
			t.Errorf("the challenge Service is %s with labels %v: want ClusterIP with podTemplate's", by.service.Spec.Type, by.service.Labels)
		}
		w.noChallengeObjects(ns)
	})

	t.Run("an HTTPRoute on the Gateway", func(t *testing.T) {
		w := w.in(t)
		gatewayNS := gatewayv1.Namespace(rc.gateway.Namespace)
		w.create(w.http01Issuer("http-gateway", certflowv1.ACMEChallengeSolver{HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{
			GatewayHTTPRoute: &certflowv1.ACMEChallengeSolverHTTP01GatewayHTTPRoute{
				ParentRefs: []certflowv1.ParentReference{{Name: rc.gateway.Name, Namespace: (*string)(&gatewayNS)}},
				Labels:     map[string]string{"team": "web"},
			},
		}}))
		w.create(http01Certificate(ns, "routed", "http-gateway", "routed.http.certflow.test"))
		w.waitReady(ns, "routed")
		w.verify(w.tlsSecret(ns, "routed-tls"), "routed.http.certflow.test")
		if by := w.routedThrough(rc, "routed.http.certflow.test"); by.ingress != nil {
			t.Errorf("routed through Ingress %s, want the HTTPRoute", by.ingress.Name)
		}
		var routes gatewayv1.HTTPRouteList
		if err := w.kube.List(w.ctx, &routes, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(routes.Items) != 0 {
			t.Errorf("%d HTTPRoutes left after the challenge", len(routes.Items))
		}
		w.noChallengeObjects(ns)
	})

	t.Run("cert-manager's manifests with apiVersion changed", func(t *testing.T) {
		w := w.in(t)
		manifests := fmt.Sprintf(certManagerHTTP01, w.proxy.DirectoryURL, base64.StdEncoding.EncodeToString(w.proxy.CACertPEM), class, ns, class)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "cert-manager.yaml"), []byte(manifests), 0o600); err != nil {
			t.Fatal(err)
		}
		w.kubectlApply("", dir)
		w.waitReady(ns, "shop-example-tls") // the ingress-shim names the Certificate after the Secret
		w.verify(w.tlsSecret(ns, "shop-example-tls"), "shop-example.http.certflow.test")
		if by := w.routedThrough(rc, "shop-example.http.certflow.test"); by.ingress == nil || by.ingress.Name == "shop-example" {
			t.Errorf("routed through %+v, want certflow's challenge Ingress", by.ingress)
		}
		w.noChallengeObjects(ns)
	})

	t.Run("a rule added to an existing Ingress", func(t *testing.T) {
		w := w.in(t)
		exact := networkingv1.PathTypeExact
		shop := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"},
			Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
				Host: "shop.http.certflow.test",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &exact,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "shop", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}}},
		}
		w.create(shop)
		before := shop.Spec.DeepCopy()
		w.create(w.http01Issuer("http-shop", certflowv1.ACMEChallengeSolver{HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{
			Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{Name: "shop"},
		}}))
		w.create(http01Certificate(ns, "shop", "http-shop", "shop.http.certflow.test"))
		w.waitReady(ns, "shop")
		w.verify(w.tlsSecret(ns, "shop-tls"), "shop.http.certflow.test")
		if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(shop), shop); err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(before, &shop.Spec) {
			t.Errorf("Ingress shop after the issuance: %+v, want it as it was: %+v", shop.Spec, before)
		}
		w.noChallengeObjects(ns)
	})

	t.Run("the self-check says what it saw", func(t *testing.T) {
		w := w.in(t)
		const name = "unrouted.http.certflow.test"
		rc.refuseHost(name)
		quick := certflowv1.ACMEChallengeSolver{
			HTTP01:           &certflowv1.ACMEChallengeSolverHTTP01{Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{IngressClassName: &class}},
			SelfCheckTimeout: &metav1.Duration{Duration: 3 * time.Second},
		}
		w.create(w.http01Issuer("http-quick", quick))
		w.create(http01Certificate(ns, "unrouted", "http-quick", name))
		failed := w.waitFor(ns, "unrouted", time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
			ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
			return ready != nil && strings.Contains(ready.Message, "the self-check gave up")
		})
		msg := meta.FindStatusCondition(failed.Status.Conditions, certflowv1.ConditionReady).Message
		if !regexp.MustCompile(`http://` + regexp.QuoteMeta(name) + `/\.well-known/acme-challenge/[\w-]+ answered 404 Not Found`).MatchString(msg) {
			t.Errorf("Ready says %q: want the URL and what it answered", msg)
		}
		w.noChallengeObjects(ns)
	})

	t.Run("a deletion during the self-check cleans up", func(t *testing.T) {
		w := w.in(t)
		const name = "stuck.http.certflow.test"
		rc.refuseHost(name)
		w.create(http01Certificate(ns, "stuck", "http", name))
		var ingresses networkingv1.IngressList
		deadline := time.Now().Add(time.Minute)
		for len(ingresses.Items) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no challenge Ingress for %s within a minute", name)
			}
			time.Sleep(100 * time.Millisecond)
			if err := w.kube.List(w.ctx, &ingresses, client.InNamespace(ns), client.MatchingLabels{"certflow.dev/http01-solver": "true"}); err != nil {
				t.Fatal(err)
			}
		}
		if got := ingresses.Items[0].Spec.Rules[0].Host; got != name {
			t.Fatalf("the challenge Ingress is for %s, want %s", got, name)
		}
		stuck := &certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck"}}
		if err := w.kube.Delete(w.ctx, stuck); err != nil {
			t.Fatal(err)
		}
		w.gone(stuck, time.Minute)
		w.noChallengeObjects(ns)
	})

	t.Run("a challenge the CA finds invalid is cleaned up", func(t *testing.T) {
		w := w.in(t)
		const name = "refused.http.certflow.test"
		rc.refuseHost(name)
		unchecked := certflowv1.ACMEChallengeSolver{
			HTTP01:                 &certflowv1.ACMEChallengeSolverHTTP01{Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{IngressClassName: &class}},
			WaitInsteadOfSelfCheck: &metav1.Duration{},
		}
		w.create(w.http01Issuer("http-unchecked", unchecked))
		w.create(http01Certificate(ns, "refused", "http-unchecked", name))
		failed := w.waitFor(ns, "refused", time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
			issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
			return issuing != nil && strings.Contains(issuing.Message, "attempt 1") && strings.Contains(issuing.Message, "failed")
		})
		msg := meta.FindStatusCondition(failed.Status.Conditions, certflowv1.ConditionIssuing).Message
		if !strings.Contains(msg, "404") {
			t.Errorf("Issuing says %q: want the CA's finding (a 404)", msg)
		}
		w.noChallengeObjects(ns)
	})

	t.Run("an Ingress to add to that does not exist", func(t *testing.T) {
		w := w.in(t)
		w.create(w.http01Issuer("http-nowhere", certflowv1.ACMEChallengeSolver{HTTP01: &certflowv1.ACMEChallengeSolverHTTP01{
			Ingress: &certflowv1.ACMEChallengeSolverHTTP01Ingress{Name: "nowhere"},
		}}))
		w.create(http01Certificate(ns, "nowhere", "http-nowhere", "nowhere.http.certflow.test"))
		failed := w.waitFor(ns, "nowhere", time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
			return c.Status.NextAttemptReason != ""
		})
		want := "attempt 1 (ClusterIssuer/http-nowhere) failed: " +
			"the Ingress web/nowhere that the http01 solver names does not exist, so the challenge for nowhere.http.certflow.test cannot be routed; " +
			"next attempt when the issuer or a Secret it reads changes"
		if msg := meta.FindStatusCondition(failed.Status.Conditions, certflowv1.ConditionIssuing).Message; !strings.HasPrefix(msg, want) {
			t.Errorf("Issuing says %q, want it to begin %q", msg, want)
		}
		w.noChallengeObjects(ns)
	})

	t.Run("a wildcard is refused before anything is ordered", func(t *testing.T) {
		w := w.in(t)
		orders := w.proxy.Count("new-order")
		w.create(http01Certificate(ns, "wild", "http", "*.wild.http.certflow.test"))
		refused := w.waitFor(ns, "wild", time.Minute, "NoSolver", func(c *certflowv1.Certificate) bool {
			issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
			return issuing != nil && issuing.Reason == certflowv1.ReasonNoSolver
		})
		want := "attempt 1 (ClusterIssuer/http) failed: no solver of ClusterIssuer/http is for *.wild.http.certflow.test (a wildcard needs a dns01 or dnsPersist01 solver)"
		if msg := meta.FindStatusCondition(refused.Status.Conditions, certflowv1.ConditionIssuing).Message; !strings.HasPrefix(msg, want) {
			t.Errorf("Issuing says %q, want it to begin %q", msg, want)
		}
		if n := w.proxy.Count("new-order") - orders; n != 0 {
			t.Errorf("the CA saw %d new orders for a wildcard no solver can prove", n)
		}
	})
}

// http01Issuer is a ClusterIssuer of the world's CA with one solver.
func (w *world) http01Issuer(name string, s certflowv1.ACMEChallengeSolver) *certflowv1.ClusterIssuer {
	iss := w.stack.ClusterIssuer(name, w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	iss.Spec.ACME.Solvers = []certflowv1.ACMEChallengeSolver{s}
	return iss
}

func http01Certificate(namespace, name, issuer string, dnsNames ...string) *certflowv1.Certificate {
	c := certificate(namespace, name, name+"-tls", dnsNames...)
	c.Spec.IssuerRef.Name = issuer
	return c
}

// noChallengeObjects waits until nothing made for an http-01 challenge is
// left: routes, Services and EndpointSlices in namespace, responses in the
// responder's namespace.
func (w *world) noChallengeObjects(namespace string) {
	w.t.Helper()
	made := client.MatchingLabels{"certflow.dev/http01-solver": "true"}
	lists := []struct {
		list client.ObjectList
		opts []client.ListOption
	}{
		{&networkingv1.IngressList{}, []client.ListOption{client.InNamespace(namespace), made}},
		{&corev1.ServiceList{}, []client.ListOption{client.InNamespace(namespace), made}},
		{&discoveryv1.EndpointSliceList{}, []client.ListOption{client.InNamespace(namespace), made}},
		{&corev1.ConfigMapList{}, []client.ListOption{client.InNamespace(sandbox.ClusterResourceNamespace), client.HasLabels{solver.LabelToken}}},
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range lists {
		for {
			if err := w.kube.List(w.ctx, l.list, l.opts...); err != nil {
				w.t.Fatal(err)
			}
			n := meta.LenList(l.list)
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("%d %T left after the challenges: %+v", n, l.list, l.list)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// certManagerHTTP01 is cert-manager's documented HTTP-01 setup, a
// ClusterIssuer with an ingress solver and an Ingress that asks for a
// certificate with cert-manager's annotation, with only apiVersion changed
// (the CA's directory and bundle, the ingress class and the namespace are
// filled in).
const certManagerHTTP01 = `
apiVersion: certflow.dev/v1alpha1
kind: ClusterIssuer
metadata:
  name: letsencrypt-http01
spec:
  acme:
    server: %s
    caBundle: %s
    email: ops@certflow.test
    privateKeySecretRef:
      name: letsencrypt-http01-account
    solvers:
    - http01:
        ingress:
          ingressClassName: %s
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-example
  namespace: %s
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt-http01
spec:
  ingressClassName: %s
  tls:
  - hosts:
    - shop-example.http.certflow.test
    secretName: shop-example-tls
  rules:
  - host: shop-example.http.certflow.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: shop-example
            port:
              number: 80
`

// routedThrough is what the request for host went through, failing the
// test when none reached the responder.
func (w *world) routedThrough(rc *routingController, host string) routedBy {
	w.t.Helper()
	by, unrouted := rc.routedThrough(host)
	if by.service == nil {
		w.t.Fatalf("no request for %s was routed to the responder; requests without a route: %v", host, unrouted)
	}
	return by
}
