package tests

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standincf "github.com/certflow/certflow/internal/standin/cloudflare"
)

// The cloudflare provider, through cloudflare-go, with an API token, against
// a stand-in of Cloudflare's API v4 that also serves zones of the same name
// moved to other accounts, so that the active one is on a later page.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "cloudflare", certManager: cloudflareAsCertManagerWritesIt, standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const token = "cloudflare-e2e-token"
		moved := standincf.Zone{Name: bind.Zone, Status: "moved"}
		api, err := standincf.Start(standincf.Config{BIND: bind, APIToken: token, Zones: []standincf.Zone{moved, moved}, MaxPerPage: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.Close)
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "cloudflare-api-token"},
			StringData: map[string]string{"api-token": token},
		})
		return nil, "cloudflare=" + api.URL(), api
	}})
}

// cloudflareAsCertManagerWritesIt is the API-token solver of cert-manager's
// Cloudflare documentation.
const cloudflareAsCertManagerWritesIt = `    - dns01:
        cloudflare:
          apiTokenSecretRef:
            name: cloudflare-api-token
            key: api-token
`
