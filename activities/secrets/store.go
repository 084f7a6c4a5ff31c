package secrets

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/internal/pki"
)

// StoreSecret writes the issued chain and the pending private key into the
// target Secret (type kubernetes.io/tls: tls.crt, tls.key, ca.crt, the
// additional output formats and the keystores asked for), labelled and
// annotated as the Certificate's, then deletes the pending key Secret. The
// keystores' passwords are read before anything is written, from the
// Certificate as the API server has it and the Secrets it names.
//
// It never overwrites silently: a Secret labelled for another Certificate, a
// Secret not at ExpectResourceVersion, or an unlabelled Secret when no
// version is expected, is a non-retryable ErrTypeSecretConflict. The write
// itself carries the resourceVersion it read, so a change in between fails
// (and the retry meets the guard). A retry after a successful write finds the
// chain stored and succeeds without writing again.
func (a *Activities) StoreSecret(ctx context.Context, in activities.StoreSecretInput) (activities.StoreSecretResult, error) {
	cert, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer, Request: &in.Request})
	if err != nil {
		return activities.StoreSecretResult{}, err
	}
	name := in.Request.SecretName
	target := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: name}
	chain, err := pki.ParseChain([]byte(in.ChainPEM))
	if err != nil {
		return activities.StoreSecretResult{}, fmt.Errorf("storing Secret %s: the issued chain: %w", target, err)
	}
	leaf := chain[0]
	pw, err := a.keystorePasswords(ctx, cert, in.Request.Keystores)
	if err != nil {
		return activities.StoreSecretResult{}, activities.Wrap(err, "storing Secret %s", target)
	}
	if in.ExpectResourceVersion == "" {
		if res, done, err := a.create(ctx, in, leaf, pw); done {
			return res, err
		}
	}

	var cur corev1.Secret
	exists := true
	if err := a.Kube.Get(ctx, target, &cur); apierrors.IsNotFound(err) {
		exists = false
	} else if err != nil {
		return activities.StoreSecretResult{}, fmt.Errorf("reading Secret %s: %w", target, err)
	}
	if exists && a.holds(&cur, in, leaf, pw) {
		return activities.StoreSecretResult{ResourceVersion: cur.ResourceVersion}, a.deleteLeftoverPending(ctx, in, leaf)
	}
	if exists {
		if err := guard(&cur, in); err != nil {
			return activities.StoreSecretResult{}, err
		}
	}

	pending, keyPEM, err := a.pendingKey(ctx, in, leaf)
	if err != nil {
		return activities.StoreSecretResult{}, err
	}
	next := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: target.Namespace, Name: name}}
	if exists {
		next = cur.DeepCopy()
	}
	if err := fill(next, in, keyPEM, leaf, pw); err != nil {
		return activities.StoreSecretResult{}, activities.Wrap(err, "storing Secret %s", target)
	}
	if err := a.write(ctx, next, exists); err != nil {
		return activities.StoreSecretResult{}, writeError(err, "writing Secret "+target.String())
	}
	return activities.StoreSecretResult{ResourceVersion: next.ResourceVersion}, a.deletePending(ctx, pending)
}

// create makes the Secret when none was there at inspection, the usual case
// of a first issuance, without reading it first. It is not done when the
// Secret exists after all (a retry after a successful write, or a Secret
// made since) or the pending key is gone: StoreSecret then looks at what is
// there.
func (a *Activities) create(ctx context.Context, in activities.StoreSecretInput, leaf *x509.Certificate, pw passwords) (res activities.StoreSecretResult, done bool, err error) {
	pending, keyPEM, err := a.pendingKey(ctx, in, leaf)
	if apierrors.IsNotFound(err) {
		return res, false, nil
	}
	if err != nil {
		return res, true, err
	}
	next := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: in.Certificate.Namespace, Name: in.Request.SecretName}}
	if err := fill(next, in, keyPEM, leaf, pw); err != nil {
		return res, true, activities.Wrap(err, "storing Secret %s/%s", next.Namespace, next.Name)
	}
	err = a.Kube.Create(ctx, next)
	if apierrors.IsAlreadyExists(err) {
		return res, false, nil
	}
	if err != nil {
		return res, true, writeError(err, "writing Secret "+next.Namespace+"/"+next.Name)
	}
	return activities.StoreSecretResult{ResourceVersion: next.ResourceVersion}, true, a.deletePending(ctx, pending)
}

// holds says whether the Secret is this Certificate's and already stores
// this chain with its key and keystores: an earlier attempt wrote it.
func (a *Activities) holds(s *corev1.Secret, in activities.StoreSecretInput, leaf *x509.Certificate, pw passwords) bool {
	if !ownedBy(s, in.Certificate) || string(s.Data[keyCert]) != in.ChainPEM {
		return false
	}
	key, err := pki.ParseKey(s.Data[keyKey])
	return err == nil && pki.KeyMatches(leaf, key) && keystoresStale(s, in.Request.Keystores, pw, leaf) == ""
}

