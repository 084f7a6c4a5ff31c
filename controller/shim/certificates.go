package shim

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/api/v1alpha1"
)

// Event reasons on the Ingress or Gateway: cert-manager's, and
// CertificateNotOwned for a Certificate of the same name that someone else
// made.
const (
	ReasonBadConfig           = "BadConfig"
	ReasonCreateCertificate   = "CreateCertificate"
	ReasonUpdateCertificate   = "UpdateCertificate"
	ReasonDeleteCertificate   = "DeleteCertificate"
	ReasonCertificateNotOwned = "CertificateNotOwned"

	// maxNote keeps an Event's message within the 1 KiB an events.k8s.io
	// note may hold, as most tools read Events.
	maxNote = 1000
)

// applysetLabel is not copied from the object to its Certificates: kubectl's
// applyset pruning would delete them as strays (cert-manager issue 7306).
const applysetLabel = "applyset.kubernetes.io/part-of"

// wanted is one Certificate an Ingress or Gateway asks for, named after the
// Secret it fills, as cert-manager names it.
type wanted struct {
	secretName string
	hosts      []string
}

// entries are the Certificates an object asks for, and the names of those it
// names in entries that are skipped (each with a Warning Event): a skipped
// entry's Certificate is left as it is, not deleted.
type entries struct {
	want []wanted
	keep []string
}

// syncer keeps the Certificates an Ingress or Gateway controls what its
// annotations and TLS entries ask for.
type syncer struct {
	client client.Client
	events record.EventRecorder
	opts   Options
}

// sync makes, updates and deletes the object's Certificates. Annotations that
// ask for no Certificate (none of the issuer annotations) delete those it
// made; bad ones, or entries list's refusal, change nothing and say why in a
// Warning Event. A Certificate of a wanted name that the object does not
// control is left alone, with a Warning Event. Nothing is written when
// nothing changed.
func (s *syncer) sync(ctx context.Context, obj client.Object, gvk schema.GroupVersionKind, tlsACME bool,
	list func(skip func(format string, args ...any)) (entries, error)) error {
	if obj.GetDeletionTimestamp() != nil {
		return nil // the garbage collector deletes its Certificates
	}
	issuer, annotated, err := s.opts.issuerRef(obj.GetAnnotations(), tlsACME)
	var ents entries
	if annotated {
		spec := v1alpha1.CertificateSpec{IssuerRef: issuer}
		if err == nil {
			err = s.opts.annotationsOf(obj.GetAnnotations()).tune(&spec)
		}
		if err == nil {
			ents, err = list(func(format string, args ...any) { s.warn(obj, ReasonBadConfig, format, args...) })
		}
		if err != nil {
			s.warn(obj, ReasonBadConfig, "%s; no Certificate was made or changed", strings.ReplaceAll(err.Error(), "\n", "; "))
			return nil
		}
		for _, w := range ents.want {
			if err := s.ensure(ctx, obj, gvk, w, spec); err != nil {
				return err
			}
		}
	}
	return s.prune(ctx, obj, ents)
}

