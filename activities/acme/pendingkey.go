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

// pendingKey makes sure the pending key Secret of this issuance holds a key
// for in.Revision and returns it with the Secret. A Secret of the same
// revision is reused as it is (with its order URL); one of another revision
// gets a new key and forgets its order. owner, when set, owns a new Secret.
func (a *Activities) pendingKey(ctx context.Context, in activities.BeginOrderInput, owner *metav1.OwnerReference) (crypto.Signer, *corev1.Secret, error) {
	nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: activities.PendingKeySecretName(in.Certificate.Name)}
	revision := strconv.Itoa(in.Revision)
	var secret corev1.Secret
	err := a.Kube.Get(ctx, nn, &secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("reading pending key Secret %s: %w", nn, err)
	}
	exists := err == nil
	if exists {
		if secret.Labels[activities.LabelPendingKey] != "true" || secret.Labels[activities.LabelCertificateName] != in.Certificate.Name {
			return nil, nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("Secret %s exists and is not the pending key of %s", nn, in.Certificate), activities.ErrTypeSecretConflict, nil)
		}
		if secret.Annotations[activities.AnnotationRevision] == revision {
			if key, err := pki.ParseKey(secret.Data[corev1.TLSPrivateKeyKey]); err == nil && keyMatches(key, in.Request.PrivateKey) {
				return key, &secret, nil
			}
		}
	}

	key, err := a.newKey(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	pemKey, err := pki.EncodeKey(key, in.Request.PrivateKey.Encoding)
	if err != nil {
		return nil, nil, err
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
	secret.Data = map[string][]byte{corev1.TLSPrivateKeyKey: pemKey}
	if exists {
		// The resourceVersion read above guards against a concurrent attempt.
		if err := a.Kube.Update(ctx, &secret); err != nil {
			return nil, nil, fmt.Errorf("replacing the key of pending key Secret %s: %w", nn, err)
		}
		return key, &secret, nil
	}
	if owner != nil {
		secret.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	if err := a.Kube.Create(ctx, &secret); err != nil {
		// AlreadyExists: another attempt made it first; a retry reads it.
		return nil, nil, fmt.Errorf("creating pending key Secret %s: %w", nn, err)
	}
	return key, &secret, nil
}

// recordOrder annotates the pending key Secret with the order URL, so that a
// retried BeginOrder finds the order instead of creating another.
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
func (a *Activities) newKey(ctx context.Context, in activities.BeginOrderInput) (crypto.Signer, error) {
	spec := in.Request.PrivateKey
	if spec.RotationPolicy == "Never" && in.Request.SecretName != "" {
		var target corev1.Secret
		nn := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.Request.SecretName}
		err := a.Kube.Get(ctx, nn, &target)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading Secret %s for its key (rotationPolicy Never): %w", nn, err)
		}
		if err == nil {
			if key, err := pki.ParseKey(target.Data[corev1.TLSPrivateKeyKey]); err == nil && keyMatches(key, spec) {
				return key, nil
			}
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
