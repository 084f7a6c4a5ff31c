package tests

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
)

// TestLongCertificateNames issues Certificates whose names are longer than a
// label value may be (63 characters): object names may have 253. Each is
// issued with one order, its Secret carries a label derived from the name
// (and the whole name in an annotation), and the controller still finds the
// Certificate from its Secret: deleting the Secret issues it again. The
// longest name also makes a pending key Secret name that would be too long
// if the name were used as it is.
func TestLongCertificateNames(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const ns = "names"
	w.namespace(ns)
	cases := []struct {
		what    string
		name    string
		secret  string
		dnsName string
	}{
		{"a name of 100 characters", longName(100), "long-tls", "long.certflow.test"},
		{"a name of 253 characters, the most an object name may have", longName(253), "longest-tls", "longest.certflow.test"},
	}
	for _, c := range cases {
		w.create(certificate(ns, c.name, c.secret, c.dnsName))
	}
	for _, c := range cases {
		t.Run(c.what+" is issued once and its Secret is found again", func(t *testing.T) {
			w := w.in(t)
			cert := w.waitReady(ns, c.name)
			if n := w.ordersFor(c.dnsName); n != 1 {
				t.Errorf("the CA created %d orders for %s, want 1; orders:\n%s", n, c.dnsName, w.ordersCreated())
			}
			is := w.tlsSecret(ns, c.secret)
			w.verify(is, c.dnsName)
			label := is.secret.Labels[activities.LabelCertificateName]
			if errs := validation.IsValidLabelValue(label); len(errs) > 0 || label == c.name || label != activities.CertificateLabelValue(c.name) {
				t.Errorf("Secret labelled %s=%q (%v); want the hashed form %q", activities.LabelCertificateName, label, errs,
					activities.CertificateLabelValue(c.name))
			}
			if got := is.secret.Annotations[activities.AnnotationCertificateName]; got != c.name {
				t.Errorf("annotation %s = %q, want the whole name", activities.AnnotationCertificateName, got)
			}

			if err := w.kube.Delete(w.ctx, is.secret); err != nil {
				t.Fatal(err)
			}
			// Only the controller's Secret watch can notice in time: the
			// workflow sleeps until renewal and the resync is hours away.
			w.waitFor(ns, c.name, 2*time.Minute, "a new revision", revisionAtLeast(*cert.Status.Revision+1))
			w.verify(w.tlsSecret(ns, c.secret), c.dnsName)
			if n := w.ordersFor(c.dnsName); n != 2 {
				t.Errorf("the CA created %d orders for %s, want 2 (the first issuance and the one after the delete)", n, c.dnsName)
			}
		})
	}
	t.Run("no pending key Secret is left", func(t *testing.T) {
		for _, c := range cases {
			name := activities.PendingKeySecretName(c.name)
			if len(name) > validation.DNS1123SubdomainMaxLength {
				t.Errorf("pending key Secret name %q has %d characters, more than an object name may have", name, len(name))
			}
			err := w.kube.Get(w.ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("pending key Secret %s: %v; want it gone", name, err)
			}
		}
	})
}

// longName is a valid object name of n characters.
func longName(n int) string {
	return strings.Repeat("certificate-", n/12+1)[:n-1] + "x"
}
