package workflows

import (
	"time"

	"github.com/certflow/certflow/activities"
)

// SpecChanged is the value of SignalSpec: the controller saw a new generation
// of the Certificate or a new version of its target Secret. It is a hint to
// look again; the workflow reads what changed from the API server.
type SpecChanged struct {
	Generation            int64
	SecretResourceVersion string
	// SearchAttributes: the Temporal namespace has certflow's search
	// attributes (listing.go), so the workflow may set them.
	SearchAttributes bool `json:",omitempty"`
	// ConfigVersion names the version of the issuer and of the Secrets it
	// and the Certificate's keystores read, sent while the Certificate waits
	// for its configuration to change (NextAttemptReason
	// ConfigurationChange): a new one is a change, and the next attempt
	// starts at once.
	ConfigVersion string `json:",omitempty"`
}

// CertificateInput starts (and continues) a Certificate workflow.
type CertificateInput struct {
	Certificate activities.CertificateRef
	// Spec is the Certificate's spec as the last run read it (zero on the
	// first start): each run reads it again from the API server.
	Spec activities.CertificateSpec
	// State is carried across continue-as-new; zero on the first start.
	State CertificateState
	// InlineOrders: the run makes its issuance attempt itself, the Order's
	// steps in its own history, rather than in an Order child workflow as
	// the runs of v0.1.0 did. The controller starts runs so, and every run
	// continues as new so; histories recorded before replay as they ran.
	InlineOrders bool `json:",omitempty"`
	// Heard is the controller's hint a run is started with, as if it had
	// come by the spec signal with the start: an eager start carries it in
	// the input (SignalWithStart sends it as the signal).
	Heard *SpecChanged `json:",omitempty"`
}

// CertificateState is what a Certificate workflow remembers between cycles.
type CertificateState struct {
	// Revision of the stored certificate (0: none issued by certflow yet).
	Revision int
	// Issued describes the stored certificate; nil when there is none.
	Issued *activities.Issued
	// IssuedBy is the issuer of the stored certificate; zero when certflow
	// did not issue it (an adopted Secret).
	IssuedBy activities.IssuerRef
	// SecretVersion is the target Secret's resourceVersion after our last
	// write or inspection.
	SecretVersion string
	// ForceRenewal asks the next cycle to issue whatever the Secret holds.
	ForceRenewal bool
	// Renewed: a user asked for the renewal (SignalRenew), so its order's
	// permit is forced (PermitRequest.Forced).
	Renewed bool `json:",omitempty"`
	// Failure bookkeeping for backoff; reset by a successful issuance.
	// FailedStep is the step of the Order the last attempt failed in, and
	// FailureReason its condition reason.
	FailedAttempts    int
	LastFailureTime   time.Time
	LastFailure       string
	FailedStep        string `json:",omitempty"`
	FailureReason     string `json:",omitempty"`
	NextAttemptTime   time.Time
	NextAttemptReason string
	// Blocked is set while the Secret belongs to something else: no issuance
	// until the spec or the Secret changes.
	Blocked string
	// IssuerIndex is the issuer being tried: 0 the spec's, i the spec's
	// FallbackIssuers[i-1]. RateLimitedSince is when that issuer first
	// answered with a rate limit in a row of attempts.
	IssuerIndex      int
	RateLimitedSince time.Time
	// Conditions are the status conditions as last written, so that the
	// next run keeps their transition times.
	Conditions []activities.Condition
	// SearchAttributes: the workflow sets its search attributes and memo
	// (the controller says so in its spec signal), and Listed is what it
	// set last.
	SearchAttributes bool     `json:",omitempty"`
	Listed           *Listing `json:",omitempty"`
	// ConfigVersion is the last SpecChanged.ConfigVersion heard.
	ConfigVersion string `json:",omitempty"`
}

// IssuerInput starts an Issuer workflow.
type IssuerInput struct {
	Issuer     activities.IssuerRef
	Generation int64
	// Type is the issuer's (activities.IssuerType*); empty, as v0.1.0
	// started them, is ACME.
	Type string `json:",omitempty"`
}

// OrderInput is one issuance attempt, run as a child of the Certificate workflow.
type OrderInput struct {
	Certificate    activities.CertificateRef
	Issuer         activities.IssuerRef
	Request        activities.Request
	Revision       int
	ReplacesCertID string
	// SecretVersion guards the Secret write (see StoreSecretInput).
	SecretVersion string
	// Attempt counts the attempts at this revision, for the child's ID.
	Attempt int
	// Forced: a user asked for this attempt (renew); its permit waits only
	// for the CA's own blocks, not for certflow's budgets.
	Forced bool `json:",omitempty"`
	// Status is the Certificate's status when the order starts, which the
	// order writes with its step when it starts and when it waits.
	Status activities.CertificateStatus
}

// OrderResult is the stored certificate.
type OrderResult struct {
	Issued        activities.Issued
	ChainPEM      string
	SecretVersion string
}
