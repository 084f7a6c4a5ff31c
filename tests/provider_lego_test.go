package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	"github.com/certflow/certflow/internal/standin/httpreq"
)

// lego's httpreq provider, configured by its variables in a Secret, posts
// the records to its stand-in; no --dns01-endpoint is needed, the endpoint
// is one of the variables.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "lego", standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const user, password = "certflow", "lego-httpreq-password"
		s, err := httpreq.Start(bind, httpreq.Options{Username: user, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "lego-httpreq"},
			StringData: map[string]string{"HTTPREQ_ENDPOINT": s.URL, "HTTPREQ_USERNAME": user, "HTTPREQ_PASSWORD": password},
		})
		return &certflowv1.ACMEChallengeSolverDNS01{Lego: &certflowv1.ACMEIssuerDNS01ProviderLego{
			Provider: "httpreq", Settings: certflowv1.LocalObjectReference{Name: "lego-httpreq"},
		}}, "", s
	}})
}
