package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/controller/shim"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestIngressShim runs certflow with its default flags (cert-manager's
// annotations read) and a default issuer, and annotates Ingresses as
// cert-manager's users do. The subtests run in parallel, each in a namespace
// of its own. The garbage collector does not run here (no
// kube-controller-manager): deleting an Ingress is left to it, so the tests
// check the controller reference it follows instead.
func TestIngressShim(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{certflowArgs: []string{"--default-issuer-name", "pebble"}})
	zone := w.stack.BIND.Zone

	t.Run("two TLS entries give two Certificates and Secrets; removing an entry or the annotation removes them", func(t *testing.T) {
		t.Parallel()
		w := w.in(t)
		const ns = "ing-two"
		w.namespace(ns)
		a, b, c := "a.two."+zone, "b.two."+zone, "c.two."+zone
		ing := ingress(ns, "web", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			networkingv1.IngressTLS{Hosts: []string{a, b}, SecretName: "ab-tls"},
			networkingv1.IngressTLS{Hosts: []string{c}, SecretName: "c-tls"})
		ing.Labels = map[string]string{"app": "web"}
		w.create(ing)
		for name, hosts := range map[string][]string{"ab-tls": {a, b}, "c-tls": {c}} {
			cert := w.waitReady(ns, name)
			if cert.Spec.SecretName != name || !slices.Equal(cert.Spec.DNSNames, hosts) ||
				cert.Spec.IssuerRef != (certflowv1.ObjectReference{Name: "pebble", Kind: "ClusterIssuer"}) {
				t.Errorf("Certificate %s: spec %+v", name, cert.Spec)
			}
			if cert.Labels["app"] != "web" {
				t.Errorf("Certificate %s: labels %v, want the Ingress's", name, cert.Labels)
			}
			owner := metav1.GetControllerOf(cert)
			if owner == nil || owner.Kind != "Ingress" || owner.UID != ing.UID || owner.BlockOwnerDeletion == nil || !*owner.BlockOwnerDeletion {
				t.Errorf("Certificate %s: controller %+v, want the Ingress blocking its deletion", name, owner)
			}
			w.verify(w.tlsSecret(ns, name), hosts...)
		}

		// A change that asks for nothing new writes nothing: the
		// Certificates keep their generation and get no UpdateCertificate
		// Event. A second Ingress made after it shows the shim has seen it
		// (one worker, in order).
		generation := w.certificate(ns, "ab-tls").Generation
		w.updateIngress(ing, func() {
			ing.Spec.Rules = []networkingv1.IngressRule{{Host: a}}
			ing.Annotations["example.com/note"] = "unrelated"
		})
		w.create(ingress(ns, "marker", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			networkingv1.IngressTLS{Hosts: []string{"marker.two." + zone}, SecretName: "marker-tls"}))
		w.waitCertificate(ns, "marker-tls")
		if got := w.certificate(ns, "ab-tls").Generation; got != generation {
			t.Errorf("Certificate ab-tls: generation %d after an Ingress change that asks for nothing new, want %d", got, generation)
		}
		if e := w.shimEvents(ns, "Ingress", "web", shim.ReasonUpdateCertificate); len(e) > 0 {
			t.Errorf("the shim updated a Certificate that needed no change: %s", e[0].Note)
		}

		w.updateIngress(ing, func() { ing.Spec.TLS = ing.Spec.TLS[:1] })
		w.gone(&certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c-tls"}}, time.Minute)
		w.waitShimEvent(ns, "Ingress", "web", shim.ReasonDeleteCertificate, "c-tls")
		if w.certificate(ns, "ab-tls").Generation != generation {
			t.Error("removing one TLS entry changed the other's Certificate")
		}

		w.updateIngress(ing, func() { delete(ing.Annotations, "certflow.dev/cluster-issuer") })
		w.gone(&certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ab-tls"}}, time.Minute)
	})

	t.Run("cert-manager's tuning annotations land in the spec and the key", func(t *testing.T) {
		t.Parallel()
		w := w.in(t)
		const ns = "ing-tune"
		w.namespace(ns)
		host := "tune." + zone
		ing := ingress(ns, "tuned", map[string]string{
			"cert-manager.io/cluster-issuer":              "pebble",
			"cert-manager.io/common-name":                 host,
			"cert-manager.io/duration":                    "720h",
			"cert-manager.io/renew-before":                "240h",
			"cert-manager.io/usages":                      "digital signature, server auth",
			"cert-manager.io/private-key-algorithm":       "ECDSA",
			"cert-manager.io/private-key-size":            "384",
			"cert-manager.io/private-key-rotation-policy": "Never",
			"cert-manager.io/revision-history-limit":      "2",
		}, networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "tune-tls"})
		w.create(ing)
		cert := w.waitReady(ns, "tune-tls")
		want := certflowv1.CertificateSpec{
			CommonName:           host,
			DNSNames:             []string{host},
			SecretName:           "tune-tls",
			IssuerRef:            certflowv1.ObjectReference{Name: "pebble", Kind: "ClusterIssuer"},
			Duration:             &metav1.Duration{Duration: 720 * time.Hour},
			RenewBefore:          &metav1.Duration{Duration: 240 * time.Hour},
			Usages:               []certflowv1.KeyUsage{certflowv1.UsageDigitalSignature, certflowv1.UsageServerAuth},
			PrivateKey:           &certflowv1.CertificatePrivateKey{Algorithm: "ECDSA", Size: 384, RotationPolicy: "Never"},
			RevisionHistoryLimit: new(int32(2)),
		}
		if !equality.Semantic.DeepEqual(cert.Spec, want) {
			t.Errorf("spec %+v, want %+v", cert.Spec, want)
		}
		issued := w.tlsSecret(ns, "tune-tls")
		w.verify(issued, host)
		if k, ok := issued.key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P384() {
			t.Errorf("tls.key is a %T, want an ECDSA P-384 key", issued.key)
		}

		w.updateIngress(ing, func() { ing.Annotations["cert-manager.io/duration"] = "1440h" })
		w.waitFor(ns, "tune-tls", time.Minute, "duration 1440h", func(c *certflowv1.Certificate) bool {
			return c.Spec.Duration != nil && c.Spec.Duration.Duration == 1440*time.Hour
		})
		w.waitShimEvent(ns, "Ingress", "tuned", shim.ReasonUpdateCertificate, "tune-tls")
	})

	t.Run("a Certificate made by hand is left alone, with an Event, until it is deleted", func(t *testing.T) {
		t.Parallel()
		w := w.in(t)
		const ns = "ing-hand"
		w.namespace(ns)
		handMade := certificate(ns, "hand-tls", "hand-tls", "mine.hand."+zone)
		handMade.Spec.IssuerRef = certflowv1.ObjectReference{Name: "elsewhere", Kind: "ClusterIssuer"}
		w.create(handMade)
		ing := ingress(ns, "web", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			networkingv1.IngressTLS{Hosts: []string{"ingress.hand." + zone}, SecretName: "hand-tls"},
			networkingv1.IngressTLS{Hosts: []string{"other.hand." + zone}, SecretName: "other-tls"})
		w.create(ing)
		w.waitShimEvent(ns, "Ingress", "web", shim.ReasonCertificateNotOwned, "hand-tls")
		w.waitCertificate(ns, "other-tls")
		check := func(when string) {
			got := w.certificate(ns, "hand-tls")
			if got.Generation != 1 || !slices.Equal(got.Spec.DNSNames, handMade.Spec.DNSNames) || got.Spec.IssuerRef.Name != "elsewhere" || len(got.OwnerReferences) > 0 {
				t.Errorf("%s, the hand-made Certificate changed: generation %d, spec %+v, owners %v", when, got.Generation, got.Spec, got.OwnerReferences)
			}
		}
		check("with the Ingress annotated")

		// Once a hand-made Certificate goes, the Ingress gets its own.
		handMade2 := certificate(ns, "hand2-tls", "hand2-tls", "mine2.hand."+zone)
		w.create(handMade2)
		w.updateIngress(ing, func() {
			ing.Spec.TLS = append(ing.Spec.TLS, networkingv1.IngressTLS{Hosts: []string{"ingress2.hand." + zone}, SecretName: "hand2-tls"})
		})
		w.waitShimEvent(ns, "Ingress", "web", shim.ReasonCertificateNotOwned, "hand2-tls")
		if err := w.kube.Delete(w.ctx, handMade2); err != nil {
			t.Fatal(err)
		}
		w.waitFor(ns, "hand2-tls", time.Minute, "made anew by the Ingress", func(c *certflowv1.Certificate) bool {
			owner := metav1.GetControllerOf(c)
			return owner != nil && owner.UID == ing.UID && slices.Equal(c.Spec.DNSNames, []string{"ingress2.hand." + zone})
		})

		w.updateIngress(ing, func() { delete(ing.Annotations, "certflow.dev/cluster-issuer") })
		w.gone(&certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hand2-tls"}}, time.Minute)
		w.gone(&certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other-tls"}}, time.Minute)
		check("once the annotation is removed")
	})

	t.Run("bad annotations give a Warning Event and make or change no Certificate", func(t *testing.T) {
		t.Parallel()
		w := w.in(t)
		const ns = "ing-bad"
		w.namespace(ns)
		host := "bad." + zone
		for _, c := range []struct{ name, key, value, says string }{
			{"duration", "certflow.dev/duration", "abc", `annotation certflow.dev/duration: "abc" is not a duration`},
			{"usage", "cert-manager.io/usages", "digital signature, magic", `names "magic", which is not a key usage`},
			{"size", "certflow.dev/private-key-size", "big", `annotation certflow.dev/private-key-size: "big" is not a number`},
		} {
			w.create(ingress(ns, c.name, map[string]string{"certflow.dev/cluster-issuer": "pebble", c.key: c.value},
				networkingv1.IngressTLS{Hosts: []string{host}, SecretName: c.name + "-tls"}))
			w.waitShimEvent(ns, "Ingress", c.name, shim.ReasonBadConfig, c.says)
		}
		w.create(ingress(ns, "twice", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "twice-tls"},
			networkingv1.IngressTLS{Hosts: []string{"www." + host}, SecretName: "twice-tls"}))
		w.waitShimEvent(ns, "Ingress", "twice", shim.ReasonBadConfig, `spec.tls[1].secretName "twice-tls" is also the secretName of spec.tls[0]`)

		// A good Ingress whose annotation then goes bad keeps its Certificate as it was.
		good := ingress(ns, "good", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
			networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "good-tls"})
		w.create(good)
		before := w.waitCertificate(ns, "good-tls")
		w.updateIngress(good, func() {
			good.Annotations["certflow.dev/private-key-algorithm"] = "ECDSA"
			good.Annotations["certflow.dev/renew-before"] = "3000h"
		})
		w.waitShimEvent(ns, "Ingress", "good", shim.ReasonBadConfig, `annotation certflow.dev/renew-before: "3000h" is not shorter than the duration`)
		if after := w.certificate(ns, "good-tls"); after.Generation != before.Generation || after.Spec.PrivateKey != nil {
			t.Errorf("a bad annotation changed Certificate good-tls: generation %d (was %d), privateKey %+v", after.Generation, before.Generation, after.Spec.PrivateKey)
		}

		var certs certflowv1.CertificateList
		if err := w.kube.List(w.ctx, &certs, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range certs.Items {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, []string{"good-tls"}) {
			t.Errorf("Certificates %v, want only good-tls: Ingresses with bad annotations get none", names)
		}
	})

	t.Run("kubernetes.io/tls-acme uses the default issuer", func(t *testing.T) {
		t.Parallel()
		w := w.in(t)
		const ns = "ing-acme"
		w.namespace(ns)
		host := "acme." + zone
		w.create(ingress(ns, "web", map[string]string{"kubernetes.io/tls-acme": "true"},
			networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "acme-tls"}))
		cert := w.waitReady(ns, "acme-tls")
		if cert.Spec.IssuerRef != (certflowv1.ObjectReference{Name: "pebble", Kind: "ClusterIssuer"}) {
			t.Errorf("issuerRef %+v, want the default issuer ClusterIssuer pebble", cert.Spec.IssuerRef)
		}
		w.verify(w.tlsSecret(ns, "acme-tls"), host)
	})
}

