package activities

// The target Secret's steps (package activities/secrets): InspectSecret says
// what the Secret holds, StoreSecret writes an issued certificate into it.
var (
	InspectSecret = declare[InspectSecretInput, InspectSecretResult]("InspectSecret")
	StoreSecret   = declare[StoreSecretInput, StoreSecretResult]("StoreSecret")
)

// InspectSecretInput reads the Certificate's spec and looks at its target
// Secret.
type InspectSecretInput struct {
	Certificate CertificateRef
	// Generation is the Certificate's generation as the workflow last heard
	// of it: a cache that has an older one is not read.
	Generation int64
}

// SecretState is what InspectSecret found.
type SecretState string

// States of the target Secret.
const (
	SecretMissing    SecretState = "Missing"    // no Secret of that name
	SecretCurrent    SecretState = "Current"    // ours (or adoptable), valid, matches the request
	SecretMismatched SecretState = "Mismatched" // ours, but its certificate no longer matches the request
	SecretForeign    SecretState = "Foreign"    // someone else's (not made by certflow), not adoptable
	SecretConflict   SecretState = "Conflict"   // made by certflow for another Certificate
	SecretInvalid    SecretState = "Invalid"    // ours, but unreadable or its key does not match
)

// InspectSecretResult tells the workflow what the Certificate asks for and
// what to do with the Secret.
type InspectSecretResult struct {
	// Spec is the Certificate's spec as the API server has it; nil when the
	// Certificate does not exist (its workflow ends).
	Spec  *CertificateSpec
	State SecretState
	// Reason explains the state for status and Events.
	Reason string
	// ResourceVersion of the Secret as inspected; empty when missing.
	ResourceVersion string
	// Issued describes the stored certificate when there is a readable one.
	Issued *Issued
	// Revision is the issuance of this Certificate the Secret stores (its
	// revision annotation); 0 when none. It is ahead of the workflow's when
	// a workflow task that stored it was lost and runs again.
	Revision int
	// Adopted is true when the Secret was not labelled as certflow's but its
	// certificate matches the request (cert-manager migration): it has now
	// been labelled as this Certificate's.
	Adopted bool
}

// StoreSecretInput writes the issued certificate and the pending key into the
// target Secret, then deletes the pending key Secret.
type StoreSecretInput struct {
	Certificate      CertificateRef
	Issuer           IssuerRef
	Request          Request
	PendingKeySecret string
	ChainPEM         string
	CAPEM            string
	Revision         int
	// OrderURL is the ACME order that issued the chain, recorded on the
	// Secret: BeginOrder run again for the same revision finds it there.
	OrderURL string
	// ExpectResourceVersion guards the write: when the Secret exists and is not
	// at this version, someone changed it since InspectSecret and the store
	// fails (non-retryable) instead of overwriting. Empty means "must not exist
	// or must be ours".
	ExpectResourceVersion string
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
}

// StoreSecretResult is the written Secret's version.
type StoreSecretResult struct {
	ResourceVersion string
}