// ensure makes or updates the Certificate w asks for.
func (s *syncer) ensure(ctx context.Context, obj client.Object, gvk schema.GroupVersionKind, w wanted, spec v1alpha1.CertificateSpec) error {
	desired := &v1alpha1.Certificate{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       obj.GetNamespace(),
			Name:            w.secretName,
			Labels:          certificateLabels(obj.GetLabels()),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(obj, gvk)},
		},
		Spec: *spec.DeepCopy(), // the Certificates of one object share spec's pointers otherwise
	}
	desired.Spec.SecretName = w.secretName
	desired.Spec.DNSNames, desired.Spec.IPAddresses = splitHosts(w.hosts)

	var current v1alpha1.Certificate
	err := s.client.Get(ctx, client.ObjectKeyFromObject(desired), &current)
	switch {
	case apierrors.IsNotFound(err):
		if err := s.client.Create(ctx, desired); err != nil {
			if apierrors.IsInvalid(err) {
				s.warn(obj, ReasonBadConfig, "the API server refused Certificate %s: %s", desired.Name, err)
				return nil
			}
			return fmt.Errorf("creating Certificate %s/%s: %w", desired.Namespace, desired.Name, err)
		}
		s.normal(obj, ReasonCreateCertificate, "made Certificate %s for %s", desired.Name, strings.Join(w.hosts, ", "))
		return nil
	case err != nil:
		return fmt.Errorf("reading Certificate %s/%s: %w", desired.Namespace, desired.Name, err)
	case !metav1.IsControlledBy(&current, obj):
		s.warn(obj, ReasonCertificateNotOwned,
			"Certificate %s exists and is not controlled by this %s: it is left as it is; rename the Secret or delete that Certificate",
			current.Name, gvk.Kind)
		return nil
	case maps.Equal(current.Labels, desired.Labels) && equality.Semantic.DeepEqual(current.Spec, desired.Spec):
		return nil
	}
	patch := client.MergeFromWithOptions(current.DeepCopy(), client.MergeFromWithOptimisticLock{})
	current.Labels, current.Spec = desired.Labels, desired.Spec
	if err := s.client.Patch(ctx, &current, patch); err != nil {
		if apierrors.IsInvalid(err) {
			s.warn(obj, ReasonBadConfig, "the API server refused the update of Certificate %s: %s", current.Name, err)
			return nil
		}
		return fmt.Errorf("updating Certificate %s/%s: %w", current.Namespace, current.Name, err)
	}
	s.normal(obj, ReasonUpdateCertificate, "updated Certificate %s", current.Name)
	return nil
}

// prune deletes the Certificates the object controls and no longer asks for.
func (s *syncer) prune(ctx context.Context, obj client.Object, ents entries) error {
	var owned v1alpha1.CertificateList
	if err := s.client.List(ctx, &owned, client.InNamespace(obj.GetNamespace()), client.MatchingFields{controllerIndex: string(obj.GetUID())}); err != nil {
		return fmt.Errorf("listing the Certificates of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	for i := range owned.Items {
		cert := &owned.Items[i]
		if slices.ContainsFunc(ents.want, func(w wanted) bool { return w.secretName == cert.Name }) || slices.Contains(ents.keep, cert.Name) {
			continue
		}
		err := s.client.Delete(ctx, cert, client.Preconditions{UID: &cert.UID})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("deleting Certificate %s/%s: %w", cert.Namespace, cert.Name, err)
		}
		s.normal(obj, ReasonDeleteCertificate, "deleted Certificate %s, which is no longer asked for", cert.Name)
	}
	return nil
}

// certificateLabels are the object's labels, which cert-manager copies onto
// its Certificates, less applysetLabel.
func certificateLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	delete(out, applysetLabel)
	if len(out) == 0 {
		return nil
	}
	return out
}

// splitHosts drops repeated hosts and puts IP addresses apart from DNS
// names, keeping their order.
func splitHosts(hosts []string) (dnsNames, ipAddresses []string) {
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		if net.ParseIP(h) != nil {
			ipAddresses = append(ipAddresses, h)
		} else {
			dnsNames = append(dnsNames, h)
		}
	}
	return dnsNames, ipAddresses
}

func (s *syncer) normal(obj client.Object, reason, format string, args ...any) {
	s.events.Event(obj, corev1.EventTypeNormal, reason, note(format, args...))
}

func (s *syncer) warn(obj client.Object, reason, format string, args ...any) {
	s.events.Event(obj, corev1.EventTypeWarning, reason, note(format, args...))
}

func note(format string, args ...any) string {
	n := fmt.Sprintf(format, args...)
	if len(n) > maxNote {
		n = strings.ToValidUTF8(n[:maxNote-3], "") + "..."
	}
	return n
}
