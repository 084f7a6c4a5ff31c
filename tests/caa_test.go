package tests

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestCAA checks the CAA pre-check against records in BIND: names whose
// CAA records do not allow Pebble (its directory's caaIdentities,
// pebble.letsencrypt.org) are refused with a condition that names the
// record, and nothing is ordered; names they allow are issued.
func TestCAA(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{Records: []string{
		`forbidden IN CAA 0 issue "letsencrypt.org"`,
		`permitted IN CAA 0 issue "pebble.letsencrypt.org; validationmethods=dns-01"`,
		`wild-caa IN CAA 0 issue "pebble.letsencrypt.org"`,
		`wild-caa IN CAA 0 issuewild ";"`,
	}}})
	const ns = "caa"
	w.namespace(ns)
	orders := w.proxy.Count("new-order")

	refused := []struct{ cert, name, record string }{
		{"forbidden", "www.forbidden.certflow.test", `the CAA records of forbidden.certflow.test do not allow the CA (pebble.letsencrypt.org) to issue for www.forbidden.certflow.test: forbidden.certflow.test. CAA 0 issue "letsencrypt.org"`},
		{"wild", "*.wild-caa.certflow.test", `the CAA records of wild-caa.certflow.test do not allow the CA (pebble.letsencrypt.org) to issue for *.wild-caa.certflow.test: wild-caa.certflow.test. CAA 0 issuewild ";"`},
	}
	for _, r := range refused {
		w.create(certificate(ns, r.cert, r.cert+"-tls", r.name))
	}
	for _, r := range refused {
		c := w.waitFor(ns, r.cert, time.Minute, "CAAForbidden", func(c *certflowv1.Certificate) bool {
			issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
			return issuing != nil && issuing.Reason == certflowv1.ReasonCAAForbidden
		})
		msg := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing).Message
		if !strings.Contains(msg, r.record) || !strings.Contains(msg, "next attempt when the issuer or a Secret it reads changes") {
			t.Errorf("%s: Issuing says %q, want it to say %q and that it waits for a change", r.cert, msg, r.record)
		}
	}
	if n := w.proxy.Count("new-order") - orders; n != 0 {
		t.Errorf("the CA saw %d new orders for names CAA forbids", n)
	}

	allowed := map[string]string{"permitted": "www.permitted.certflow.test", "wild-plain": "wild-caa.certflow.test"}
	for cert, name := range allowed {
		w.create(certificate(ns, cert, cert+"-tls", name))
	}
	for cert, name := range allowed {
		w.waitReady(ns, cert)
		w.verify(w.tlsSecret(ns, cert+"-tls"), name)
	}
}
