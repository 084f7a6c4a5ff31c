package tests

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinwebhook "github.com/certflow/certflow/internal/standin/webhook"
)

// The webhook provider calls a cert-manager webhook solver through the
// world's kube-apiserver: the stand-in is registered with its aggregation
// layer (a Service and an APIService), and certflow's worker, a cluster
// admin here, may create its solver resource.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "webhook", standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const group, solver = "acme.certflow.test", "bind"
		s, err := standinwebhook.Start(standinwebhook.Options{
			Group: group, Solver: solver, BIND: bind,
			Service: types.NamespacedName{Namespace: sandbox.ClusterResourceNamespace, Name: "bind-webhook"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		for _, obj := range s.Objects() {
			w.create(obj)
		}
		return &certflowv1.ACMEChallengeSolverDNS01{Webhook: &certflowv1.ACMEIssuerDNS01ProviderWebhook{
			GroupName: group, SolverName: solver,
			Config: &runtime.RawExtension{Raw: []byte(`{"apiTokenSecretRef":{"name":"bind-token","key":"token"}}`)},
		}}, "", s
	}})
}
