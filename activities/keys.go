package activities

// EnsurePendingKey makes sure an issuance has its private key (package
// activities/keys), whatever kind its issuer is, and checks first that the
// issuance can go ahead: the issuer serves every name, and the target
// Secret may be written. It runs before anything counts against a CA's
// budget, so that a permit is spent within moments of its grant.
var EnsurePendingKey = declare[EnsurePendingKeyInput, EnsurePendingKeyResult]("EnsurePendingKey")

// EnsurePendingKeyInput names the issuance.
type EnsurePendingKeyInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
	// Revision this issuance will produce: it names the key, so that a
	// retry finds the key an earlier attempt made.
	Revision int
	// NoTarget says that the attempt found no target Secret when it
	// inspected it: the step does not read it again (StoreSecret refuses a
	// Secret made since that is not the Certificate's).
	NoTarget bool `json:",omitempty"`
	// FirstAttempt says that no earlier attempt of this revision made a
	// pending key: the step makes one and creates its Secret without
	// reading first. A Secret that exists after all (a lost workflow task
	// ran the step before) is read then, and its key kept.
	FirstAttempt bool `json:",omitempty"`
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
}

// EnsurePendingKeyResult is the key of the issuance as public data.
type EnsurePendingKeyResult struct {
	// Secret is the pending key Secret, in the Certificate's namespace.
	Secret string
	// PublicKeySHA256 is the hex SHA-256 of the public key (PKIX DER).
	PublicKeySHA256 string
	// CSR is the certificate request signed with the key (DER).
	CSR []byte
	// IssuerType is the kind of issuer that issues it (IssuerTypeACME), which
	// decides the steps that follow.
	IssuerType string
}

// Issuer types: the section of an issuer's spec that is set.
const (
	IssuerTypeACME       = "ACME"
	IssuerTypeCA         = "CA"
	IssuerTypeSelfSigned = "SelfSigned"
	IssuerTypeVault      = "Vault"
)
