package tests

import (
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/internal/standin"
	standinroute53 "github.com/certflow/certflow/internal/standin/route53"
)

// The route53 provider, through aws-sdk-go-v2, with an access key pair from
// a Secret, against a stand-in of Route 53 that also holds a parent zone and
// a private zone of the same name, listed a page of two at a time.
func init() {
	dnsProviders = append(dnsProviders, dnsProvider{name: "route53", certManager: route53AsCertManagerWritesIt, standIn: func(t *testing.T, w *world, bind standin.BIND) (*certflowv1.ACMEChallengeSolverDNS01, string, standInLog) {
		const keyID, secretKey = "AKIACERTFLOWE2E00001", "route53-e2e-secret-access-key"
		srv, err := standinroute53.New(bind, standinroute53.Options{
			Keys:     map[string]string{keyID: secretKey},
			Zones:    []standinroute53.Zone{{Name: "test"}, {Name: bind.Zone, Private: true}},
			PageSize: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		api := httptest.NewServer(srv)
		t.Cleanup(api.Close)
		w.create(&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "route53-keys"},
			StringData: map[string]string{"access-key-id": keyID, "secret-access-key": secretKey},
		})
		return nil, "route53=" + api.URL, srv
	}})
}

// route53AsCertManagerWritesIt is the access-key solver of cert-manager's
// Route53 documentation.
const route53AsCertManagerWritesIt = `    - selector:
        dnsZones:
          - "certflow.test"
      dns01:
        route53:
          region: us-east-1
          accessKeyIDSecretRef:
            name: route53-keys
            key: access-key-id
          secretAccessKeySecretRef:
            name: route53-keys
            key: secret-access-key
`
