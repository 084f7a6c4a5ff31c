package tests

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestProfilesAndChains proves an ACME issuer's profile and preferredChain
// at a CA that has them: Pebble's shortlived profile (Let's Encrypt's
// 160-hour one) gives a 160-hour certificate that is renewed inside the
// CA's ARI window, well before its end, and preferredChain picks the chain
// to Pebble's alternate root.
func TestProfilesAndChains(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, worldOptions{stack: sandbox.Options{Pebble: sandbox.PebbleOptions{AlternateRoots: 1}}})
	const ns = "profiles"
	w.namespace(ns)

	shortlived := w.stack.ClusterIssuer("shortlived", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	shortlived.Spec.ACME.Profile = "shortlived"
	w.create(shortlived)
	altPEM, err := w.stack.Pebble.RootAt(w.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	alt, err := pki.ParseChain(altPEM)
	if err != nil {
		t.Fatal(err)
	}
	alternate := w.stack.ClusterIssuer("alternate", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	alternate.Spec.ACME.PreferredChain = alt[0].Subject.CommonName
	w.create(alternate)

	short := certificate(ns, "short", "short-tls", "short.certflow.test")
	short.Spec.IssuerRef.Name = "shortlived"
	other := certificate(ns, "other", "other-tls", "other.certflow.test")
	other.Spec.IssuerRef.Name = "alternate"
	w.create(short)
	w.create(other)

	c := w.waitReady(ns, "short")
	leaf := w.tlsSecret(ns, "short-tls").leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if life < 160*time.Hour-time.Minute || life > 160*time.Hour+time.Minute {
		t.Errorf("a shortlived certificate lives %s, want 160h", life)
	}
	// Pebble's ARI window: a day either side of two thirds of the life.
	ideal := leaf.NotAfter.Add(-life / 3)
	if c.Status.RenewalTime == nil {
		t.Fatal("no renewalTime")
	}
	at := c.Status.RenewalTime.Time
	if at.Before(ideal.Add(-24*time.Hour-time.Second)) || at.After(ideal.Add(24*time.Hour+time.Second)) {
		t.Errorf("renewal at %s (%.2f of the life), want within a day of %s, Pebble's ARI window", at, at.Sub(leaf.NotBefore).Hours()/life.Hours(), ideal)
	}

	w.waitReady(ns, "other")
	is := w.tlsSecret(ns, "other-tls")
	top := is.chain[len(is.chain)-1]
	if top.Issuer.CommonName != alt[0].Subject.CommonName {
		t.Errorf("the chain ends at %q issued by %q, want the alternate root %q", top.Subject.CommonName, top.Issuer.CommonName, alt[0].Subject.CommonName)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(alt[0])
	for _, c := range is.chain[1:] {
		inter.AddCert(c)
	}
	if _, err := is.leaf.Verify(x509.VerifyOptions{DNSName: "other.certflow.test", Roots: roots, Intermediates: inter}); err != nil {
		t.Errorf("the chain does not verify against the alternate root: %v", err)
	}
}
