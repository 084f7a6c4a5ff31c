package activities

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
