package activities

import "time"

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

// KeySpec is a Certificate's spec.privateKey.
type KeySpec struct {
	Algorithm      string // RSA, ECDSA, Ed25519; empty is RSA
	Size           int    // 0 is the algorithm's default
	Encoding       string // PKCS1 (default) or PKCS8
	RotationPolicy string // Always (default) or Never
}

// Request is the certificate a Certificate asks for: the public part of its spec.
type Request struct {
	CommonName     string
	DNSNames       []string
	IPAddresses    []string
	URIs           []string
	EmailAddresses []string
	Duration       time.Duration // 0: the issuer decides
	IsCA           bool
	Usages         []string
	PrivateKey     KeySpec

	SecretName        string
	SecretLabels      map[string]string
	SecretAnnotations map[string]string
	// AdditionalOutputFormats: DER, CombinedPEM.
	AdditionalOutputFormats []string
}

// Identifiers are the names an ACME order covers: DNS names and IP addresses,
// plus the common name when no SAN repeats it, deduplicated, in request order.
func (r Request) Identifiers() []string {
	var ids []string
	seen := map[string]bool{}
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			ids = append(ids, v)
		}
	}
	add(r.CommonName)
	for _, n := range r.DNSNames {
		add(n)
	}
	for _, ip := range r.IPAddresses {
		add(ip)
	}
	return ids
}

// Issued describes a certificate that is stored or about to be: public data only.
type Issued struct {
	NotBefore time.Time
	NotAfter  time.Time
	Serial    string // hex
	// ARICertID is the RFC 9773 identifier (base64url(AKI).base64url(serial)),
	// empty when the certificate has no AKI.
	ARICertID string
}

// ---- acme ----

// EnsureAccountInput asks for the issuer's ACME account to exist.
type EnsureAccountInput struct {
	Issuer IssuerRef
}

// EnsureAccountResult is the registered account.
type EnsureAccountResult struct {
	AccountURL string
	Server     string
	Email      string
	// KeySHA256 is the hex SHA-256 of the account public key (DER), to notice
	// when the key Secret changes.
	KeySHA256 string
	// Generation of the issuer as read; a workflow started for an older
	// generation stops without writing status.
	Generation int64
}

// BeginOrderInput starts (or finds again) the ACME order of one issuance.
type BeginOrderInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
	// Revision this issuance will produce; with Certificate it names the
	// pending key Secret, which also records the order URL so that a retried
	// BeginOrder finds the order it made instead of creating another.
	Revision int
	// ReplacesCertID is the ARI ID of the certificate being renewed, if any.
	ReplacesCertID string
	// SendBy is when a new order must reach the CA at the latest: its permit
	// from the account limiter plus the margin the limiter's windows allow.
	// Zero: no permit, no limit.
	SendBy time.Time
}

// BeginOrderResult is the order and what must be solved.
type BeginOrderResult struct {
	OrderURL    string
	FinalizeURL string
	Status      string // pending, ready, processing, valid
	// PendingKeySecret holds the private key of this issuance (and the order URL).
	PendingKeySecret string
	// CSR is the certificate request made with the pending key (DER: public
	// data), for Finalize to send.
	CSR []byte
	// Authorizations come with the challenge to solve when pending. A valid
	// one has no challenge, unless the order was begun before (the issuance
	// runs again): then the challenge it was validated with, whose record an
	// earlier attempt may have left, for the Order to remove.
	Authorizations []Authorization
}

// Authorization is one identifier of an order with the challenge chosen for it.
type Authorization struct {
	URL        string
	Identifier string // without "*."
	Wildcard   bool
	Status     string // pending, valid, invalid, ...
	Challenge  Challenge
}

// Challenge is the chosen challenge and how to solve it. For dns-01 the
// record to present; Solver indexes the issuer's spec.acme.solvers.
type Challenge struct {
	Type   string // dns-01 or http-01
	URL    string
	Token  string
	Solver int
	// DNS-01: the TXT record the CA will look up and its value (the key
	// authorization digest: public, it is published in DNS).
	FQDN  string
	Value string
	// ValidateError is the CA's error for an invalid challenge.
	ValidateError string
}

// ValidateInput asks the CA to check the pending challenges and waits until
// every authorization is valid or one is invalid.
type ValidateInput struct {
	StepProgress
	Issuer         IssuerRef
	Authorizations []Authorization
}

// ValidateResult carries the authorizations in their final states.
type ValidateResult struct {
	Authorizations []Authorization
}

// FinalizeInput sends the CSR made from the pending key and fetches the chain.
type FinalizeInput struct {
	StepProgress
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
	OrderURL    string
	FinalizeURL string
	// CSR is BeginOrder's request. Orders begun before it was passed on have
	// none: Finalize then makes one from the key in PendingKeySecret.
	CSR              []byte
	PendingKeySecret string
}

// FinalizeResult is the issued chain (PEM, leaf first) and what it says.
type FinalizeResult struct {
	ChainPEM string
	// CAPEM is the root of the chain when the CA provides it, for ca.crt.
	CAPEM  string
	Issued Issued
}

// RenewalInfoInput asks the CA's ARI endpoint about a certificate.
type RenewalInfoInput struct {
	Issuer    IssuerRef
	ARICertID string
}

// RenewalInfoResult is the suggested window, if the CA offers ARI.
type RenewalInfoResult struct {
	Supported      bool
	WindowStart    time.Time
	WindowEnd      time.Time
	ExplanationURL string
	RetryAfter     time.Duration
}

// ---- challenges ----

// PresentInput publishes the DNS-01 records of the authorizations still pending.
type PresentInput struct {
	StepProgress
	Certificate    CertificateRef
	Issuer         IssuerRef
	Authorizations []Authorization
}

