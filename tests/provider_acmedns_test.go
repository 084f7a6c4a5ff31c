package tests

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinacmedns "github.com/certflow/certflow/internal/standin/acmedns"
)

// The acmeDNS provider against a stand-in of acme-dns's /update API, with
// _acme-challenge.acmedns.<zone> delegated by CNAME to the account's
// fulldomain, as a user would: Pebble validates through the CNAME.
func init() {
	var fullDomain string
	dnsProviders = append(dnsProviders, dnsProvider{name: "acmeDNS", keepsValues: true, delegatedTo: func() string { return fullDomain }, standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		api, err := standinacmedns.Start(bind)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.Close)
		domain := "acmedns." + bind.Zone
		acct := api.Register("")
		fullDomain = acct.FullDomain
		if err := api.Delegate(context.Background(), domain, acct); err != nil {
			t.Fatal(err)
		}
		accounts, err := json.Marshal(map[string]standinacmedns.Account{domain: acct})
		if err != nil {
			t.Fatal(err)
		}
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "acme-dns-accounts"},
			Data:       map[string][]byte{"acmedns.json": accounts},
		})
		solver := &certflowv1.ACMEChallengeSolverDNS01{AcmeDNS: &certflowv1.ACMEIssuerDNS01ProviderAcmeDNS{
			Host:          api.URL(),
			AccountSecret: certflowv1.SecretKeySelector{LocalObjectReference: certflowv1.LocalObjectReference{Name: "acme-dns-accounts"}, Key: "acmedns.json"},
		}}
		return solver, "", api
	}})
}
