package workflows

import (
	"time"

	"github.com/certflow/certflow/activities"
)

// CertificateSpec is the controller's snapshot of a Certificate: the
// workflow's own input type, not the CRD type, so CRD changes do not break
// running histories.
type CertificateSpec struct {
	// Generation of the Certificate this snapshot was taken from. The workflow
	// ignores a snapshot older than the one it has.
	Generation            int64
	Issuer                activities.IssuerRef
	Request               activities.Request
	RenewBefore           time.Duration
	RenewBeforePercentage int
	// FallbackIssuers are tried in order when Issuer fails permanently or
	// stays rate limited longer than FallbackAfter (default 1h).
	FallbackIssuers []activities.IssuerRef
	FallbackAfter   time.Duration
	// Backoff between failed attempts; zero fields take the defaults.
	Backoff Backoff
	// SecretResourceVersion is the target Secret's resourceVersion as the
	// controller last saw it, "" when it does not exist. A value the workflow
	// did not write itself makes it look at the Secret again.
	SecretResourceVersion string
}

// Backoff is the wait between failed issuance attempts: Initial after the
// first, doubling, at most Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// CertificateInput starts (and continues) a Certificate workflow.
type CertificateInput struct {
	Certificate activities.CertificateRef
	Spec        CertificateSpec
	// State is carried across continue-as-new; zero on the first start.
	State CertificateState
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
	// Failure bookkeeping for backoff; reset by a successful issuance.
	FailedAttempts    int
	LastFailureTime   time.Time
	LastFailure       string
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
}

// IssuerInput starts an Issuer workflow.
type IssuerInput struct {
	Issuer     activities.IssuerRef
	Generation int64
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
