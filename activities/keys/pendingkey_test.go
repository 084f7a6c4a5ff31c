package keys_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/pki"
)

// TestTheKeyIsMadeOncePerRevision shows the pending key Secret across
// retries and revisions, and what the result says of the key.
func TestTheKeyIsMadeOncePerRevision(t *testing.T) {
	t.Parallel()
	in := issuance(t, "once", "once.certflow.test")

	first := mustEnsure(t, in)
	s := pendingSecret(t, in)
	if s.Labels[activities.LabelCertificateName] != in.Certificate.Name || s.Labels[activities.LabelPendingKey] != "true" ||
		s.Annotations[activities.AnnotationRevision] != "1" || s.Annotations[activities.AnnotationOrderURL] != "" {
		t.Fatalf("pending key Secret labels %v annotations %v", s.Labels, s.Annotations)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != certflowv1.CertificateKind || s.OwnerReferences[0].Name != in.Certificate.Name {
		t.Fatalf("owner references %+v, want the Certificate", s.OwnerReferences)
	}
	key, err := pki.ParseKey(s.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("default key is %T, want RSA 2048", key)
	}
	csr, err := x509.ParseCertificateRequest(first.CSR)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	sum := sha256.Sum256(der)
	csrDER, _ := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if first.Secret != s.Name || first.PublicKeySHA256 != hex.EncodeToString(sum[:]) || string(csrDER) != string(der) ||
		!slices.Equal(csr.DNSNames, in.Request.DNSNames) || first.IssuerType != activities.IssuerTypeACME {
		t.Fatalf("result %+v (CSR names %v) does not describe the pending key", first, csr.DNSNames)
	}

	// A retry (the worker died after the first) finds the key and writes nothing.
	again := mustEnsure(t, in)
	if again.PublicKeySHA256 != first.PublicKeySHA256 || pendingSecret(t, in).ResourceVersion != s.ResourceVersion {
		t.Fatal("a retry replaced the pending key")
	}
	// An order recorded on the key stays recorded.
	s.Annotations[activities.AnnotationOrderURL] = "https://acme.certflow.test/order/1"
	if err := kube.Update(testContext(t), s); err != nil {
		t.Fatal(err)
	}
	if got := mustEnsure(t, in); got.PublicKeySHA256 != first.PublicKeySHA256 ||
		pendingSecret(t, in).Annotations[activities.AnnotationOrderURL] != "https://acme.certflow.test/order/1" {
		t.Fatal("the key with its recorded order was replaced")
	}

	// A new revision gets a new key, of the spec as it is now, and no order.
	in.Revision = 2
	in.Request.PrivateKey = activities.KeySpec{Algorithm: "ECDSA", Size: 384}
	apply(t, &in)
	second := mustEnsure(t, in)
	s2 := pendingSecret(t, in)
	key2, err := pki.ParseKey(s2.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key2.(*ecdsa.PrivateKey); !ok || k.Curve.Params().BitSize != 384 ||
		s2.Annotations[activities.AnnotationRevision] != "2" || s2.Annotations[activities.AnnotationOrderURL] != "" {
		t.Fatalf("revision 2: key %T, annotations %v, result %+v", key2, s2.Annotations, second)
	}

	// rotationPolicy Never reuses the target Secret's key when it fits the
	// request, and makes a new one when it does not.
	target := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: in.Request.SecretName},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.key": s2.Data["tls.key"], "tls.crt": nil}}
	if err := kube.Create(testContext(t), target); err != nil {
		t.Fatal(err)
	}
	in.Revision = 3
	in.Request.PrivateKey.RotationPolicy = "Never"
	apply(t, &in)
	if got := mustEnsure(t, in); got.PublicKeySHA256 != second.PublicKeySHA256 {
		t.Fatal("rotationPolicy Never did not reuse the stored key")
	}
	in.Revision = 4
	in.Request.PrivateKey = activities.KeySpec{Algorithm: "ECDSA", Size: 256, RotationPolicy: "Never"}
	apply(t, &in)
	if got := mustEnsure(t, in); got.PublicKeySHA256 == second.PublicKeySHA256 {
		t.Fatal("rotationPolicy Never reused a key of another size")
	}
}

// TestAFirstAttemptRunAgainKeepsItsKey: a first attempt saves its key
// without reading the pending key Secret; run again (its workflow task was
// lost after the step), it finds the key saved and keeps it, with the order
// recorded on it.
func TestAFirstAttemptRunAgainKeepsItsKey(t *testing.T) {
	t.Parallel()
	in := issuance(t, "first", "first.certflow.test")
	in.FirstAttempt, in.NoTarget = true, true
	first := mustEnsure(t, in)
	s := pendingSecret(t, in)
	s.Annotations[activities.AnnotationOrderURL] = "https://acme.certflow.test/order/3"
	if err := kube.Update(testContext(t), s); err != nil {
		t.Fatal(err)
	}
	again := mustEnsure(t, in)
	after := pendingSecret(t, in)
	if again.PublicKeySHA256 != first.PublicKeySHA256 || after.ResourceVersion != s.ResourceVersion ||
		after.Annotations[activities.AnnotationOrderURL] != "https://acme.certflow.test/order/3" {
		t.Fatalf("run again, the first attempt replaced its key or its order: annotations %v", after.Annotations)
	}
}

// TestARevisionStoredAlreadyKeepsItsKeyAndOrder: an issuance run again after
// StoreSecret (its workflow task was lost) finds the stored key and order,
// so the CA gets no new order.
func TestARevisionStoredAlreadyKeepsItsKeyAndOrder(t *testing.T) {
	t.Parallel()
	in := issuance(t, "stored", "stored.certflow.test")
	key, err := pki.GenerateKey(pki.RSA, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.EncodeKey(key, "")
	target := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: in.Request.SecretName,
			Labels:      map[string]string{activities.LabelCertificateName: in.Certificate.Name},
			Annotations: map[string]string{activities.AnnotationRevision: "1", activities.AnnotationOrderURL: "https://acme.certflow.test/order/7"}},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.key": keyPEM, "tls.crt": nil},
	}
	if err := kube.Create(testContext(t), target); err != nil {
		t.Fatal(err)
	}
	res := mustEnsure(t, in)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	sum := sha256.Sum256(der)
	if res.PublicKeySHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("result %+v, want the stored key", res)
	}
	if s := pendingSecret(t, in); s.Annotations[activities.AnnotationOrderURL] != "https://acme.certflow.test/order/7" || string(s.Data["tls.key"]) != string(keyPEM) {
		t.Fatalf("pending key Secret %v: want the stored key with its order", s.Annotations)
	}
}

