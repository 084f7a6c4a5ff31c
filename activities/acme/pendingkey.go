package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"strconv"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/pki"
)

// pendingKey is the key of this issuance and its pending key Secret: the
// Secret's own when it holds a key of in.Revision that fits the request (it
// is then saved, with the order URL of an earlier attempt), else a key in a
// Secret not saved yet (savePendingKey writes it once the order is made):
// the stored certificate's key and order when in.Revision is stored already
// (storedIssuance), else a new key.
func (a *Activities) pendingKey(ctx context.Context, in activities.BeginOrderInput) (key crypto.Signer, secret *corev1.Secret, saved bool, err error) {
	nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: activities.PendingKeySecretName(in.Certificate.Name)}
	revision := strconv.Itoa(in.Revision)
	secret = &corev1.Secret{}
	err = a.Kube.Get(ctx, nn, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, false, fmt.Errorf("reading pending key Secret %s: %w", nn, err)
	}
	if err == nil {
		if secret.Labels[activities.LabelPendingKey] != "true" || secret.Labels[activities.LabelCertificateName] != in.Certificate.Name {
			return nil, nil, false, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("Secret %s exists and is not the pending key of %s", nn, in.Certificate), activities.ErrTypeSecretConflict, nil)
		}
		if secret.Annotations[activities.AnnotationRevision] == revision {
			if key, err := pki.ParseKey(secret.Data[corev1.TLSPrivateKeyKey]); err == nil && keyMatches(key, in.Request.PrivateKey) {
				return key, secret, true, nil
			}
		}
	}

	target, err := a.target(ctx, in)
	if err != nil {
		return nil, nil, false, err
	}
	key, orderURL := storedIssuance(target, in)
	if key == nil {
		if key, err = a.newKey(ctx, in, target); err != nil {
			return nil, nil, false, err
		}
	}
	pemKey, err := pki.EncodeKey(key, in.Request.PrivateKey.Encoding)
	if err != nil {
		return nil, nil, false, err
	}
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	secret.Namespace, secret.Name, secret.Type = nn.Namespace, nn.Name, corev1.SecretTypeOpaque
	secret.Labels[activities.LabelCertificateName] = in.Certificate.Name
	secret.Labels[activities.LabelPendingKey] = "true"
	secret.Annotations[activities.AnnotationRevision] = revision
	delete(secret.Annotations, activities.AnnotationOrderURL)
	if orderURL != "" {
		secret.Annotations[activities.AnnotationOrderURL] = orderURL
	}
	secret.Data = map[string][]byte{corev1.TLSPrivateKeyKey: pemKey}
	return key, secret, false, nil
}

// target is the Certificate's target Secret, nil when it has none.
func (a *Activities) target(ctx context.Context, in activities.BeginOrderInput) (*corev1.Secret, error) {
	if in.Request.SecretName == "" {
		return nil, nil
	}
	var target corev1.Secret
	nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.Request.SecretName}
	err := a.Kube.Get(ctx, nn, &target)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", nn, err)
	}
	return &target, nil
}

// storedIssuance is the key and the order of in.Revision when the target
// Secret stores its certificate already (StoreSecret records the order), else
// nil. The issuance then runs again after StoreSecret deleted the pending
// key: the Order runs BeginOrder and StoreSecret in one workflow task, and
// when that task is lost (the Temporal server was down as it ended), every
// step runs again. The stored key and order serve again: no new order.
func storedIssuance(target *corev1.Secret, in activities.BeginOrderInput) (crypto.Signer, string) {
	if target == nil || target.Labels[activities.LabelCertificateName] != in.Certificate.Name ||
		target.Annotations[activities.AnnotationRevision] != strconv.Itoa(in.Revision) {
		return nil, ""
	}
	orderURL := target.Annotations[activities.AnnotationOrderURL]
	key, err := pki.ParseKey(target.Data[corev1.TLSPrivateKeyKey])
	if orderURL == "" || err != nil || !keyMatches(key, in.Request.PrivateKey) {
		return nil, ""
	}
	return key, orderURL
}

// savePendingKey writes a new pending key Secret with the URL of its order,
// in one request: a retry finds both, or neither (and orders again). A
// Secret read before (of another revision) is replaced at the
// resourceVersion read, which guards against a concurrent attempt; owner,
// when set, owns a Secret made anew.
func (a *Activities) savePendingKey(ctx context.Context, secret *corev1.Secret, owner *metav1.OwnerReference, orderURL string) error {
	secret.Annotations[activities.AnnotationOrderURL] = orderURL
	if secret.ResourceVersion != "" {
		if err := a.Kube.Update(ctx, secret); err != nil {
			return fmt.Errorf("replacing the key of pending key Secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
		return nil
	}
	if owner != nil {
		secret.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	if err := a.Kube.Create(ctx, secret); err != nil {
		// AlreadyExists: another attempt made it first; a retry reads it.
		return fmt.Errorf("creating pending key Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return nil
}

// recordOrder annotates a saved pending key Secret with the URL of a new
// order (the one recorded before could not be used), so that a retried
// BeginOrder finds it instead of creating another.
func (a *Activities) recordOrder(ctx context.Context, secret *corev1.Secret, orderURL string) error {
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	secret.Annotations[activities.AnnotationOrderURL] = orderURL
	if err := a.Kube.Patch(ctx, secret, patch); err != nil {
		return fmt.Errorf("recording order %s on Secret %s/%s: %w", orderURL, secret.Namespace, secret.Name, err)
	}
	return nil
}

// newKey is the target Secret's key when the rotation policy is Never and
// that key fits the request, else a new key.
func (a *Activities) newKey(ctx context.Context, in activities.BeginOrderInput, target *corev1.Secret) (crypto.Signer, error) {
	spec := in.Request.PrivateKey
	if spec.RotationPolicy == "Never" && target != nil {
		if key, err := pki.ParseKey(target.Data[corev1.TLSPrivateKeyKey]); err == nil && keyMatches(key, spec) {
			return key, nil
		}
	}
	key, err := generateKey(ctx, spec.Algorithm, spec.Size)
	if ctx.Err() != nil {
		return nil, err
	}
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("privateKey of %s: %v", in.Certificate, err), activities.ErrTypeConfig, nil)
	}
	return key, nil
}

// keyMatches says whether key is of the algorithm and size spec asks for
// (defaults as in pki.GenerateKey: RSA 2048, ECDSA 256).
func keyMatches(key crypto.Signer, spec activities.KeySpec) bool {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		size := spec.Size
		if size == 0 {
			size = 2048
		}
		return (spec.Algorithm == "" || spec.Algorithm == pki.RSA) && k.N.BitLen() == size
	case *ecdsa.PrivateKey:
		size := spec.Size
		if size == 0 {
			size = 256
		}
		return spec.Algorithm == pki.ECDSA && k.Curve.Params().BitSize == size
	case ed25519.PrivateKey:
		return spec.Algorithm == pki.Ed25519
	}
	return false
}