// TestIngressShimWithoutCertManagerAnnotations: with
// --cert-manager-annotations=false, cert-manager's annotations are
// cert-manager's alone (both run during a migration), certflow's still work.
func TestIngressShimWithoutCertManagerAnnotations(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{certflowArgs: []string{"--cert-manager-annotations=false", "--default-issuer-name", "pebble"}})
	const ns = "ing-cm-off"
	w.namespace(ns)
	host := "off." + w.stack.BIND.Zone
	w.create(ingress(ns, "cert-manager", map[string]string{"cert-manager.io/cluster-issuer": "pebble"},
		networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "cm-tls"}))
	w.create(ingress(ns, "tls-acme", map[string]string{"kubernetes.io/tls-acme": "true"},
		networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "acme-tls"}))
	// One worker reconciles Ingresses in order: once the last one's
	// Certificate is there, the shim has passed over the first two.
	w.create(ingress(ns, "certflow", map[string]string{"certflow.dev/cluster-issuer": "pebble"},
		networkingv1.IngressTLS{Hosts: []string{host}, SecretName: "certflow-tls"}))
	w.waitCertificate(ns, "certflow-tls")
	for _, name := range []string{"cm-tls", "acme-tls"} {
		err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: ns, Name: name}, &certflowv1.Certificate{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("Certificate %s: %v, want none with --cert-manager-annotations=false", name, err)
		}
	}
}