// TestWhatCannotBeIssuedIsRefusedBeforeAKeyIsMade: each refusal is
// classified, says what to fix, and leaves no pending key Secret.
func TestWhatCannotBeIssuedIsRefusedBeforeAKeyIsMade(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		edit    func(t *testing.T, in *activities.EnsurePendingKeyInput)
		errType string
		want    string
	}{
		{"a name no solver covers", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			in.Request.DNSNames = append(in.Request.DNSNames, "mail.example.org")
			apply(t, in)
		}, activities.ErrTypeConfig, "no solver of ClusterIssuer/{issuer} that certflow can use is for mail.example.org"},
		{"an IP address, which dns-01 cannot validate", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			in.Request.IPAddresses = []string{"192.0.2.7"}
			apply(t, in)
		}, activities.ErrTypeConfig, "RFC 8738 forbids dns-01 for it"},
		{"a request without names", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			in.Request.DNSNames = nil
		}, activities.ErrTypeConfig, "the request has no DNS name or IP address"},
		{"a target Secret of another Certificate", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: in.Request.SecretName,
				Labels: map[string]string{activities.LabelCertificateName: "someone-else"}},
				Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}})
		}, activities.ErrTypeSecretConflict, "belongs to Certificate default/someone-else"},
		{"someone else's Secret that is not a TLS Secret", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: in.Request.SecretName},
				StringData: map[string]string{"password": "x"}})
		}, activities.ErrTypeSecretConflict, "was not made by certflow and has type Opaque, not kubernetes.io/tls"},
		{"a pending key Secret's name taken", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: activities.PendingKeySecretName(in.Certificate.Name)}})
		}, activities.ErrTypeSecretConflict, "exists and is not the pending key of"},
		{"a Certificate that is gone", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			in.Certificate.Name = "no-such-certificate"
		}, activities.ErrTypeMismatch, "Certificate default/no-such-certificate does not exist"},
		{"an issuer the Certificate does not name", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			in.Issuer = activities.IssuerRef{Kind: certflowv1.IssuerKind, Namespace: "other-team", Name: "their-acme"}
		}, activities.ErrTypeMismatch, "does not name Issuer/their-acme as its issuer or a fallback"},
		{"a request the Certificate does not ask for", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			in.Request.SecretName = "someone-elses-tls"
		}, activities.ErrTypeMismatch, "asks for another certificate"},
		{"an issuer type certflow does not issue from", func(t *testing.T, in *activities.EnsurePendingKeyInput) {
			ci := &certflowv1.ClusterIssuer{}
			if err := kube.Get(testContext(t), types.NamespacedName{Name: in.Issuer.Name}, ci); err != nil {
				t.Fatal(err)
			}
			ci.Spec = certflowv1.IssuerSpec{SelfSigned: &certflowv1.SelfSignedIssuer{}}
			if err := kube.Update(testContext(t), ci); err != nil {
				t.Fatal(err)
			}
		}, activities.ErrTypeConfig, "is a SelfSigned issuer, which certflow does not issue from yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := issuance(t, "refused", "refused.certflow.test")
			tc.edit(t, &in)
			_, err := ensure(t, in)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != tc.errType || !app.NonRetryable() {
				t.Fatalf("error %v: want a non-retryable %s", err, tc.errType)
			}
			if want := strings.ReplaceAll(tc.want, "{issuer}", in.Issuer.Name); !strings.Contains(app.Message(), want) {
				t.Fatalf("message %q, want it to say %q", app.Message(), want)
			}
			var pending corev1.Secret
			err = kube.Get(testContext(t), types.NamespacedName{Namespace: "default", Name: activities.PendingKeySecretName(in.Certificate.Name)}, &pending)
			if err == nil && pending.Labels[activities.LabelPendingKey] == "true" {
				t.Fatal("a key was made for an issuance that was refused")
			} else if err != nil && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		})
	}
}

func create(t *testing.T, s *corev1.Secret) {
	t.Helper()
	if err := kube.Create(testContext(t), s); err != nil {
		t.Fatal(err)
	}
}

// apply makes the Certificate ask for the input's request, as its user
// would edit it.
func apply(t *testing.T, in *activities.EnsurePendingKeyInput) {
	t.Helper()
	activitytest.ApplyCertificate(t, kube, in.Certificate.Namespace, in.Certificate.Name, in.Issuer, in.Request)
}
