package activities

import "time"

// The ACME steps of an issuance (package activities/issuers/acme). An ACME
// issuer's account is registered by EnsureAccount; each issuance then begins
// its order, has its challenges validated, and finalizes it with the CSR of
// its pending key. RenewalInfo asks the CA when to renew (ARI).
var (
	EnsureAccount = declare[EnsureAccountInput, EnsureAccountResult]("EnsureAccount")
	BeginOrder    = declare[BeginOrderInput, BeginOrderResult]("BeginOrder")
	Validate      = declare[ValidateInput, ValidateResult]("Validate")
	Finalize      = declare[FinalizeInput, FinalizeResult]("Finalize")
	RenewalInfo   = declare[RenewalInfoInput, RenewalInfoResult]("RenewalInfo")
)

// EnsureAccountInput asks for the issuer's ACME account to exist.
type EnsureAccountInput struct {
	Issuer IssuerRef
	// Generation is the issuer's generation the workflow registers for: an
	// issuer changed since is left to its newer generation's workflow.
	Generation int64
}

// EnsureAccountResult is the registered account.
type EnsureAccountResult struct {
	AccountURL string
	Server     string
	Email      string
	// KeySHA256 is the hex SHA-256 of the account public key (DER), to notice
	// when the key Secret changes.
	KeySHA256 string
	// Generation of the issuer as read; when it is newer than the input's,
	// nothing was registered and the workflow stops without writing status.
	Generation int64
}

// BeginOrderInput starts (or finds again) the ACME order of one issuance,
// whose pending key EnsurePendingKey made.
type BeginOrderInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
	// Revision this issuance will produce: its pending key Secret records
	// the order, so that BeginOrder run again finds it instead of ordering
	// again.
	Revision int
	// ReplacesCertID is the ARI ID of the certificate being renewed, if any.
	ReplacesCertID string
	// SendBy is when a new order must reach the CA at the latest: its permit
	// from the account limiter plus the margin the limiter's windows allow.
	// Zero: no permit, no limit.
	SendBy time.Time
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
}

// BeginOrderResult is the order and what must be solved.
type BeginOrderResult struct {
	OrderURL    string
	FinalizeURL string
	Status      string // pending, ready, processing, valid
	// NewOrder says that this call made the order at the CA: its permit was
	// spent. An order found again spent none.
	NewOrder bool
	// Authorizations come with the challenge to solve when pending. A valid
	// one has no challenge, unless the order was begun before (the issuance
	// runs again): then the challenge it was validated with, whose response
	// an earlier attempt may have left, for the Order to remove.
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

// Name is the name the authorization is for, as a request names it: with
// "*." for a wildcard.
func (a Authorization) Name() string { return name(a.Identifier, a.Wildcard) }

func name(identifier string, wildcard bool) string {
	if wildcard {
		return "*." + identifier
	}
	return identifier
}

// Challenge is the chosen challenge and how to solve it. Solver indexes the
// issuer's spec.acme.solvers. Everything here is public: the CA publishes
// the token, and the response is put where anyone can read it.
type Challenge struct {
	Type   string // dns-01 or http-01
	URL    string
	Token  string
	Solver int
	// FQDN is where a dns-01 response goes: the TXT record the CA looks up.
	FQDN string
	// Value is the response: for dns-01 the key authorization's digest, for
	// http-01 the key authorization.
	Value string
	// KeyAuthorization is, for dns-01, the key authorization whose digest
	// Value is: public (http-01 serves it), and needed by providers that
	// compute the digest themselves (lego's).
	KeyAuthorization string `json:",omitempty"`
	// ValidateError is the CA's error for an invalid challenge.
	ValidateError string
}

// ValidateInput asks the CA to check the pending challenges and waits until
// every authorization is valid or one is invalid.
type ValidateInput struct {
	Certificate    CertificateRef
	Issuer         IssuerRef
	Authorizations []Authorization
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
}

// ValidateResult carries the authorizations in their final states.
type ValidateResult struct {
	Authorizations []Authorization
}

// FinalizeInput sends the pending key's CSR and fetches the chain.
type FinalizeInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	Request     Request
	OrderURL    string
	FinalizeURL string
	// CSR is EnsurePendingKey's request (DER: public data).
	CSR []byte
	// Status is the attempt's status, which the worker writes with this
	// step when the step takes a while (InProgress).
	Status *CertificateStatus `json:",omitempty"`
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
