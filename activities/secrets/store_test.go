package secrets

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

func TestStoreThenInspect(t *testing.T) {
	ns, ca, e := namespace(t), newTestCA(t), env()
	req := activities.Request{
		CommonName: "web.certflow.test", DNSNames: []string{"web.certflow.test", "www.certflow.test"}, IPAddresses: []string{"127.0.0.1"},
		PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "web-tls",
		SecretLabels:            map[string]string{"team": "a"},
		SecretAnnotations:       map[string]string{"note": "kept"},
		AdditionalOutputFormats: []string{"DER", "CombinedPEM"},
	}
	c := ca.issue(t, leafSpec{commonName: req.CommonName, dnsNames: req.DNSNames, ips: req.IPAddresses, algorithm: pki.ECDSA})
	pendingKey(t, ns, "web", c.keyPEM)
	in := activities.StoreSecretInput{
		Certificate: activities.CertificateRef{Namespace: ns, Name: "web"},
		Issuer:      activities.IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt"},
		Request:     req, PendingKeySecret: activities.PendingKeySecretName("web"),
		ChainPEM: c.chainPEM, CAPEM: ca.pem, Revision: 3,
	}
	applyCertificate(t, ns, "web", in.Issuer, req)

	stored, err := execute(t, e, activities.StoreSecret, in)
	if err != nil {
		t.Fatal(err)
	}
	s := secret(t, ns, "web-tls")
	if s.Type != corev1.SecretTypeTLS || s.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("type %s, resourceVersion %s; want %s at %s", s.Type, s.ResourceVersion, corev1.SecretTypeTLS, stored.ResourceVersion)
	}
	block, _ := pem.Decode(c.keyPEM)
	wantData := map[string]string{
		"tls.crt": c.chainPEM, "tls.key": string(c.keyPEM), "ca.crt": ca.pem,
		"key.der": string(block.Bytes), "tls-combined.pem": string(c.keyPEM) + c.chainPEM,
	}
	for k, want := range wantData {
		if string(s.Data[k]) != want {
			t.Errorf("data %s is not what was asked for", k)
		}
	}
	wantLabels := map[string]string{"team": "a", activities.LabelCertificateName: "web"}
	wantAnnotations := map[string]string{
		"note": "kept", activities.AnnotationCertificateName: "web",
		activities.AnnotationIssuerName: "letsencrypt", activities.AnnotationIssuerKind: "ClusterIssuer",
		activities.AnnotationCommonName: "web.certflow.test", activities.AnnotationAltNames: "web.certflow.test,www.certflow.test",
		activities.AnnotationIPSANs: "127.0.0.1", activities.AnnotationRevision: "3",
	}
	for k, want := range wantLabels {
		if s.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, s.Labels[k], want)
		}
	}
	for k, want := range wantAnnotations {
		if s.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], want)
		}
	}
	if secret(t, ns, activities.PendingKeySecretName("web")) != nil {
		t.Fatal("the pending key Secret is still there")
	}

	// A retry after the write (the pending key gone) succeeds and writes nothing.
	again, err := execute(t, e, activities.StoreSecret, in)
	if err != nil || again.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("retried store: %+v, %v; want success at resourceVersion %s", again, err, stored.ResourceVersion)
	}

	inspected, err := execute(t, e, activities.InspectSecret, applyCertificate(t, ns, in.Certificate.Name, in.Issuer, req))
	if err != nil {
		t.Fatal(err)
	}
	if inspected.State != activities.SecretCurrent || inspected.Adopted || inspected.ResourceVersion != stored.ResourceVersion ||
		inspected.Issued == nil {
		t.Fatalf("inspected %+v, want Current at %s", inspected, stored.ResourceVersion)
	}
	// The ARI ID made independently: the CA's subject key ID, and the serial's
	// DER content octets (after the INTEGER tag and a one-byte length).
	serialDER, _ := asn1.Marshal(c.leaf.SerialNumber)
	want := activities.Issued{
		NotBefore: c.leaf.NotBefore, NotAfter: c.leaf.NotAfter, Serial: c.leaf.SerialNumber.Text(16),
		ARICertID: base64.RawURLEncoding.EncodeToString(ca.cert.SubjectKeyId) + "." + base64.RawURLEncoding.EncodeToString(serialDER[2:]),
	}
	got := *inspected.Issued
	if !got.NotBefore.Equal(want.NotBefore) || !got.NotAfter.Equal(want.NotAfter) || got.Serial != want.Serial || got.ARICertID != want.ARICertID {
		t.Fatalf("issued = %+v, want %+v", got, want)
	}
}