// TestGatewayShim annotates a Gateway API Gateway: its terminating HTTPS
// listeners get a Certificate per Secret they name, with their hostnames,
// issued and stored; the listeners it cannot serve are named in Events.
func TestGatewayShim(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{GatewayAPI: true}})
	const ns = "gateway"
	w.namespace(ns)
	zone := w.stack.BIND.Zone
	apex, www := "gw."+zone, "www.gw."+zone
	terminate, passthrough := gatewayv1.TLSModeTerminate, gatewayv1.TLSModePassthrough
	hostname := func(h string) *gatewayv1.Hostname { v := gatewayv1.Hostname(h); return &v }
	secret := func(name string) []gatewayv1.SecretObjectReference {
		return []gatewayv1.SecretObjectReference{{Name: gatewayv1.ObjectName(name)}}
	}
	other := gatewayv1.Namespace("elsewhere")
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge", Annotations: map[string]string{"certflow.dev/cluster-issuer": "pebble"}},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "example",
			Listeners: []gatewayv1.Listener{
				{Name: "apex", Protocol: gatewayv1.HTTPSProtocolType, Port: 443, Hostname: hostname(apex),
					TLS: &gatewayv1.ListenerTLSConfig{Mode: &terminate, CertificateRefs: secret("edge-tls")}},
				{Name: "www", Protocol: gatewayv1.HTTPSProtocolType, Port: 443, Hostname: hostname(www),
					TLS: &gatewayv1.ListenerTLSConfig{CertificateRefs: secret("edge-tls")}},
				{Name: "http", Protocol: gatewayv1.HTTPProtocolType, Port: 80, Hostname: hostname(apex)},
				{Name: "passthrough", Protocol: gatewayv1.TLSProtocolType, Port: 8443, Hostname: hostname("db." + zone),
					TLS: &gatewayv1.ListenerTLSConfig{Mode: &passthrough}},
				{Name: "any-host", Protocol: gatewayv1.HTTPSProtocolType, Port: 9443,
					TLS: &gatewayv1.ListenerTLSConfig{CertificateRefs: secret("any-tls")}},
				{Name: "far", Protocol: gatewayv1.HTTPSProtocolType, Port: 10443, Hostname: hostname("far." + zone),
					TLS: &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "far-tls", Namespace: &other}}}},
			},
		},
	}
	w.create(gw)
	cert := w.waitReady(ns, "edge-tls")
	if !slices.Equal(cert.Spec.DNSNames, []string{apex, www}) {
		t.Errorf("dnsNames %v, want the hostnames of both listeners that name edge-tls", cert.Spec.DNSNames)
	}
	if owner := metav1.GetControllerOf(cert); owner == nil || owner.Kind != "Gateway" || owner.UID != gw.UID {
		t.Errorf("controller %+v, want the Gateway", owner)
	}
	w.verify(w.tlsSecret(ns, "edge-tls"), apex, www)
	w.waitShimEvent(ns, "Gateway", "edge", shim.ReasonBadConfig, "skipped listener any-host (spec.listeners[4]): it has no hostname")
	w.waitShimEvent(ns, "Gateway", "edge", shim.ReasonBadConfig, "Secret elsewhere/far-tls")
	var certs certflowv1.CertificateList
	if err := w.kube.List(w.ctx, &certs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(certs.Items) != 1 {
		t.Errorf("%d Certificates, want only edge-tls", len(certs.Items))
	}
}

