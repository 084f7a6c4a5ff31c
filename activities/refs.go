package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// CertificateRef names a Certificate.
type CertificateRef struct {
	Namespace string
	Name      string
}

func (r CertificateRef) String() string { return r.Namespace + "/" + r.Name }

// IssuerRef names an Issuer (Kind "Issuer", in Namespace) or a ClusterIssuer
// (Kind "ClusterIssuer", Namespace empty).
type IssuerRef struct {
	Kind      string
	Namespace string
	Name      string
}

func (r IssuerRef) String() string { return r.Kind + "/" + r.Name }

// Workflow IDs begin with the name of the cluster whose objects the
// workflow serves, so that clusters can share a Temporal namespace without
// touching each other's workflows (they need task queues of their own too).

// CertificateWorkflowID is the ID of the workflow that owns one Certificate's
// life: "<cluster>/certificate/<namespace>/<name>".
func CertificateWorkflowID(cluster string, cert CertificateRef) string {
	return cluster + "/certificate/" + cert.Namespace + "/" + cert.Name
}

// OrderWorkflowID is the ID of one issuance attempt, a child of the
// Certificate's workflow: its ID, the revision it issues and the attempt at it.
func OrderWorkflowID(certificateWorkflowID string, revision, attempt int) string {
	return certificateWorkflowID + "/order/" + strconv.Itoa(revision) + "/" + strconv.Itoa(attempt)
}

// IssuerWorkflowID is the ID of the workflow that registers an issuer's ACME
// account for one generation of one object (uid: an issuer deleted and made
// again under its name starts at generation 1 anew):
// "<cluster>/issuer/<kind>/<namespace>/<name>/<uid>/<generation>" (namespace
// empty for a ClusterIssuer).
func IssuerWorkflowID(cluster string, ref IssuerRef, uid string, generation int64) string {
	return cluster + "/issuer/" + ref.Kind + "/" + ref.Namespace + "/" + ref.Name + "/" + uid + "/" + strconv.FormatInt(generation, 10)
}

// Labels and annotations certflow puts on the Secrets it writes. The
// certificate-name label is also how the controller's metadata-only Secret
// watch finds the Certificate a Secret belongs to; its value is
// CertificateLabelValue of the name, and the annotation of the same key holds
// the name itself.
const (
	LabelCertificateName = "certflow.dev/certificate-name"
	// LabelPendingKey marks a pending key Secret (value "true").
	LabelPendingKey = "certflow.dev/pending-key"

	AnnotationCertificateName = "certflow.dev/certificate-name"
	AnnotationIssuerName      = "certflow.dev/issuer-name"
	AnnotationIssuerKind      = "certflow.dev/issuer-kind"
	AnnotationCommonName      = "certflow.dev/common-name"
	AnnotationAltNames        = "certflow.dev/alt-names"
	AnnotationIPSANs          = "certflow.dev/ip-sans"
	AnnotationRevision        = "certflow.dev/revision"
	// AnnotationOrderURL on a pending key Secret records the ACME order of
	// that issuance, so a retried BeginOrder finds it; on the target Secret,
	// the order of the stored certificate, so a BeginOrder of the same
	// revision run again after the store finds it.
	AnnotationOrderURL = "certflow.dev/order-url"
)

// KeyPrefix begins every label and annotation key certflow owns. A
// Certificate's secretTemplate may not use it (the CRD refuses it, and
// StoreSecret skips such keys of Certificates stored before it did): a
// template's certflow.dev/pending-key would hide the target Secret from the
// controller's cache, its certflow.dev/certificate-name would give the
// Secret to another Certificate.
const KeyPrefix = "certflow.dev/"

// hashedLabelPrefix is how much of a name CertificateLabelValue keeps before
// the hash: 30 characters, "-" and 32 hex digits (128 bits of SHA-256) make
// the 63 characters a label value may have.
const (
	hashedLabelPrefix = 30
	hashedLabelDigits = 32
)

