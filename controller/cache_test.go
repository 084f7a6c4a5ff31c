package controller

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
)

func newSecret(ns, name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Data:       map[string][]byte{"tls.key": []byte("not a key, but data the cache must not hold")},
	}
}

// DESIGN.md section 8: the controller caches Secrets only as metadata and only
// those labelled as a Certificate's target.
func TestTheCacheHoldsOnlyTheMetadataOfCertificateSecrets(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ns := newNamespace(t, ctx)
	// Created in this order, so that once "target" is in the cache the
	// others would be too if the cache took them.
	for _, s := range []*corev1.Secret{
		newSecret(ns, "unrelated", map[string]string{"app": "web"}),
		newSecret(ns, "pending", map[string]string{activities.LabelCertificateName: "web", activities.LabelPendingKey: "true"}),
		newSecret(ns, "target", map[string]string{activities.LabelCertificateName: "web"}),
	} {
		if err := k8s.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	eventually(t, "the cache holds the target Secret's metadata", func() (bool, string) {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
		if err := mgr.GetCache().List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		names = names[:0]
		for _, item := range list.Items {
			names = append(names, item.Name)
		}
		return slices.Contains(names, "target"), fmt.Sprint(names)
	})
	if !slices.Equal(names, []string{"target"}) {
		t.Fatalf("cached Secrets in %s: %v, want only [target]", ns, names)
	}

	// A read of a whole Secret through the manager's client is refused
	// rather than starting an informer over every Secret of the cluster.
	var full corev1.Secret
	err := mgr.GetClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: "target"}, &full)
	var notCached *cache.ErrResourceNotCached
	if !errors.As(err, &notCached) {
		t.Fatalf("Get of a full Secret through the manager: err = %v, want ErrResourceNotCached", err)
	}
}
