package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinclouddns "github.com/certflow/certflow/internal/standin/clouddns"
)

// The cloudDNS provider, through google.golang.org/api/dns/v1, against a
// stand-in of Cloud DNS that also serves the OAuth token endpoint the
// service account key names; the zone is found by listing, past a private
// zone of the same name.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "cloudDNS", standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const project = "certflow-e2e"
		api, err := standinclouddns.Start(bind, standinclouddns.Options{
			Project: project, ClientEmail: "certflow@" + project + ".iam.gserviceaccount.com", PendingChanges: true,
			Zones: []standinclouddns.Zone{{Name: "internal", DNSName: bind.Zone + ".", Visibility: "private"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.Close)
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "clouddns-key"},
			Data:       map[string][]byte{"key.json": api.ServiceAccountKey()},
		})
		solver := &certflowv1.ACMEChallengeSolverDNS01{CloudDNS: &certflowv1.ACMEIssuerDNS01ProviderCloudDNS{
			Project:        project,
			ServiceAccount: &certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "clouddns-key"}, Key: "key.json"},
		}}
		return solver, "cloudDNS=" + api.URL(), api
	}})
}
