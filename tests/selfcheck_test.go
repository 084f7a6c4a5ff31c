package tests

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities/dns/dnstest"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestSelfCheckGivesUpNamingTheServer: an issuer whose solver updates a
// primary the zone's nameservers do not serve from (a second BIND for the
// same zone) presents its record where the CA will never see it. The
// self-check gives up at the solver's selfCheckTimeout, and the Certificate
// says which nameserver lacks the record and what it answered.
func TestSelfCheckGivesUpNamingTheServer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	hidden, err := sandbox.StartBIND(w.ctx, sandbox.BINDOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hidden.Stop() })
	w.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "hidden-tsig"},
		StringData: map[string]string{"secret": hidden.TSIGSecret},
	})

	issuer := w.stack.ClusterIssuer("hidden", w.proxy.DirectoryURL, w.proxy.CACertPEM, "hidden-tsig")
	solver := &issuer.Spec.ACME.Solvers[0]
	solver.DNS01.RFC2136.Nameserver, solver.DNS01.RFC2136.TSIGKeyName = hidden.Addr, hidden.TSIGKeyName
	solver.SelfCheckTimeout = &metav1.Duration{Duration: 3 * time.Second}
	issuer.Spec.RetryBackoff = &certflowv1.RetryBackoff{Initial: &metav1.Duration{Duration: time.Hour}}
	w.create(issuer)
	w.waitClusterIssuerReady(issuer.Name, time.Minute)

	const ns = "selfcheck"
	w.namespace(ns)
	cert := certificate(ns, "hidden", "hidden-tls", "hidden."+w.stack.BIND.Zone)
	cert.Spec.IssuerRef.Name = issuer.Name
	w.create(cert)
	want := "the self-check gave up"
	answered := "_acme-challenge.hidden." + w.stack.BIND.Zone + ". not at " + w.stack.BIND.Addr + " answered no TXT record"
	fqdn := "_acme-challenge.hidden." + w.stack.BIND.Zone + "."
	presented := false // seen at the solver's primary while the self-check waits
	failed := w.waitFor(ns, "hidden", time.Minute, "a failed attempt", func(c *certflowv1.Certificate) bool {
		presented = presented || len(dnstest.TXTValues(t, hidden.Addr, fqdn)) > 0
		ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
		return ready != nil && strings.Contains(ready.Message, want)
	})
	if !presented {
		t.Error("the record never showed at the solver's primary: the self-check had nothing to miss")
	}
	msg := meta.FindStatusCondition(failed.Status.Conditions, certflowv1.ConditionReady).Message
	if !strings.Contains(msg, answered) {
		t.Errorf("Ready condition %q, want it to say %q", msg, answered)
	}
	for _, temporals := range []string{"(type: ", "retryable", "activity error", "child workflow", "workflowID"} {
		if strings.Contains(msg, temporals) {
			t.Errorf("Ready condition %q speaks Temporal (%q)", msg, temporals)
		}
	}
	if n := strings.Count(msg, answered); n != 1 {
		t.Errorf("Ready condition %q says the cause %d times, want once", msg, n)
	}
	// The failed attempt removes what it presented.
	for deadline := time.Now().Add(30 * time.Second); len(dnstest.TXTValues(t, hidden.Addr, fqdn)) > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("TXT %s at the solver's primary = %v 30s after the attempt failed", fqdn, dnstest.TXTValues(t, hidden.Addr, fqdn))
		}
	}
}
