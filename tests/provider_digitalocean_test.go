package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standindo "github.com/certflow/certflow/internal/standin/digitalocean"
)

// The digitalocean provider, through godo, against a stand-in of the
// DigitalOcean API that serves BIND's zone among domains of other names.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "digitalocean", standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const token = "dop_v1_e2e-token"
		api, err := standindo.Start(bind, standindo.Options{Token: token, Domains: []string{"example.org", "example.net"}, PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.Close)
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "digitalocean-token"},
			StringData: map[string]string{"token": token},
		})
		solver := &certflowv1.ACMEChallengeSolverDNS01{DigitalOcean: &certflowv1.ACMEIssuerDNS01ProviderDigitalOcean{
			Token: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "digitalocean-token"}, Key: "token"},
		}}
		return solver, "digitalocean=" + api.URL(), api
	}})
}