// ingress is an Ingress with the annotations and TLS entries, sending
// everything to one Service.
func ingress(namespace, name string, annotations map[string]string, tls ...networkingv1.IngressTLS) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Annotations: annotations},
		Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			TLS: tls,
		},
	}
}

func (w *world) updateIngress(ing *networkingv1.Ingress, change func()) {
	w.t.Helper()
	for range 10 {
		if err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(ing), ing); err != nil {
			w.t.Fatal(err)
		}
		change()
		err := w.kube.Update(w.ctx, ing)
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("updating Ingress %s: conflicts", ing.Name)
}

func (w *world) certificate(namespace, name string) *certflowv1.Certificate {
	w.t.Helper()
	var c certflowv1.Certificate
	if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &c); err != nil {
		w.t.Fatalf("reading Certificate %s/%s: %v", namespace, name, err)
	}
	return &c
}

// waitCertificate waits until the Certificate exists.
func (w *world) waitCertificate(namespace, name string) *certflowv1.Certificate {
	w.t.Helper()
	return w.waitFor(namespace, name, time.Minute, "made", func(*certflowv1.Certificate) bool { return true })
}

// shimEvents are the Events with the reason about the object.
func (w *world) shimEvents(namespace, kind, name, reason string) []eventsv1.Event {
	w.t.Helper()
	var events eventsv1.EventList
	if err := w.kube.List(w.ctx, &events, client.InNamespace(namespace)); err != nil {
		w.t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range events.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// waitShimEvent waits for an Event with the reason about the object whose
// note says says.
func (w *world) waitShimEvent(namespace, kind, name, reason, says string) {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		events := w.shimEvents(namespace, kind, name, reason)
		if slices.ContainsFunc(events, func(e eventsv1.Event) bool { return strings.Contains(e.Note, says) }) {
			return
		}
		if time.Now().After(deadline) {
			var notes []string
			for _, e := range events {
				notes = append(notes, e.Note)
			}
			w.t.Fatalf("no %s Event about %s %s/%s saying %q within a minute; those there: %q", reason, kind, namespace, name, says, notes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