func TestASecondIssuanceReplacesTheFirst(t *testing.T) {
	ns, ca, e := namespace(t), newTestCA(t), env()
	req := activities.Request{DNSNames: []string{"app.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA},
		SecretName: "app-tls", AdditionalOutputFormats: []string{"DER"}}
	cert := applyCertificate(t, ns, "app", clusterIssuer, req).Certificate
	first := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	pendingKey(t, ns, "app", first.keyPEM)
	res, err := execute(t, e, activities.StoreSecret, activities.StoreSecretInput{
		Certificate: cert, Issuer: clusterIssuer, Request: req, ChainPEM: first.chainPEM, CAPEM: ca.pem, Revision: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A user adds an entry of their own; it survives certflow's writes.
	s := secret(t, ns, "app-tls")
	s.Data["extra"] = []byte("mine")
	if err := kube.Update(t.Context(), s); err != nil {
		t.Fatal(err)
	}

	req.AdditionalOutputFormats = nil
	applyCertificate(t, ns, "app", clusterIssuer, req)
	second := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	pendingKey(t, ns, "app", second.keyPEM)
	in := activities.StoreSecretInput{Certificate: cert, Issuer: clusterIssuer, Request: req, ChainPEM: second.chainPEM, Revision: 2,
		ExpectResourceVersion: res.ResourceVersion}
	if _, err := execute(t, e, activities.StoreSecret, in); err == nil {
		t.Fatal("stored over a Secret changed since its version was taken")
	}
	in.ExpectResourceVersion = s.ResourceVersion
	if _, err := execute(t, e, activities.StoreSecret, in); err != nil {
		t.Fatal(err)
	}
	s = secret(t, ns, "app-tls")
	if string(s.Data["tls.crt"]) != second.chainPEM || !bytes.Equal(s.Data["tls.key"], second.keyPEM) {
		t.Fatal("the second certificate and key were not stored")
	}
	if _, ok := s.Data["ca.crt"]; ok {
		t.Error("ca.crt kept although the issuer gave no CA")
	}
	if _, ok := s.Data["key.der"]; ok {
		t.Error("key.der kept although the format is no longer asked for")
	}
	if string(s.Data["extra"]) != "mine" || s.Annotations[activities.AnnotationRevision] != "2" {
		t.Errorf("extra = %q, revision = %q; want the user's entry kept and revision 2", s.Data["extra"], s.Annotations[activities.AnnotationRevision])
	}
}

func TestStoreNeverOverwritesSilently(t *testing.T) {
	ca := newTestCA(t)
	req := activities.Request{DNSNames: []string{"api.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "api-tls"}
	c := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	other := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	theirs := map[string][]byte{"tls.crt": []byte(other.chainPEM), "tls.key": other.keyPEM}

	cases := []struct {
		name string
		// setup makes the Secret (if any) and returns ExpectResourceVersion.
		setup    func(t *testing.T, ns string) string
		pending  []byte
		conflict string // "" when the store must succeed
		retry    string // a retryable error's text
	}{
		{"a Secret labelled for another Certificate is refused whatever version is expected",
			func(t *testing.T, ns string) string {
				return createSecret(t, ns, "api-tls", corev1.SecretTypeTLS, map[string]string{activities.LabelCertificateName: "other"}, theirs).ResourceVersion
			}, c.keyPEM, "Secret api-tls belongs to Certificate %s/other", ""},
		{"an unlabelled Secret is refused when no version was inspected",
			func(t *testing.T, ns string) string {
				createSecret(t, ns, "api-tls", corev1.SecretTypeTLS, nil, theirs)
				return ""
			}, c.keyPEM, "Secret api-tls exists and was not made by certflow", ""},
		{"a Secret changed since it was inspected is refused",
			func(t *testing.T, ns string) string {
				createSecret(t, ns, "api-tls", corev1.SecretTypeTLS, map[string]string{activities.LabelCertificateName: "api"}, theirs)
				return "1"
			}, c.keyPEM, "Secret api-tls changed since it was inspected", ""},
		{"an Opaque Secret is refused, not deleted to be made anew as a TLS Secret",
			func(t *testing.T, ns string) string {
				return createSecret(t, ns, "api-tls", corev1.SecretTypeOpaque, nil, theirs).ResourceVersion
			}, c.keyPEM, "Secret api-tls has type Opaque, not kubernetes.io/tls: delete it or choose another secretName", ""},
		{"a pending key that is not the chain's is not stored",
			func(t *testing.T, ns string) string { return "" },
			other.keyPEM, "", "does not hold the key of the issued certificate"},
	}
	e := env()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			expect := tc.setup(t, ns)
			before := secret(t, ns, "api-tls")
			pendingKey(t, ns, "api", tc.pending)
			_, err := execute(t, e, activities.StoreSecret, activities.StoreSecretInput{
				Certificate: applyCertificate(t, ns, "api", clusterIssuer, req).Certificate, Issuer: clusterIssuer, Request: req,
				ChainPEM: c.chainPEM, Revision: 1, ExpectResourceVersion: expect,
			})
			var app *temporal.ApplicationError
			after := secret(t, ns, "api-tls")
			switch {
			case tc.conflict != "":
				want := strings.ReplaceAll(tc.conflict, "%s", ns)
				if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != activities.ErrTypeSecretConflict || !strings.Contains(err.Error(), want) {
					t.Fatalf("error = %v, want a non-retryable %s saying %q", err, activities.ErrTypeSecretConflict, want)
				}
				if after.ResourceVersion != before.ResourceVersion {
					t.Fatal("the Secret was written")
				}
			case tc.retry != "":
				if !errors.As(err, &app) || app.NonRetryable() || !strings.Contains(err.Error(), tc.retry) {
					t.Fatalf("error = %v, want a retryable error saying %q", err, tc.retry)
				}
				if after != nil {
					t.Fatal("a Secret was written")
				}
				if strings.Contains(err.Error(), "PRIVATE KEY") {
					t.Fatal("the error quotes key material")
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if after.Type != corev1.SecretTypeTLS || string(after.Data["tls.crt"]) != c.chainPEM || after.Labels[activities.LabelCertificateName] != "api" {
					t.Fatalf("after the store: type %s, labels %v", after.Type, after.Labels)
				}
			}
		})
	}
}