// CertificateLabelValue is the value of LabelCertificateName for the
// Certificate of that name. A label value has at most 63 characters and an
// object name up to 253, so a name that is not a valid label value is not
// used as one (the API server would refuse the Secret): it becomes its first
// characters, "-" and a hash of the whole name. A name that is a valid label
// value is the value itself, so Secrets labelled before the hash existed
// still match. The hashed form is one-way: whoever needs the name reads
// AnnotationCertificateName (SecretOwner).
func CertificateLabelValue(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < hashedLabelPrefix; i++ {
		// A label value begins with a letter or digit and holds only
		// those, '-', '_' and '.'; an object name holds nothing else.
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			b.WriteByte(c)
		case (c == '-' || c == '_' || c == '.') && b.Len() > 0:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 {
		b.WriteByte('-')
	}
	b.WriteString(hex.EncodeToString(sum[:])[:hashedLabelDigits])
	return b.String()
}

// SecretOwner is the Certificate whose Secret (target or pending key) these
// labels and annotations mark: AnnotationCertificateName when it agrees with
// the label, else the label's value (a Secret labelled before certflow wrote
// the annotation, whose label is the name). ok is false for a Secret without
// the label.
func SecretOwner(labels, annotations map[string]string) (name string, ok bool) {
	label, ok := labels[LabelCertificateName]
	if !ok {
		return "", false
	}
	if full, has := annotations[AnnotationCertificateName]; has && CertificateLabelValue(full) == label {
		return full, true
	}
	return label, true
}

// SecretOwnedBy says whether these labels and annotations mark a Secret as
// the named Certificate's: the label is CertificateLabelValue of the name,
// and the annotation is the name. certflow writes both; the annotation is
// what keeps a Certificate whose name equals another's hashed label from
// claiming that one's Secrets. A Secret labelled before certflow wrote the
// annotation has only the label, which is then the name itself.
func SecretOwnedBy(labels, annotations map[string]string, certificate string) bool {
	label, ok := labels[LabelCertificateName]
	if !ok || label != CertificateLabelValue(certificate) {
		return false
	}
	if full, annotated := annotations[AnnotationCertificateName]; annotated {
		return full == certificate
	}
	return label == certificate
}

// FieldManager is the field manager of certflow's writes to the API server.
// By it the controller tells a target Secret that StoreSecret wrote last (a
// version the workflow knows) from one that someone else changed.
const FieldManager = "certflow"

// pendingKeySuffix ends the name of every pending key Secret.
const pendingKeySuffix = "-certflow-pending-key"

// PendingKeySecretName is the Secret that holds the private key of the
// issuance in progress for a Certificate, until StoreSecret moves it into the
// target Secret: "<certificate>-certflow-pending-key". A Secret's name has at
// most 253 characters, as the Certificate's has: for a name too long to take
// the suffix, the name is cut and a hash of all of it keeps it apart from
// other names cut the same way.
func PendingKeySecretName(certificate string) string {
	if len(certificate)+len(pendingKeySuffix) <= validation.DNS1123SubdomainMaxLength {
		return certificate + pendingKeySuffix
	}
	sum := sha256.Sum256([]byte(certificate))
	hash := "-" + hex.EncodeToString(sum[:])[:hashedLabelDigits]
	// A name part may not end in '-' or '.' next to the hash's '-'.
	prefix := strings.TrimRight(certificate[:validation.DNS1123SubdomainMaxLength-len(pendingKeySuffix)-len(hash)], "-.")
	return prefix + hash + pendingKeySuffix
}

// Issuer kinds and the API group of certflow's issuers. An issuer reference
// in cert-manager's group is read as certflow's, so that a cert-manager
// manifest ports by changing its apiVersion alone.
const (
	KindIssuer        = "Issuer"
	KindClusterIssuer = "ClusterIssuer"
	groupCertflow     = "certflow.dev"
	groupCertManager  = "cert-manager.io"
)

// ResolveIssuerRef resolves an issuer reference (a Certificate's issuerRef,
// group, kind and name) made in namespace: an Issuer in that namespace, or a
// ClusterIssuer. An empty kind is an Issuer, as in cert-manager.
func ResolveIssuerRef(namespace, group, kind, name string) (IssuerRef, error) {
	switch group {
	case "", groupCertflow, groupCertManager:
	default:
		return IssuerRef{}, fmt.Errorf("issuerRef.group %q is not served by certflow: use %s", group, groupCertflow)
	}
	switch kind {
	case "", KindIssuer:
		return IssuerRef{Kind: KindIssuer, Namespace: namespace, Name: name}, nil
	case KindClusterIssuer:
		return IssuerRef{Kind: KindClusterIssuer, Name: name}, nil
	}
	return IssuerRef{}, fmt.Errorf("issuerRef.kind %q is neither %s nor %s", kind, KindIssuer, KindClusterIssuer)
}
