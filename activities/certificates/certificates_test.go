package certificates

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestAClaimMustMatchTheCertificate(t *testing.T) {
	cert := &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 4},
		Spec: certflowv1.CertificateSpec{
			SecretName: "web-tls", DNSNames: []string{"*.web.example.test", "web.example.test"},
			IssuerRef:          certflowv1.ObjectReference{Kind: "ClusterIssuer", Name: "le"},
			FallbackIssuerRefs: []certflowv1.ObjectReference{{Name: "team-ca"}},
		},
	}
	ref := activities.CertificateRef{Namespace: "shop", Name: "web"}
	le := activities.IssuerRef{Kind: "ClusterIssuer", Name: "le"}
	req := RequestOf(cert)
	otherSecret := req
	otherSecret.SecretName = "bank-tls"
	cases := []struct {
		name  string
		cert  *certflowv1.Certificate
		claim Claim
		want  string // "" when it matches
	}{
		{"the Certificate's issuer and request match", cert, Claim{Certificate: ref, Issuer: le, Request: &req}, ""},
		{"a fallback issuer in the Certificate's namespace matches",
			cert, Claim{Certificate: ref, Issuer: activities.IssuerRef{Kind: "Issuer", Namespace: "shop", Name: "team-ca"}}, ""},
		{"the names it asks for match, a wildcard with its *.",
			cert, Claim{Certificate: ref, Issuer: le, Identifiers: []string{"*.web.example.test", "web.example.test"}}, ""},
		{"a Certificate that does not exist is refused", nil, Claim{Certificate: ref, Issuer: le}, "does not exist"},
		{"another namespace's issuer is refused",
			cert, Claim{Certificate: ref, Issuer: activities.IssuerRef{Kind: "Issuer", Namespace: "bank", Name: "team-ca"}},
			"does not name Issuer/team-ca as its issuer or a fallback"},
		{"another Secret is refused", cert, Claim{Certificate: ref, Issuer: le, Request: &otherSecret}, "asks for another certificate (generation 4)"},
		{"a name it does not ask for is refused",
			cert, Claim{Certificate: ref, Issuer: le, Identifiers: []string{"www.bank.example.test"}}, "does not ask for www.bank.example.test"},
		{"a wildcard it asks for only as its apex is refused",
			cert, Claim{Certificate: ref, Issuer: le, Identifiers: []string{"*.example.test"}}, "does not ask for *.example.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mismatch(tc.cert, tc.claim)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("mismatch = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestARequestThatCrossedJSONIsTheSame: a request in a workflow's history
// has crossed JSON, where an empty list comes back as nil.
func TestARequestThatCrossedJSONIsTheSame(t *testing.T) {
	a := activities.Request{DNSNames: []string{"a.example.test"}, Usages: []string{}, SecretLabels: map[string]string{}}
	b := activities.Request{DNSNames: []string{"a.example.test"}}
	if !sameRequest(a, b) {
		t.Fatal("empty and nil lists and maps differ")
	}
	b.DNSNames = []string{"b.example.test"}
	if sameRequest(a, b) {
		t.Fatal("other names are the same")
	}
}
