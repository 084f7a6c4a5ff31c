// Package secrets holds the activities that look after a Certificate's target
// Secret: InspectSecret says what the Secret holds (missing, current,
// mismatched, invalid, someone else's) and adopts a matching Secret another
// tool made, and StoreSecret writes the issued chain with the pending private
// key, guarded so that a Secret that changed since it was inspected, or that
// belongs to something else, is never overwritten silently.
//
// Keys are read and written here and go nowhere else: results carry the
// resourceVersion and public facts (serial, validity, ARI ID, the chain),
// never key material, and errors never quote Secret data.
//
// This package must not import workflows.
package secrets

import (
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
)

// Keys of the target Secret's data. tls.crt, tls.key and ca.crt are the
// kubernetes.io/tls convention; the additional outputs are cert-manager's.
const (
	keyCert     = corev1.TLSCertKey       // tls.crt: the chain, leaf first
	keyKey      = corev1.TLSPrivateKeyKey // tls.key: the private key, PEM
	keyCA       = "ca.crt"
	keyDER      = "key.der"          // additionalOutputFormats DER: the key, DER
	keyCombined = "tls-combined.pem" // additionalOutputFormats CombinedPEM: key then chain

	// PendingKeyDataKey is the entry of the pending key Secret that holds the
	// issuance's private key (PEM).
	PendingKeyDataKey = corev1.TLSPrivateKeyKey
)

// Activities inspects and writes target Secrets.
type Activities struct {
	// Kube reads straight from the API server (not a cache: certflow caches
	// no Secret data) and writes Secrets in the Certificates' namespaces.
	Kube client.Client
	// Certificates reads the Certificates and checks the inputs of their
	// issuances.
	Certificates *certificates.Reader
	// Issuers reads the issuer's retry backoff for the spec.
	Issuers *issuers.Resolver
}

// Bindings are the activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{
		activities.InspectSecret.Bind(a.InspectSecret),
		activities.StoreSecret.Bind(a.StoreSecret),
	}
}

// conflictError refuses to touch a Secret that is not this Certificate's to
// write, or that changed under us: retrying cannot help, a decision can.
func conflictError(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), activities.ErrTypeSecretConflict, nil)
}

// writeError is the error of writing a target Secret (what says which).
func writeError(err error, what string) error {
	return activities.KubeWriteError(err, what, "check the Certificate's secretTemplate and the Secret's other labels and annotations")
}

// owner is the Certificate a Secret is labelled for (activities.SecretOwner);
// labelled is false for an unlabelled Secret.
func owner(s *corev1.Secret) (name string, labelled bool) {
	return activities.SecretOwner(s.Labels, s.Annotations)
}

// ownedBy says whether the Secret is labelled as the Certificate's.
func ownedBy(s *corev1.Secret, cert activities.CertificateRef) bool {
	return activities.SecretOwnedBy(s.Labels, s.Annotations, cert.Name)
}

// labelFor marks the Secret as the Certificate's, with the template's labels
// and annotations and certflow's annotations describing the stored
// certificate. certflow's keys win over the template's, and a template's key
// under certflow's prefix is not copied (the CRD refuses those; a Certificate
// stored before it did may have one); other keys are left as they are.
// revision 0 (an adopted certificate) writes no revision.
func labelFor(s *corev1.Secret, cert activities.CertificateRef, issuer activities.IssuerRef, req activities.Request, leaf *x509.Certificate, revision int) {
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	for k, v := range req.SecretLabels {
		if !strings.HasPrefix(k, activities.KeyPrefix) {
			s.Labels[k] = v
		}
	}
	for k, v := range req.SecretAnnotations {
		if !strings.HasPrefix(k, activities.KeyPrefix) {
			s.Annotations[k] = v
		}
	}
	s.Labels[activities.LabelCertificateName] = activities.CertificateLabelValue(cert.Name)
	delete(s.Labels, activities.LabelPendingKey) // a target Secret is none, and the controller's cache would miss it
	ips := make([]string, len(leaf.IPAddresses))
	for i, ip := range leaf.IPAddresses {
		ips[i] = ip.String()
	}
	ours := map[string]string{
		activities.AnnotationCertificateName: cert.Name,
		activities.AnnotationIssuerName:      issuer.Name,
		activities.AnnotationIssuerKind:      issuer.Kind,
		activities.AnnotationCommonName:      leaf.Subject.CommonName,
		activities.AnnotationAltNames:        strings.Join(leaf.DNSNames, ","),
		activities.AnnotationIPSANs:          strings.Join(ips, ","),
	}
	if revision > 0 {
		ours[activities.AnnotationRevision] = strconv.Itoa(revision)
	}
	for k, v := range ours {
		s.Annotations[k] = v
	}
}
