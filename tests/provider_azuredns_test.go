package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinazure "github.com/certflow/certflow/internal/standin/azuredns"
)

// The azureDNS provider, through azidentity and armdns, as a service
// principal, against a stand-in of Microsoft Entra ID and Azure Resource
// Manager that serves BIND's zone and one other. The SDK talks HTTPS only,
// so certflow trusts the stand-in's CA through SSL_CERT_FILE.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "azuredns", standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const (
			tenantID       = "72f988bf-86f1-41af-91ab-2d7cd011db47"
			clientID       = "0e8a9c3d-5b1f-4a7e-9d2c-6f4b8e1a3c5d"
			clientSecret   = "Xq8Q~e2e-client-secret"
			subscriptionID = "8f3e2d1c-0b9a-4877-a665-544332211000"
			resourceGroup  = "dns-rg"
		)
		api, err := standinazure.Start(standinazure.Options{
			BIND: bind, TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret,
			SubscriptionID: subscriptionID, ResourceGroup: resourceGroup, ExtraZones: []string{"example.org"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.Close)
		ca, err := standinazure.WriteCACert(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		w.env = append(w.env, "SSL_CERT_FILE="+ca)
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "azuredns-sp"},
			StringData: map[string]string{"client-secret": clientSecret},
		})
		solver := &certflowv1.ACMEChallengeSolverDNS01{AzureDNS: &certflowv1.ACMEIssuerDNS01ProviderAzureDNS{
			ClientID: clientID, TenantID: tenantID,
			ClientSecret:   &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "azuredns-sp"}, Key: "client-secret"},
			SubscriptionID: subscriptionID, ResourceGroupName: resourceGroup,
		}}
		return solver, "azureDNS=" + api.URL, api
	}})
}
