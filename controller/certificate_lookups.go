package controller

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/api/v1alpha1"
)

// What a Certificate reconcile looks at besides the Certificate: its issuer
// and its target Secret, both from the manager's cache.

// resolveIssuer returns the Certificate's issuer, or nil when it does not
// exist. A missing issuer is the user's to fix: the reconciler says so with
// condition Ready=False IssuerNotFound and a Warning Event, starts no
// workflow, and waits for the issuer watch instead of requeueing. It is the
// one status the controller writes on a Certificate, and it takes the
// condition back when the issuer is found, so that a stale IssuerNotFound does
// not outlive its cause when the workflow has nothing new to write.
func (r *certificateReconciler) resolveIssuer(ctx context.Context, cert *v1alpha1.Certificate) (v1alpha1.IssuerObject, error) {
	ref, err := issuerRefOf(cert)
	if err != nil {
		return nil, r.setIssuerNotFound(ctx, cert, err.Error())
	}
	obj, err := v1alpha1.NewIssuerObject(ref.Kind)
	if err != nil {
		return nil, r.setIssuerNotFound(ctx, cert, err.Error())
	}
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	missing := fmt.Sprintf("ClusterIssuer %q not found", ref.Name)
	if ref.Kind == v1alpha1.IssuerKind {
		missing = fmt.Sprintf("Issuer %q not found in namespace %q", ref.Name, ref.Namespace)
	}
	if err := r.client.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return nil, r.setIssuerNotFound(ctx, cert, missing)
	} else if err != nil {
		return nil, fmt.Errorf("getting %s: %w", ref, err)
	}
	if c := meta.FindStatusCondition(cert.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Reason == v1alpha1.ReasonIssuerNotFound {
		patch := client.MergeFromWithOptions(cert.DeepCopy(), client.MergeFromWithOptimisticLock{})
		meta.RemoveStatusCondition(&cert.Status.Conditions, v1alpha1.ConditionReady)
		if err := r.client.Status().Patch(ctx, cert, patch); err != nil {
			return nil, fmt.Errorf("clearing condition %s: %w", v1alpha1.ReasonIssuerNotFound, err)
		}
	}
	return obj, nil
}

// setIssuerNotFound writes Ready=False IssuerNotFound and records a Warning
// Event, unless the condition already says the same for this generation.
func (r *certificateReconciler) setIssuerNotFound(ctx context.Context, cert *v1alpha1.Certificate, message string) error {
	cond := metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             metav1.ConditionFalse,
		Reason:             v1alpha1.ReasonIssuerNotFound,
		Message:            message,
		ObservedGeneration: cert.Generation,
	}
	if c := meta.FindStatusCondition(cert.Status.Conditions, cond.Type); c != nil && c.Status == cond.Status &&
		c.Reason == cond.Reason && c.Message == cond.Message && c.ObservedGeneration == cond.ObservedGeneration {
		return nil
	}
	patch := client.MergeFromWithOptions(cert.DeepCopy(), client.MergeFromWithOptimisticLock{})
	meta.SetStatusCondition(&cert.Status.Conditions, cond)
	if err := r.client.Status().Patch(ctx, cert, patch); err != nil {
		return fmt.Errorf("writing condition %s: %w", v1alpha1.ReasonIssuerNotFound, err)
	}
	r.events.Eventf(cert, nil, corev1.EventTypeWarning, v1alpha1.ReasonIssuerNotFound, eventAction, "%s", message)
	return nil
}

// secretVersion is the resourceVersion of the Certificate's target Secret as
// the metadata cache has it: "" when there is no such Secret or it is not
// labelled as this Certificate's (the cache holds only labelled Secrets, and
// only their metadata). own says that certflow wrote the Secret last
// (ownSecretWrite).
func (r *certificateReconciler) secretVersion(ctx context.Context, cert *v1alpha1.Certificate) (version string, own bool, _ error) {
	secret := secretMetadata()
	err := r.client.Get(ctx, client.ObjectKey{Namespace: cert.Namespace, Name: cert.Spec.SecretName}, secret)
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("getting Secret %s/%s metadata: %w", cert.Namespace, cert.Spec.SecretName, err)
	}
	if !activities.SecretOwnedBy(secret.Labels, secret.Annotations, cert.Name) {
		return "", false, nil
	}
	return secret.ResourceVersion, ownSecretWrite(secret.ManagedFields), nil
}

// ownSecretWrite says whether certflow's write (StoreSecret's) is the last
// one the managed fields show: certflow's entry is later than every other
// writer's. Their times are in seconds, so a write by someone else in the
// same second counts as later.
func ownSecretWrite(writers []metav1.ManagedFieldsEntry) bool {
	var own *metav1.Time
	for _, w := range writers {
		if w.Manager == activities.FieldManager && w.Subresource == "" {
			own = w.Time
		}
	}
	if own == nil {
		return false
	}
	for _, w := range writers {
		if w.Manager != activities.FieldManager && (w.Time == nil || !own.After(w.Time.Time)) {
			return false
		}
	}
	return true
}

// secretMetadata is an empty Secret of which only the metadata is read.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// isNotFound reports whether Temporal said the workflow does not exist (or,
// for a cancel request, has already closed).
func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return err != nil && errors.As(err, &nf)
}
