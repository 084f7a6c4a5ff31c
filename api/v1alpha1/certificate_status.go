package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CertificateStatus tells the whole story of a Certificate without a ladder of other
// objects: whether it is ready, what the stored certificate is, when it renews, what the
// workflow is doing now, each authorization's state, and when and why the next attempt comes.
// The Certificate workflow is its only writer.
type CertificateStatus struct {
	// Conditions Ready and Issuing, with reasons from the Reason constants.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// When the stored certificate becomes valid.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`

	// When the stored certificate expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`

	// When certflow will next renew the certificate. Unset when no renewal is scheduled.
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`

	// Issuance count: 1 for the first certificate, one more for each issuance after it.
	// +optional
	Revision *int `json:"revision,omitempty"`

	// When the latest issuance attempt failed; unset once an issuance succeeds.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// Failed issuance attempts in a row; unset once an issuance succeeds.
	// +optional
	FailedIssuanceAttempts *int `json:"failedIssuanceAttempts,omitempty"`

	// When the next issuance attempt starts, after a failure or a rate limit.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`

	// Why the next attempt waits until nextAttemptTime: Backoff after a failure,
	// RateLimited when the CA said so (the wait is then the CA's Retry-After), or
	// ConfigurationChange after a configuration error (the wait ends sooner when the
	// issuer or a Secret it reads changes).
	// +optional
	NextAttemptReason string `json:"nextAttemptReason,omitempty"`

	// What the running issuance is doing: ordering, presenting, propagating, validating,
	// finalizing or storing. Empty when no issuance runs.
	// +optional
	Step IssuanceStep `json:"step,omitempty"`

	// The authorizations of the running ACME order, one per identifier.
	// +optional
	// +listType=atomic
	Authorizations []AuthorizationStatus `json:"authorizations,omitempty"`

	// ID of the Temporal workflow that manages this Certificate: certificate/<namespace>/<name>.
	// +optional
	WorkflowID string `json:"workflowID,omitempty"`

	// Link to the workflow in the Temporal Web UI, when certflow knows the UI's address.
	// +optional
	WorkflowURL string `json:"workflowURL,omitempty"`

	// Which issuer signed the stored certificate, as Kind/name (ClusterIssuer/letsencrypt).
	// +optional
	IssuedBy string `json:"issuedBy,omitempty"`

	// The metadata.generation this status was written for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// AuthorizationStatus is one ACME authorization of the running order and its challenge.
type AuthorizationStatus struct {
	// The identifier being authorized, without a wildcard prefix (example.com for *.example.com).
	Identifier string `json:"identifier"`

	// Whether the authorization is for a wildcard name.
	// +optional
	Wildcard bool `json:"wildcard,omitempty"`

	// The authorization's state as the CA reports it: pending, valid, invalid, deactivated,
	// expired or revoked.
	// +optional
	State string `json:"state,omitempty"`

	// The challenge being solved: http-01 or dns-01.
	// +optional
	ChallengeType string `json:"challengeType,omitempty"`

	// What is happening or went wrong, for example the CA's error for an invalid challenge.
	// +optional
	Message string `json:"message,omitempty"`
}

// IssuanceStep is a step of an issuance.
type IssuanceStep string

// Issuance steps, in order.
const (
	StepOrdering    IssuanceStep = "ordering"    // creating the ACME order (or the CSR for other issuers)
	StepPresenting  IssuanceStep = "presenting"  // publishing DNS-01 records or HTTP-01 tokens
	StepPropagating IssuanceStep = "propagating" // waiting until the record or token is visible
	StepValidating  IssuanceStep = "validating"  // the CA checks the challenges
	StepFinalizing  IssuanceStep = "finalizing"  // sending the CSR and fetching the chain
	StepStoring     IssuanceStep = "storing"     // writing the Secret
)

// Condition types of a Certificate.
const (
	// ConditionReady is True while the Secret holds a valid certificate that matches the spec.
	ConditionReady = "Ready"
	// ConditionIssuing is True while an issuance is in progress.
	ConditionIssuing = "Issuing"
)

// Reasons of Certificate (and Issuer) conditions.
const (
	ReasonIssued         = "Issued"         // Ready=True: the certificate is stored and valid
	ReasonIssuing        = "Issuing"        // Issuing=True: first issuance or a spec change
	ReasonRenewing       = "Renewing"       // Issuing=True: renewal time reached or renewal forced
	ReasonPending        = "Pending"        // Ready=False: not issued yet
	ReasonExpired        = "Expired"        // Ready=False: the stored certificate has expired
	ReasonIssuerNotFound = "IssuerNotFound" // the referenced Issuer or ClusterIssuer does not exist
	ReasonIssuerNotReady = "IssuerNotReady" // the issuer exists but is not Ready
	ReasonFailed         = "Failed"         // the latest attempt failed; see the message and nextAttemptTime
	ReasonRateLimited    = "RateLimited"    // the CA refused with a rate limit; retry after nextAttemptTime
	ReasonSecretConflict = "SecretConflict" // the target Secret belongs to something else
	ReasonFallingBack    = "FallingBack"    // Issuing=True: an issuer failed, the next fallback issuer is tried

	// The latest attempt failed on a configuration a user must fix; see the message.
	ReasonDNSZoneNotServed = "DNSZoneNotServed" // the DNS server or account does not serve the record's zone
	ReasonDNSAuthFailed    = "DNSAuthFailed"    // the DNS service refuses the solver's credentials
	ReasonNoSolver         = "NoSolver"         // no solver of the issuer covers a name
	ReasonCAAForbidden     = "CAAForbidden"     // a name's CAA records do not allow the issuer's CA
)

// Values of status.nextAttemptReason.
const (
	NextAttemptBackoff     = "Backoff"
	NextAttemptRateLimited = "RateLimited"
	// The latest attempt failed on the configuration: the next one starts when
	// the issuer or a Secret it reads changes, or at nextAttemptTime.
	NextAttemptConfigurationChange = "ConfigurationChange"
)
