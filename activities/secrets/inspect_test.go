package secrets

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

func TestInspectSecret(t *testing.T) {
	ca := newTestCA(t)
	req := activities.Request{DNSNames: []string{"app.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "app-tls"}
	good := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	otherKey := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA}).keyPEM
	expired := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA, notAfter: time.Now().Add(-time.Hour).Truncate(time.Second)})
	rsa := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.RSA, size: 2048})
	data := func(c issued) map[string][]byte {
		return map[string][]byte{"tls.crt": []byte(c.chainPEM), "tls.key": c.keyPEM}
	}
	ours := map[string]string{activities.LabelCertificateName: "app"}
	moreNames := req
	moreNames.DNSNames = []string{"app.certflow.test", "api.certflow.test"}

	cases := []struct {
		name   string
		secret func(ns string) *corev1.Secret // nil: no Secret
		req    activities.Request
		state  activities.SecretState
		reason string
		issued bool // whether Issued is described
	}{
		{"no Secret is Missing", nil, req, activities.SecretMissing, "Secret app-tls does not exist", false},
		{"our Secret with the requested certificate is Current",
			func(ns string) *corev1.Secret { return tlsSecret(ns, ours, data(good)) },
			req, activities.SecretCurrent, "Secret app-tls is up to date", true},
		{"our Secret after the Certificate's names changed is Mismatched",
			func(ns string) *corev1.Secret { return tlsSecret(ns, ours, data(good)) },
			moreNames, activities.SecretMismatched, "the DNS names are [app.certflow.test], the Certificate asks for [api.certflow.test app.certflow.test]", true},
		{"our expired certificate is Mismatched",
			func(ns string) *corev1.Secret { return tlsSecret(ns, ours, data(expired)) },
			req, activities.SecretMismatched, "the certificate expired at", true},
		{"our certificate with another key algorithm is Mismatched",
			func(ns string) *corev1.Secret { return tlsSecret(ns, ours, data(rsa)) },
			req, activities.SecretMismatched, "the key is RSA 2048, the Certificate asks for ECDSA 256", true},
		{"our Secret whose key is not the certificate's is Invalid",
			func(ns string) *corev1.Secret {
				return tlsSecret(ns, ours, map[string][]byte{"tls.crt": []byte(good.chainPEM), "tls.key": otherKey})
			},
			req, activities.SecretInvalid, "its tls.key is not the key of the certificate in tls.crt", true},
		{"our Secret with an unreadable tls.crt is Invalid",
			func(ns string) *corev1.Secret {
				return tlsSecret(ns, ours, map[string][]byte{"tls.crt": []byte("garbage"), "tls.key": good.keyPEM})
			},
			req, activities.SecretInvalid, "its tls.crt is unreadable: no PEM certificate found", false},
		{"a Secret labelled for another Certificate is a Conflict",
			func(ns string) *corev1.Secret {
				return tlsSecret(ns, map[string]string{activities.LabelCertificateName: "other"}, data(good))
			},
			req, activities.SecretConflict, "Secret app-tls belongs to Certificate %s/other", false},
		{"an unlabelled Secret whose certificate does not match is Foreign",
			func(ns string) *corev1.Secret { return tlsSecret(ns, nil, data(good)) },
			moreNames, activities.SecretForeign, "Secret app-tls was not made by certflow, and the DNS names are", true},
		{"an unlabelled Opaque Secret is a Conflict even when its certificate matches: certflow could never write it",
			func(ns string) *corev1.Secret {
				s := tlsSecret(ns, nil, data(good))
				s.Type = corev1.SecretTypeOpaque
				return s
			},
			req, activities.SecretConflict, "has type Opaque, not kubernetes.io/tls: delete it or choose another secretName", false},
	}
	e := env()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			var before *corev1.Secret
			if tc.secret != nil {
				before = tc.secret(ns)
				if err := kube.Create(t.Context(), before); err != nil {
					t.Fatal(err)
				}
			}
			res, err := execute(t, e, activities.InspectSecret, applyCertificate(t, ns, "app", clusterIssuer, tc.req))
			if err != nil {
				t.Fatal(err)
			}
			if res.Spec == nil || !slices.Equal(res.Spec.Request.DNSNames, tc.req.DNSNames) || res.Spec.Issuer != clusterIssuer {
				t.Fatalf("spec %+v, want the Certificate's", res.Spec)
			}
			reason := strings.ReplaceAll(tc.reason, "%s", ns)
			if res.State != tc.state || !strings.Contains(res.Reason, reason) || res.Adopted {
				t.Fatalf("got %s %q (adopted %v), want %s %q", res.State, res.Reason, res.Adopted, tc.state, reason)
			}
			if (res.Issued != nil) != tc.issued {
				t.Fatalf("issued = %+v, want described: %v", res.Issued, tc.issued)
			}
			if before != nil && res.ResourceVersion != before.ResourceVersion {
				t.Fatalf("resourceVersion = %q, want %q (and no write)", res.ResourceVersion, before.ResourceVersion)
			}
		})
	}
}

