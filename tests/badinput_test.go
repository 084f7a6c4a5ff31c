package tests

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestBadInput tries what users get wrong and checks each is reported in the
// Certificate's status (and not retried hot), and that no Secret is lost.
func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "bad"
	w.namespace(ns)

	// A ClusterIssuer with the wrong TSIG secret, and one whose CA is unreachable.
	w.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "wrong-tsig"},
		Data:       map[string][]byte{"secret": []byte("d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldCEhISEhISE=")},
	})
	w.create(w.stack.ClusterIssuer("wrong-tsig", w.proxy.DirectoryURL, w.proxy.CACertPEM, "wrong-tsig"))
	w.create(w.stack.ClusterIssuer("unreachable", "https://"+freeAddr(t)+"/dir", w.proxy.CACertPEM, sandbox.TSIGSecretName))
	// A ClusterIssuer whose only solver is for another zone.
	other := w.stack.ClusterIssuer("other-zone", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	other.Spec.ACME.Solvers[0].Selector = &certflowv1.CertificateDNSNameSelector{DNSZones: []string{"example.org"}}
	w.create(other)
	// A ClusterIssuer whose RFC 2136 server is authoritative for another zone.
	elsewhere, err := sandbox.StartBIND(w.ctx, sandbox.BINDOptions{Dir: t.TempDir(), Zone: "elsewhere.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = elsewhere.Stop() })
	notServed := w.stack.ClusterIssuer("not-served", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	notServed.Spec.ACME.Solvers[0].DNS01.RFC2136.Nameserver = elsewhere.Addr
	w.create(notServed)

	failing := []struct {
		name   string
		issuer string
		want   string // in the Issuing condition's message
		reason string // the Issuing condition's
	}{
		{"a wrong TSIG secret", "wrong-tsig", "TSIG", certflowv1.ReasonDNSAuthFailed},
		{"an unreachable CA", "unreachable", "unreachable", certflowv1.ReasonFailed},
		{"names no solver covers", "other-zone", "solver", certflowv1.ReasonNoSolver},
		{"a DNS server not authoritative for the zone", "not-served", "is " + elsewhere.Addr + " authoritative for it?", certflowv1.ReasonDNSZoneNotServed},
	}
	for _, tc := range failing {
		t.Run(tc.name+" is reported and retried with backoff", func(t *testing.T) {
			name := tc.issuer
			c := certificate(ns, name, name+"-tls", name+".certflow.test")
			c.Spec.IssuerRef.Name = tc.issuer
			w.create(c)
			cert := w.waitFor(ns, name, 2*time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
				return c.Status.FailedIssuanceAttempts != nil && *c.Status.FailedIssuanceAttempts >= 1
			})
			issuing := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionIssuing)
			if issuing == nil || issuing.Status != metav1.ConditionFalse || issuing.Reason != tc.reason || !strings.Contains(issuing.Message, tc.want) {
				t.Errorf("Issuing condition %+v, want False, reason %s, with %q in the message", issuing, tc.reason, tc.want)
			}
			if cert.Status.NextAttemptTime == nil || cert.Status.NextAttemptTime.Time.Before(time.Now().Add(30*time.Second)) {
				t.Errorf("next attempt at %v: want a backoff of about a minute, not a hot retry", cert.Status.NextAttemptTime)
			}
			if cert.Status.NextAttemptReason != certflowv1.NextAttemptBackoff {
				t.Errorf("next attempt reason %q", cert.Status.NextAttemptReason)
			}
			// Not hot: still one failure a few seconds later.
			time.Sleep(3 * time.Second)
			again := w.waitFor(ns, name, time.Second, "read", func(*certflowv1.Certificate) bool { return true })
			if *again.Status.FailedIssuanceAttempts != *cert.Status.FailedIssuanceAttempts {
				t.Errorf("failed attempts went from %d to %d within 3s", *cert.Status.FailedIssuanceAttempts, *again.Status.FailedIssuanceAttempts)
			}
		})
	}

	t.Run("an issuer that cannot solve the names falls back to the next issuer", func(t *testing.T) {
		c := certificate(ns, "fallback", "fallback-tls", "fallback.certflow.test")
		c.Spec.IssuerRef.Name = "other-zone"
		c.Spec.FallbackIssuerRefs = []certflowv1.ObjectReference{{Kind: "ClusterIssuer", Name: "pebble"}}
		w.create(c)
		cert := w.waitReady(ns, "fallback")
		if cert.Status.IssuedBy != "ClusterIssuer/pebble" {
			t.Errorf("issuedBy %q, want ClusterIssuer/pebble", cert.Status.IssuedBy)
		}
		w.verify(w.tlsSecret(ns, "fallback-tls"), "fallback.certflow.test")
		var events corev1.EventList
		if err := w.kube.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if !hasEvent(events, "fallback", certflowv1.ReasonFallingBack) {
			t.Error("no FallingBack Event on the Certificate")
		}
	})

	t.Run("two Certificates naming one Secret: the second is a conflict and overwrites nothing", func(t *testing.T) {
		w.create(certificate(ns, "first", "shared-tls", "first.certflow.test"))
		w.waitReady(ns, "first")
		before := w.tlsSecret(ns, "shared-tls")
		w.create(certificate(ns, "second", "shared-tls", "second.certflow.test"))
		w.waitFor(ns, "second", time.Minute, "SecretConflict", func(c *certflowv1.Certificate) bool {
			ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
			return ready != nil && ready.Reason == certflowv1.ReasonSecretConflict
		})
		after := w.tlsSecret(ns, "shared-tls")
		if after.leaf.SerialNumber.Cmp(before.leaf.SerialNumber) != 0 || after.secret.Labels["certflow.dev/certificate-name"] != "first" {
			t.Errorf("the conflicting Certificate changed the Secret: serial %X → %X, owner %q",
				before.leaf.SerialNumber, after.leaf.SerialNumber, after.secret.Labels["certflow.dev/certificate-name"])
		}
	})

	t.Run("an existing matching TLS Secret is adopted without a new order", func(t *testing.T) {
		// A certificate made elsewhere (here: by certflow in another
		// namespace), copied into an unlabelled Secret as cert-manager would have left it.
		w.create(certificate(ns, "source", "source-tls", "adopt.certflow.test"))
		w.waitReady(ns, "source")
		source := w.tlsSecret(ns, "source-tls")
		w.namespace("migrated")
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "migrated", Name: "adopt-tls", Annotations: map[string]string{"cert-manager.io/certificate-name": "adopt"}},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": source.secret.Data["tls.crt"], "tls.key": source.secret.Data["tls.key"]},
		})
		w.create(certificate("migrated", "adopt", "adopt-tls", "adopt.certflow.test"))
		w.waitReady("migrated", "adopt")
		adopted := w.tlsSecret("migrated", "adopt-tls")
		if adopted.leaf.SerialNumber.Cmp(source.leaf.SerialNumber) != 0 {
			t.Error("the adopted Secret's certificate was replaced")
		}
		if adopted.secret.Labels["certflow.dev/certificate-name"] != "adopt" {
			t.Errorf("adopted Secret labels %v", adopted.secret.Labels)
		}
		if n := w.ordersFor("adopt.certflow.test"); n != 1 {
			t.Errorf("%d orders for adopt.certflow.test, want the source's one: adoption made a new order", n)
		}
	})

	t.Run("an existing TLS Secret that does not match is reported, then replaced", func(t *testing.T) {
		source := w.tlsSecret(ns, "source-tls") // for adopt.certflow.test, not for this Certificate
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mismatch-tls"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": source.secret.Data["tls.crt"], "tls.key": source.secret.Data["tls.key"]},
		})
		c := certificate(ns, "mismatch", "mismatch-tls", "mismatch.certflow.test")
		w.create(c)
		w.waitReady(ns, "mismatch")
		w.verify(w.tlsSecret(ns, "mismatch-tls"), "mismatch.certflow.test")
		var events corev1.EventList
		if err := w.kube.List(w.ctx, &events, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if !hasEvent(events, "mismatch", "ReplacingSecret") {
			t.Error("no Warning event ReplacingSecret on the Certificate before its Secret was replaced")
		}
	})
}

// hasEvent says whether a Warning Event with reason is recorded for the named object.
func hasEvent(events corev1.EventList, object, reason string) bool {
	for _, e := range events.Items {
		if e.InvolvedObject.Name == object && e.Reason == reason && e.Type == corev1.EventTypeWarning {
			return true
		}
	}
	return false
}

// ordersFor counts the new-order requests naming name that the CA accepted.
func (w *world) ordersFor(name string) int {
	n := 0
	for _, r := range w.proxy.Requests() {
		if r.Action == sandbox.ActionNewOrder && r.Status == http.StatusCreated && slices.Contains(r.Names, name) {
			n++
		}
	}
	return n
}
