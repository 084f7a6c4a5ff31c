package acme_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// TestBeginOrderFindsWhatItMade shows the pending key Secret and the order
// URL recorded on it across retries and revisions.
func TestBeginOrderFindsWhatItMade(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer := createIssuer(t, "begin", nil)
	cert := activities.CertificateRef{Namespace: "default", Name: issuer.Name}
	in := activities.BeginOrderInput{Certificate: cert, Issuer: issuer, Revision: 1, Request: activities.Request{
		DNSNames: []string{"api.certflow.test"}, SecretName: issuer.Name + "-tls",
	}}

	first := must[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	secret := pendingSecret(t, cert)
	if secret.Labels[activities.LabelCertificateName] != cert.Name || secret.Labels[activities.LabelPendingKey] != "true" ||
		secret.Annotations[activities.AnnotationRevision] != "1" || secret.Annotations[activities.AnnotationOrderURL] != first.OrderURL {
		t.Fatalf("pending key Secret labels %v annotations %v", secret.Labels, secret.Annotations)
	}
	if first.PendingKeySecret != secret.Name {
		t.Fatalf("PendingKeySecret = %q, want %q", first.PendingKeySecret, secret.Name)
	}
	key, err := pki.ParseKey(secret.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("default key is %T, want RSA 2048", key)
	}

	// The worker died after BeginOrder: the retry reuses the order and the key
	// and writes nothing.
	again := must[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	if again.OrderURL != first.OrderURL {
		t.Fatalf("retry made order %s, want %s", again.OrderURL, first.OrderURL)
	}
	if got := pendingSecret(t, cert); got.ResourceVersion != secret.ResourceVersion {
		t.Fatal("retry rewrote the pending key Secret")
	}

	// A new revision gets a new key and a new order.
	in.Revision = 2
	in.Request.PrivateKey = activities.KeySpec{Algorithm: "ECDSA", Size: 384}
	second := must[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	if second.OrderURL == first.OrderURL {
		t.Fatal("revision 2 reused the order of revision 1")
	}
	secret2 := pendingSecret(t, cert)
	key2, err := pki.ParseKey(secret2.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key2.(*ecdsa.PrivateKey); !ok || k.Curve.Params().BitSize != 384 {
		t.Fatalf("revision 2 key is %T, want ECDSA P-384", key2)
	}
	if secret2.Annotations[activities.AnnotationRevision] != "2" || secret2.Annotations[activities.AnnotationOrderURL] != second.OrderURL {
		t.Fatalf("revision 2 annotations: %v", secret2.Annotations)
	}

	// rotationPolicy Never reuses the target Secret's key when it fits the request...
	target := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: issuer.Name + "-tls"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.key": secret2.Data["tls.key"], "tls.crt": nil}}
	if err := kube.Create(testContext(t), target); err != nil {
		t.Fatal(err)
	}
	in.Revision = 3
	in.Request.PrivateKey.RotationPolicy = "Never"
	must[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	if !samePublicKey(t, pendingKey(t, cert).Public(), key2) {
		t.Fatal("rotationPolicy Never did not reuse the stored key")
	}
	// ...and makes a new one when it does not.
	in.Revision = 4
	in.Request.PrivateKey = activities.KeySpec{Algorithm: "ECDSA", Size: 256, RotationPolicy: "Never"}
	must[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	if samePublicKey(t, pendingKey(t, cert).Public(), key2) {
		t.Fatal("rotationPolicy Never reused a key of another size")
	}
}

func pendingSecret(t *testing.T, cert activities.CertificateRef) corev1.Secret {
	t.Helper()
	var s corev1.Secret
	nn := types.NamespacedName{Namespace: cert.Namespace, Name: activities.PendingKeySecretName(cert.Name)}
	if err := kube.Get(testContext(t), nn, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBeginOrderSendsNoOrderAfterItsPermitRanOut: past SendBy, BeginOrder
// makes no order, keeps the key it made, and the next attempt (with a new
// permit) orders with that key.
func TestBeginOrderSendsNoOrderAfterItsPermitRanOut(t *testing.T) {
	t.Parallel()
	a := newActivities()
	issuer := createIssuer(t, "late", nil)
	cert := activities.CertificateRef{Namespace: "default", Name: issuer.Name}
	in := activities.BeginOrderInput{Certificate: cert, Issuer: issuer, Revision: 1, SendBy: time.Now().Add(-time.Second),
		Request: activities.Request{DNSNames: []string{"late.certflow.test"}}}

	_, err := call[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	if app := applicationError(t, err); app.Type() != activities.ErrTypePermitExpired || !app.NonRetryable() {
		t.Fatalf("error %v: want non-retryable %s", err, activities.ErrTypePermitExpired)
	}
	kept := pendingSecret(t, cert)
	if kept.Annotations[activities.AnnotationRevision] != "1" || kept.Annotations[activities.AnnotationOrderURL] != "" || len(kept.Data["tls.key"]) == 0 {
		t.Fatalf("pending key Secret after the expired permit: annotations %v, %d key bytes; want the key of revision 1 and no order",
			kept.Annotations, len(kept.Data["tls.key"]))
	}

	in.SendBy = time.Now().Add(time.Minute)
	res := must[activities.BeginOrderResult](t, a, activities.BeginOrderName, in)
	secret := pendingSecret(t, cert)
	if res.OrderURL == "" || secret.Annotations[activities.AnnotationOrderURL] != res.OrderURL {
		t.Fatalf("order %q, recorded %q", res.OrderURL, secret.Annotations[activities.AnnotationOrderURL])
	}
	if string(secret.Data["tls.key"]) != string(kept.Data["tls.key"]) {
		t.Fatal("the order with the new permit did not use the key kept from the expired one")
	}
}