func TestInspectAdoptsAMatchingSecretMadeByAnotherTool(t *testing.T) {
	ns, e := namespace(t), env()
	// As cert-manager leaves it: kubernetes.io/tls, no certflow label.
	ca, err := pki.NewCA("cert-manager test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.IssueServing([]string{"legacy.certflow.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{"tls.crt": append(pair.CertPEM, ca.CertPEM...), "tls.key": pair.KeyPEM, "ca.crt": ca.CertPEM}
	before := tlsSecret(ns, map[string]string{"controller.cert-manager.io/fao": "true"}, data)
	before.Name = "legacy-tls"
	before.Annotations = map[string]string{"cert-manager.io/certificate-name": "legacy"}
	if err := kube.Create(t.Context(), before); err != nil {
		t.Fatal(err)
	}
	in := applyCertificate(t, ns, "legacy", activities.IssuerRef{Kind: "Issuer", Namespace: ns, Name: "acme"},
		activities.Request{DNSNames: []string{"legacy.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA},
			SecretName: "legacy-tls", SecretLabels: map[string]string{"team": "b"}})

	res, err := execute(t, e, activities.InspectSecret, in)
	if err != nil {
		t.Fatal(err)
	}
	after := secret(t, ns, "legacy-tls")
	if res.State != activities.SecretCurrent || !res.Adopted || res.ResourceVersion != after.ResourceVersion || res.ResourceVersion == before.ResourceVersion {
		t.Fatalf("got %+v, want Current, adopted, at the version after the label was added", res)
	}
	if !maps.EqualFunc(after.Data, data, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatal("adoption changed the data")
	}
	for k, want := range map[string]string{activities.LabelCertificateName: "legacy", "team": "b", "controller.cert-manager.io/fao": "true"} {
		if after.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, after.Labels[k], want)
		}
	}
	for k, want := range map[string]string{activities.AnnotationIssuerName: "acme", activities.AnnotationIssuerKind: "Issuer",
		activities.AnnotationAltNames: "legacy.certflow.test", "cert-manager.io/certificate-name": "legacy"} {
		if after.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, after.Annotations[k], want)
		}
	}
	if _, ok := after.Annotations[activities.AnnotationRevision]; ok {
		t.Error("an adopted certificate got a certflow revision")
	}

	// Now ours: the next inspection finds it current and writes nothing.
	again, err := execute(t, e, activities.InspectSecret, in)
	if err != nil {
		t.Fatal(err)
	}
	if again.State != activities.SecretCurrent || again.Adopted || again.ResourceVersion != after.ResourceVersion {
		t.Fatalf("second inspection: %+v", again)
	}
}

func tlsSecret(ns string, labels map[string]string, data map[string][]byte) *corev1.Secret {
	s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: data}
	s.Namespace, s.Name, s.Labels = ns, "app-tls", labels
	return s
}

// clusterIssuer is the issuer of the Certificates here; InspectSecret reads
// its retry backoff, and a missing one has none.
var clusterIssuer = activities.IssuerRef{Kind: "ClusterIssuer", Name: "ca"}

func TestInspectingAGoneCertificateSaysSo(t *testing.T) {
	res, err := execute(t, env(), activities.InspectSecret, activities.InspectSecretInput{
		Certificate: activities.CertificateRef{Namespace: namespace(t), Name: "gone"},
	})
	if err != nil || res.Spec != nil || res.State != "" {
		t.Fatalf("inspecting a Certificate that does not exist: %+v, %v; want no spec and nothing inspected", res, err)
	}
}

// TestInspectSaysWhichRevisionTheSecretStores: a workflow task that stored
// revision 4 and was lost runs again; the state it runs from says 3.
func TestInspectSaysWhichRevisionTheSecretStores(t *testing.T) {
	ca := newTestCA(t)
	req := activities.Request{DNSNames: []string{"app.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "app-tls"}
	good := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	ns := namespace(t)
	s := tlsSecret(ns, map[string]string{activities.LabelCertificateName: "app"}, map[string][]byte{"tls.crt": []byte(good.chainPEM), "tls.key": good.keyPEM})
	s.Annotations = map[string]string{activities.AnnotationRevision: "4"}
	if err := kube.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	res, err := execute(t, env(), activities.InspectSecret, applyCertificate(t, ns, "app", clusterIssuer, req))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != activities.SecretCurrent || res.Revision != 4 {
		t.Fatalf("got %s, revision %d; want Current, revision 4", res.State, res.Revision)
	}
}
