package activities

import (
	"fmt"
	"strconv"
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
// watch finds the Certificate a Secret belongs to.
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

// FieldManager is the field manager of certflow's writes to the API server.
// By it the controller tells a target Secret that StoreSecret wrote last (a
// version the workflow knows) from one that someone else changed.
const FieldManager = "certflow"

// PendingKeySecretName is the Secret that holds the private key of the
// issuance in progress for a Certificate, until StoreSecret moves it into the
// target Secret.
func PendingKeySecretName(certificate string) string {
	return certificate + "-certflow-pending-key"
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
