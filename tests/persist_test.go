package tests

import (
	"strings"
	"testing"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestDNSPersist01 issues over dns-persist-01 at Pebble: the standing
// record at _validation-persist.<name> names the CA and the account
// (policy=wildcard for the wildcard), stays after the issuance, and serves
// a renewal without another record.
func TestDNSPersist01(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "persist"
	w.namespace(ns)
	iss := w.stack.ClusterIssuer("persist", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	solver := &iss.Spec.ACME.Solvers[0]
	solver.DNSPersist01, solver.DNS01 = solver.DNS01, nil
	w.create(iss)

	names := []string{"persist.certflow.test", "*.persist.certflow.test"}
	cert := certificate(ns, "standing", "standing-tls", names...)
	cert.Spec.IssuerRef.Name = "persist"
	w.create(cert)
	w.waitReady(ns, "standing")
	first := w.tlsSecret(ns, "standing-tls")
	w.verify(first, names...)

	records := w.txt("_validation-persist.persist.certflow.test.")
	if len(records) != 2 {
		t.Fatalf("_validation-persist.persist.certflow.test has %d TXT records after the issuance, want 2 (plain and wildcard): %q", len(records), records)
	}
	for _, r := range records {
		if !strings.HasPrefix(r, "pebble.letsencrypt.org; accounturi=https://") {
			t.Errorf("TXT %q does not name the CA and the account", r)
		}
	}
	if !strings.Contains(strings.Join(records, "\n"), "; policy=wildcard") {
		t.Errorf("no record says policy=wildcard: %q", records)
	}
	if left := w.challengeRecords(names...); len(left) != 0 {
		t.Errorf("dns-01 records made for a dns-persist-01 issuance: %q", left)
	}

	if err := w.temporal.SignalWorkflow(w.ctx, "sandbox/certificate/persist/standing", "", "renew", nil); err != nil {
		t.Fatal(err)
	}
	w.waitFor(ns, "standing", 2*time.Minute, "a renewal", func(c *certflowv1.Certificate) bool {
		return c.Status.Revision != nil && *c.Status.Revision >= 2 && c.Status.ObservedGeneration == c.Generation
	})
	w.waitReady(ns, "standing")
	if again := w.txt("_validation-persist.persist.certflow.test."); len(again) != 2 {
		t.Errorf("after the renewal: %d records, want the same 2: %q", len(again), again)
	}
}
