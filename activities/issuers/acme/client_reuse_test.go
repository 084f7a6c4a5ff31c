package acme_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestStepsOfAnAccountShareOneClientOfTheCA counts the directory reads at the
// CA: once the issuer's status names its account, every step of every
// issuance signed by that account uses one client, so the directory is read
// once, not once per step.
func TestStepsOfAnAccountShareOneClientOfTheCA(t *testing.T) {
	t.Parallel()
	proxy, err := sandbox.StartACMEProxy(pebble)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Stop() })
	issuer := createIssuer(t, "reuse", func(s *certflowv1.IssuerSpec) {
		s.ACME.Server, s.ACME.CABundle = proxy.DirectoryURL, proxy.CACertPEM
	})
	a := newActivities()
	account := must(t, a, activities.EnsureAccount, activities.EnsureAccountInput{Issuer: issuer, Generation: 1})
	var ci certflowv1.ClusterIssuer
	if err := kube.Get(testContext(t), types.NamespacedName{Name: issuer.Name}, &ci); err != nil {
		t.Fatal(err)
	}
	ci.Status.ACME = &certflowv1.ACMEIssuerStatus{URI: account.AccountURL, LastPrivateKeyHash: account.KeySHA256}
	if err := kube.Status().Update(testContext(t), &ci); err != nil {
		t.Fatal(err)
	}

	before := proxy.Count("directory")
	for _, name := range []string{"one", "two"} {
		req := activities.Request{DNSNames: []string{issuer.Name + "-" + name + ".certflow.test"}, SecretName: name + "-tls"}
		ensureAndBegin(t, a, activities.BeginOrderInput{
			Certificate: createCertificate(t, issuer.Name+"-"+name, issuer, req), Issuer: issuer, Revision: 1, Request: req,
		})
	}
	if reads := proxy.Count("directory") - before; reads != 1 {
		t.Fatalf("two orders of one account read the directory %d times, want once", reads)
	}
	// Accepted ones only: Pebble rejects some nonces, and a request sent
	// again with a fresh nonce is the same registration.
	accepted := 0
	for _, r := range proxy.Requests() {
		if r.Action == sandbox.ActionNewAccount && r.Status > 0 && r.Status < 300 {
			accepted++
		}
	}
	if accepted != 1 {
		t.Fatalf("%d new-account requests accepted, want only EnsureAccount's", accepted)
	}
}
