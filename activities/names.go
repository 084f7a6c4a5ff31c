package activities

// Registered activity names. They are API: a running workflow history refers
// to them, so they never change.
const (
	// acme
	EnsureAccountName = "EnsureAccount"
	BeginOrderName    = "BeginOrder"
	ValidateName      = "Validate"
	FinalizeName      = "Finalize"
	RenewalInfoName   = "RenewalInfo"

	// challenges
	PresentName           = "Present"
	WaitPropagationName   = "WaitPropagation"
	CleanUpChallengesName = "CleanUpChallenges"

	// secrets
	InspectSecretName = "InspectSecret"
	StoreSecretName   = "StoreSecret"

	// status
	UpdateCertificateStatusName = "UpdateCertificateStatus"
	UpdateIssuerStatusName      = "UpdateIssuerStatus"
)

// permits: the account limiter's new-order permits.
const (
	RequestPermitName   = "RequestPermit"
	ReportRateLimitName = "ReportRateLimit"
)
