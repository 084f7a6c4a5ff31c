package secrets

import (
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// TestTemplateKeysUnderCertflowsPrefixAreNotCopied: the CRD refuses them
// now, but a Certificate stored before it did may still carry them. A
// template's pending-key label would hide the target Secret from the
// controller's cache, and one left on the Secret by an earlier write goes.
func TestTemplateKeysUnderCertflowsPrefixAreNotCopied(t *testing.T) {
	c := newTestCA(t).issue(t, leafSpec{dnsNames: []string{"web.certflow.test"}, algorithm: pki.ECDSA})
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{activities.LabelPendingKey: "true"}}}
	req := activities.Request{
		SecretLabels: map[string]string{"team": "a", activities.LabelCertificateName: "spoofed", activities.LabelPendingKey: "true",
			"certflow.dev/other": "x"},
		SecretAnnotations: map[string]string{"note": "kept", activities.AnnotationIssuerName: "spoofed", activities.AnnotationOrderURL: "https://evil.test/order"},
	}
	labelFor(s, activities.CertificateRef{Namespace: "default", Name: "web"}, clusterIssuer, req, c.leaf, 1)

	wantLabels := map[string]string{"team": "a", activities.LabelCertificateName: "web"}
	if len(s.Labels) != len(wantLabels) {
		t.Errorf("labels %v, want %v", s.Labels, wantLabels)
	}
	for k, want := range wantLabels {
		if s.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, s.Labels[k], want)
		}
	}
	if s.Annotations["note"] != "kept" || s.Annotations[activities.AnnotationIssuerName] != clusterIssuer.Name {
		t.Errorf("annotations %v: want the template's note and certflow's issuer", s.Annotations)
	}
	if _, ok := s.Annotations[activities.AnnotationOrderURL]; ok {
		t.Errorf("the template's %s was copied", activities.AnnotationOrderURL)
	}
}

// TestALongCertificateNameLabelsItsSecretWithAHash: a Certificate name
// longer than a label value is stored, labelled by its hash and annotated
// with the name, and found again as the Certificate's; a Certificate named
// like that hash does not own it.
func TestALongCertificateNameLabelsItsSecretWithAHash(t *testing.T) {
	ns, ca, e := namespace(t), newTestCA(t), env()
	long := strings.Repeat("certificate-", 8) + "long"
	req := activities.Request{DNSNames: []string{"long.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "long-tls"}
	c := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	pendingKey(t, ns, long, c.keyPEM)
	in := activities.StoreSecretInput{
		Certificate: applyCertificate(t, ns, long, clusterIssuer, req).Certificate, Issuer: clusterIssuer,
		Request: req, ChainPEM: c.chainPEM, Revision: 1,
	}
	stored, err := execute(t, e, activities.StoreSecret, in)
	if err != nil {
		t.Fatal(err)
	}
	s := secret(t, ns, "long-tls")
	hashed := activities.CertificateLabelValue(long)
	if got := s.Labels[activities.LabelCertificateName]; got != hashed || len(got) > 63 {
		t.Fatalf("label %q, want %q", got, hashed)
	}
	if got := s.Annotations[activities.AnnotationCertificateName]; got != long {
		t.Fatalf("annotation %q, want the name", got)
	}
	if again, err := execute(t, e, activities.StoreSecret, in); err != nil || again.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("retried store: %+v, %v; want the stored Secret found", again, err)
	}
	inspected, err := execute(t, e, activities.InspectSecret, applyCertificate(t, ns, long, clusterIssuer, req))
	if err != nil || inspected.State != activities.SecretCurrent {
		t.Fatalf("inspected %+v, %v; want Current", inspected, err)
	}

	impostor, err := execute(t, e, activities.InspectSecret, applyCertificate(t, ns, hashed, clusterIssuer, req))
	want := "Secret long-tls belongs to Certificate " + ns + "/" + long
	if err != nil || impostor.State != activities.SecretConflict || impostor.Reason != want {
		t.Fatalf("a Certificate named like the hash inspected %+v, %v; want a conflict saying %q", impostor, err, want)
	}
}

// TestAWriteTheAPIServerRefusesIsAConfigError: the API server refuses a
// Secret whose annotations pass 256 KiB, here the template's (within the
// CRD's 192 KiB) and someone else's together. The same write would be
// refused again after the CA had issued again: the activity fails for good
// with ErrTypeConfig, and nothing is written or lost.
func TestAWriteTheAPIServerRefusesIsAConfigError(t *testing.T) {
	ca := newTestCA(t)
	req := activities.Request{DNSNames: []string{"big.certflow.test"}, PrivateKey: activities.KeySpec{Algorithm: pki.ECDSA}, SecretName: "big-tls",
		SecretAnnotations: map[string]string{"note": strings.Repeat("n", 150<<10)}}
	stored := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
	theirs := map[string]string{"example.com/history": strings.Repeat("h", 120<<10)}
	e := env()

	cases := []struct {
		name string
		// run makes the Secret and runs the activity that writes it.
		run  func(t *testing.T, ns string) error
		want string
	}{
		{"storing over the Certificate's Secret",
			func(t *testing.T, ns string) error {
				s := &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big-tls", Annotations: theirs,
						Labels: map[string]string{activities.LabelCertificateName: "big"}},
					Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte(stored.chainPEM), "tls.key": stored.keyPEM},
				}
				if err := kube.Create(t.Context(), s); err != nil {
					t.Fatal(err)
				}
				next := ca.issue(t, leafSpec{dnsNames: req.DNSNames, algorithm: pki.ECDSA})
				pendingKey(t, ns, "big", next.keyPEM)
				_, err := execute(t, e, activities.StoreSecret, activities.StoreSecretInput{
					Certificate: applyCertificate(t, ns, "big", clusterIssuer, req).Certificate, Issuer: clusterIssuer, Request: req,
					ChainPEM: next.chainPEM, Revision: 2, ExpectResourceVersion: s.ResourceVersion,
				})
				if secret(t, ns, activities.PendingKeySecretName("big")) == nil {
					t.Error("the pending key Secret is gone")
				}
				return err
			}, "writing Secret %s/big-tls: the API server refuses it"},
		{"adopting a matching Secret made elsewhere",
			func(t *testing.T, ns string) error {
				s := &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "big-tls", Annotations: theirs},
					Type:       corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte(stored.chainPEM), "tls.key": stored.keyPEM},
				}
				if err := kube.Create(t.Context(), s); err != nil {
					t.Fatal(err)
				}
				_, err := execute(t, e, activities.InspectSecret, applyCertificate(t, ns, "big", clusterIssuer, req))
				return err
			}, "adopting Secret %s/big-tls: the API server refuses it"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused for good", func(t *testing.T) {
			ns := namespace(t)
			err := tc.run(t, ns)
			after := secret(t, ns, "big-tls")
			var app *temporal.ApplicationError
			want := strings.ReplaceAll(tc.want, "%s", ns)
			if !errors.As(err, &app) || !app.NonRetryable() || app.Type() != activities.ErrTypeConfig || !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), "metadata.annotations: Too long") {
				t.Fatalf("error = %v; want a non-retryable %s saying %q and why", err, activities.ErrTypeConfig, want)
			}
			if after.Annotations["note"] != "" || string(after.Data["tls.crt"]) != stored.chainPEM {
				t.Error("the Secret was written")
			}
		})
	}
}
