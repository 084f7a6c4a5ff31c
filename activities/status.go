package activities

import "time"

// The status writes (package activities/status): the workflows decide a
// Certificate's or an issuer's status, these write it, with its Event.
var (
	UpdateCertificateStatus = declare[CertificateStatus, UpdateCertificateStatusResult]("UpdateCertificateStatus")
	UpdateIssuerStatus      = declare[IssuerStatus, UpdateIssuerStatusResult]("UpdateIssuerStatus")
)

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