// PresentedRecord is one record as published: what cleanup needs.
type PresentedRecord struct {
	FQDN   string // as asked by the CA (before CNAME following)
	Value  string
	Zone   string
	Solver int
}

// PresentResult lists the records published.
type PresentResult struct {
	Records []PresentedRecord
}

// WaitPropagationInput waits until every record is visible on its zone's
// authoritative nameservers. It heartbeats while it polls.
type WaitPropagationInput struct {
	StepProgress
	Issuer  IssuerRef
	Records []PresentedRecord
	// LookFor, when set, makes it a quick look: it checks for at most this
	// long and says in the result whether every record was visible, instead
	// of waiting until they are.
	LookFor time.Duration
}

// WaitPropagationResult says how long it took, and whether every record was
// visible (always, unless the input's LookFor ended the look first).
type WaitPropagationResult struct {
	Checks  int
	Elapsed time.Duration
	Visible bool
}

// CleanUpChallengesInput removes the published records. It runs always, even
// when the issuance failed or was cancelled.
type CleanUpChallengesInput struct {
	Issuer  IssuerRef
	Records []PresentedRecord
}

// CleanUpChallengesResult is empty; errors are returned.
type CleanUpChallengesResult struct{}

// ---- secrets ----

// InspectSecretInput looks at the Certificate's target Secret.
type InspectSecretInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
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

// InspectSecretResult tells the workflow what to do with the Secret.
type InspectSecretResult struct {
	State SecretState
	// Reason explains the state for status and Events.
	Reason string
	// ResourceVersion of the Secret as inspected; empty when missing.
	ResourceVersion string
	// Issued describes the stored certificate when there is a readable one.
	Issued *Issued
	// Adopted is true when the Secret was not labelled as certflow's but its
	// certificate matches the request (cert-manager migration): it has now
	// been labelled as this Certificate's.
	Adopted bool
}

// StoreSecretInput writes the issued certificate and the pending key into the
// target Secret, then deletes the pending key Secret.
type StoreSecretInput struct {
	StepProgress
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
}

// StoreSecretResult is the written Secret's version.
type StoreSecretResult struct {
	ResourceVersion string
}

// ---- status ----

// Condition is a status condition as the workflow decides it.
type Condition struct {
	Type    string // Ready, Issuing
	Status  string // True, False, Unknown
	Reason  string
	Message string
	// LastTransitionTime is when Status last changed, as the workflow saw
	// it; zero is the time of the write.
	LastTransitionTime time.Time
}

// CertificateStatus is the whole status the workflow wants written. Zero
// times are written as unset.
type CertificateStatus struct {
	Certificate        CertificateRef
	ObservedGeneration int64
	Conditions         []Condition
	NotBefore          time.Time
	NotAfter           time.Time
	RenewalTime        time.Time
	Revision           int
	LastFailureTime    time.Time
	FailedAttempts     int
	NextAttemptTime    time.Time
	NextAttemptReason  string
	Step               string
	Authorizations     []Authorization
	WorkflowID         string
	IssuedBy           string
	// Event, when set, is also recorded as a Kubernetes Event on the Certificate.
	Event *Event
}

// Event is a Kubernetes Event to record.
type Event struct {
	Type    string // Normal or Warning
	Reason  string
	Message string
}

// UpdateCertificateStatusResult is empty.
type UpdateCertificateStatusResult struct{}

// IssuerStatus is an issuer's status as its workflow decides it.
type IssuerStatus struct {
	Issuer     IssuerRef
	Generation int64
	Ready      Condition
	AccountURL string
	Email      string
	KeySHA256  string
	Event      *Event
}

// UpdateIssuerStatusResult is empty.
type UpdateIssuerStatusResult struct{}

// ---- permits ----

// RequestPermitInput asks the issuer's account limiter for a permit to create
// a new order. The limiter answers with a SignalPermit to the requester run.
type RequestPermitInput struct {
	Issuer              IssuerRef
	RequesterWorkflowID string
	RequesterRunID      string
	// Names are the order's identifiers (Request.Identifiers).
	Names []string
	// Replaces is true for an ARI renewal that sends "replaces".
	Replaces bool
	// Attempt is PermitRequest.Attempt.
	Attempt int
}

// RequestPermitResult says whether an answer will come.
type RequestPermitResult struct {
	// Unlimited is true when the issuer has no budgets (it is not an ACME
	// issuer): no limiter was asked, no SignalPermit will come.
	Unlimited bool
	// LimiterWorkflowID and LimiterRunID name the limiter run that was asked.
	LimiterWorkflowID string
	LimiterRunID      string
	// Limits are the budgets the request was made with.
	Limits RateLimits
}

// ReportRateLimitInput tells the issuer's account limiter that the CA refused
// an order for Names with a rate limit, asking to wait until Until.
type ReportRateLimitInput struct {
	Issuer IssuerRef
	Until  time.Time
	// Detail is the CA's problem detail: it says what the limit is on.
	Detail string
	// Names are the refused order's identifiers (Request.Identifiers).
	Names []string
}

// ReportRateLimitResult is empty.
type ReportRateLimitResult struct{}

// StepProgress is embedded in the input of a step that may take a while: the
// status to write to the Certificate if the step is still running after a
// moment (the worker's progress interceptor writes it). A step that waits
// (for DNS, for the CA) shows in status without a status write for every
// step of every issuance.
type StepProgress struct {
	// ProgressStatus is the status with this step; nil writes nothing.
	ProgressStatus *CertificateStatus `json:",omitempty"`
}

// Progress is the status to write while the step runs.
func (p StepProgress) Progress() *CertificateStatus { return p.ProgressStatus }

// ProgressReporter is an activity input with a status to write while the
// activity runs.
type ProgressReporter interface {
	Progress() *CertificateStatus
}