// guard refuses to overwrite a Secret that is not the Certificate's to write.
func guard(s *corev1.Secret, in activities.StoreSecretInput) error {
	who, labelled := owner(s)
	switch {
	case labelled && !ownedBy(s, in.Certificate):
		return conflictError("Secret %s belongs to Certificate %s/%s; not overwriting it", s.Name, s.Namespace, who)
	case in.ExpectResourceVersion != "" && s.ResourceVersion != in.ExpectResourceVersion:
		return conflictError("Secret %s changed since it was inspected (resourceVersion %s, expected %s); not overwriting it",
			s.Name, s.ResourceVersion, in.ExpectResourceVersion)
	case in.ExpectResourceVersion == "" && !labelled:
		return conflictError("Secret %s exists and was not made by certflow; not overwriting it", s.Name)
	case s.Type != corev1.SecretTypeTLS:
		// A Secret's type cannot change in place, and deleting it to make it
		// anew could lose it (and its other keys) if the create then failed.
		return conflictError("Secret %s has type %s, not %s: delete it or choose another secretName", s.Name, s.Type, corev1.SecretTypeTLS)
	}
	return nil
}

// pendingKey reads the issuance's private key and checks that it is the
// chain's: a pending key replaced since the CSR was made cannot be stored.
func (a *Activities) pendingKey(ctx context.Context, in activities.StoreSecretInput, leaf *x509.Certificate) (*corev1.Secret, []byte, error) {
	key := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: pendingName(in)}
	var s corev1.Secret
	if err := a.Kube.Get(ctx, key, &s); err != nil {
		return nil, nil, fmt.Errorf("reading pending key Secret %s: %w", key, err)
	}
	keyPEM := s.Data[PendingKeyDataKey]
	signer, err := pki.ParseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pending key Secret %s: %w", key, err)
	}
	if !pki.KeyMatches(leaf, signer) {
		return nil, nil, fmt.Errorf("pending key Secret %s does not hold the key of the issued certificate (serial %s)", key, activities.IssuedFrom(leaf).Serial)
	}
	return &s, keyPEM, nil
}

func pendingName(in activities.StoreSecretInput) string {
	if in.PendingKeySecret != "" {
		return in.PendingKeySecret
	}
	return activities.PendingKeySecretName(in.Certificate.Name)
}

// fill sets the Secret's type, data, labels and annotations. Data entries
// certflow does not write (a user's extra keys) are kept; certflow's own
// entries that are no longer wanted (ca.crt, additional outputs, keystores)
// are removed.
func fill(s *corev1.Secret, in activities.StoreSecretInput, keyPEM []byte, leaf *x509.Certificate, pw passwords) error {
	stores, err := keystoreData(in.Request.Keystores, pw, keyPEM, []byte(in.ChainPEM), []byte(in.CAPEM))
	if err != nil {
		return err
	}
	s.Type = corev1.SecretTypeTLS
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for _, k := range []string{keyCA, keyDER, keyCombined} {
		delete(s.Data, k)
	}
	s.Data[keyCert] = []byte(in.ChainPEM)
	s.Data[keyKey] = keyPEM
	if in.CAPEM != "" {
		s.Data[keyCA] = []byte(in.CAPEM)
	}
	formats := in.Request.AdditionalOutputFormats
	if slices.Contains(formats, "DER") {
		block, _ := pem.Decode(keyPEM) // parsed already by pendingKey
		s.Data[keyDER] = block.Bytes
	}
	if slices.Contains(formats, "CombinedPEM") {
		combined := bytes.TrimRight(keyPEM, "\n")
		s.Data[keyCombined] = append(append(combined, '\n'), in.ChainPEM...)
	}
	setKeystores(s, stores)
	labelFor(s, in.Certificate, in.Issuer, in.Request, leaf, in.Revision)
	delete(s.Annotations, activities.AnnotationOrderURL) // an earlier revision's
	if in.OrderURL != "" {
		s.Annotations[activities.AnnotationOrderURL] = in.OrderURL
	}
	return nil
}

// write creates the Secret, or updates it at the resourceVersion read (guard
// has made sure it is a kubernetes.io/tls Secret, whose type stays).
func (a *Activities) write(ctx context.Context, next *corev1.Secret, exists bool) error {
	if exists {
		return a.Kube.Update(ctx, next)
	}
	return a.Kube.Create(ctx, next)
}

// deletePending removes the pending key Secret now that its key is stored,
// on the condition that it is still the Secret read; one that is gone
// already is fine.
func (a *Activities) deletePending(ctx context.Context, pending *corev1.Secret) error {
	err := a.Kube.Delete(ctx, pending, client.Preconditions{UID: &pending.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting pending key Secret %s/%s: %w", pending.Namespace, pending.Name, err)
	}
	return nil
}

// deleteLeftoverPending finishes a store whose write succeeded but whose
// pending key Secret may remain: it is deleted only when it holds the key of
// the stored certificate, never a later issuance's key.
func (a *Activities) deleteLeftoverPending(ctx context.Context, in activities.StoreSecretInput, leaf *x509.Certificate) error {
	key := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: pendingName(in)}
	var s corev1.Secret
	if err := a.Kube.Get(ctx, key, &s); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading pending key Secret %s: %w", key, err)
	}
	if signer, err := pki.ParseKey(s.Data[PendingKeyDataKey]); err != nil || !pki.KeyMatches(leaf, signer) {
		return nil
	}
	return a.deletePending(ctx, &s)
}
