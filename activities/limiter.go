package activities

import (
	"time"
)

// The account limiter's API, in one place: its workflow name, ID, task queue
// and input, its update, signals and their values, and the activities that
// start and ask it (package activities/permits). Both sides use them: the
// permits activities start and ask the limiter, the limiter (package
// workflows) answers, and the Order takes or waits for the answer. Like every registered name
// they are API: never renamed.
const (
	// LimiterWorkflowName is the registered name of the account limiter workflow.
	LimiterWorkflowName = "AccountLimiter"

	// UpdateRequestPermits asks the limiter for new-order permits and
	// returns its answers: the update's argument is a []PermitRequest (the
	// requests of one worker process that came together), its result the
	// []PermitGrant, one for each request, in their order.
	UpdateRequestPermits = "request-permits"
	// SignalPermitRequest asks the limiter for a new-order permit; its value is
	// a PermitRequest. The limiter answers with a SignalPermit. Workers ask so
	// when the limiter refuses UpdateRequestPermits (a limiter run by a worker
	// from before it).
	SignalPermitRequest = "request"
	// SignalRateLimited tells the limiter that the CA refused an order with a
	// rate limit; its value is a RateLimitReport.
	SignalRateLimited = "rate-limited"
	// SignalPermit is the limiter's answer to a PermitRequest, sent to the
	// requesting workflow run; its value is a PermitGrant.
	SignalPermit = "permit"
	// SignalPermitOutcome tells the limiter what became of a permit whose
	// attempt did not issue a certificate from a new order; its value is a
	// PermitOutcome.
	SignalPermitOutcome = "permit-outcome"
)

// LimiterWorkflowID is the ID of the account limiter of one issuer:
// "<cluster>/limiter/<kind>/<namespace>/<name>" (namespace empty for a
// ClusterIssuer). The budget is per issuer: two issuers that share one ACME
// account (the same server and account key) get a budget each, so such a
// setup should lower each issuer's rateLimits to its share.
func LimiterWorkflowID(cluster string, issuer IssuerRef) string {
	return cluster + "/limiter/" + issuer.Kind + "/" + issuer.Namespace + "/" + issuer.Name
}

// LimiterTaskQueue is the task queue the account limiters of a worker's task
// queue run on: their own, so that a limiter's tasks never wait behind the
// tasks of the issuances it holds back.
func LimiterTaskQueue(taskQueue string) string { return taskQueue + "-limiter" }

// The permits activities: RequestPermit asks the issuer's limiter for a
// permit (it answers with SignalPermit to the requesting run),
// ReportPermitOutcome tells it what the permit's attempt used, and
// ReportRateLimit tells it of the CA's rate limit.
var (
	RequestPermit       = declare[RequestPermitInput, RequestPermitResult]("RequestPermit")
	ReportPermitOutcome = declare[ReportPermitOutcomeInput, ReportPermitOutcomeResult]("ReportPermitOutcome")
	ReportRateLimit     = declare[ReportRateLimitInput, ReportRateLimitResult]("ReportRateLimit")
)

// ReportPermitOutcomeInput says what the attempt that got a permit used.
type ReportPermitOutcomeInput struct {
	Certificate CertificateRef
	Issuer      IssuerRef
	// Names are the order's identifiers (Request.Identifiers).
	Names []string
	// Grant is the permit the attempt got.
	Grant PermitGrant
	// OrderSent says that the CA made a new order (it counts against the
	// account's new orders); Issued, that a certificate was stored.
	OrderSent bool
	Issued    bool
	// FailedValidations are the names whose validation the CA refused.
	FailedValidations []string
}

// ReportPermitOutcomeResult is empty.
type ReportPermitOutcomeResult struct{}

// RequestPermitInput asks the issuer's account limiter for a permit to create
// a new order. The limiter answers with a SignalPermit to the requester run.
type RequestPermitInput struct {
	// Certificate is the Certificate whose order it is.
	Certificate         CertificateRef
	Issuer              IssuerRef
	RequesterWorkflowID string
	RequesterRunID      string
	// Names are the order's identifiers (Request.Identifiers).
	Names []string
	// Replaces is true for an ARI renewal that sends "replaces".
	Replaces bool
	// Forced is PermitRequest.Forced.
	Forced bool
	// Attempt is PermitRequest.Attempt.
	Attempt int
}

// RequestPermitResult says whether an answer will come.
type RequestPermitResult struct {
	// Unlimited is true when the issuer has no budgets (it is not an ACME
	// issuer): no limiter was asked, no SignalPermit will come.
	Unlimited bool
	// Grant is the limiter's answer when it gave it to the activity
	// (UpdateRequestPermits); nil when it comes as a SignalPermit.
	Grant *PermitGrant
	// LimiterWorkflowID and LimiterRunID name the limiter run that was asked.
	LimiterWorkflowID string
	LimiterRunID      string
	// Limits are the budgets the request was made with.
	Limits RateLimits
}

// ReportRateLimitInput tells the issuer's account limiter that the CA refused
// an order for Names with a rate limit, asking to wait until Until.
type ReportRateLimitInput struct {
	// Certificate is the Certificate whose order was refused.
	Certificate CertificateRef
	Issuer      IssuerRef
	Until       time.Time
	// Detail is the CA's problem detail: it says what the limit is on.
	Detail string
	// Names are the refused order's identifiers (Request.Identifiers).
	Names []string
}

// ReportRateLimitResult is empty.
type ReportRateLimitResult struct{}

// LimiterInput starts an account limiter (the permits activities start it
// with the Issuer alone) and continues it as new with its state.
type LimiterInput struct {
	Issuer IssuerRef
	// State is carried across continue-as-new; zero on the first start.
	State LimiterState
	// ContinueAfter is how many requests a run answers before it continues as
	// new; 0 means the limiter's default.
	ContinueAfter int
}

// LimiterState is what a limiter remembers: the permits granted inside each
// budget's window (granted times may lie in the future: a permit for later
// is a reservation that later requests see), the CA's own block, and the
// answers already sent.
type LimiterState struct {
	// Orders are the times of the permits inside the newOrders window, ascending.
	Orders []time.Time
	// Domains are the permit times per registered domain, ascending.
	Domains map[string][]time.Time
	// Duplicates are the permit times per set of names (joined by ","), ascending.
	Duplicates map[string][]time.Time
	// FailedValidations are the times the CA refused a validation, per name.
	FailedValidations map[string][]time.Time
	// BlockedUntil: the CA rate-limited the account; no permit before it.
	BlockedUntil time.Time
	// GuessedUntil: the CA rate-limited an order with a detail that did not
	// say what the limit is on; the account is held until then, except for
	// forced requests.
	GuessedUntil time.Time `json:",omitzero"`
	// BlockedIdentifiers: the CA rate-limited orders naming a name or
	// registered domain; no permit for such an order before the time.
	BlockedIdentifiers map[string]time.Time
	// BlockedNameSets: the CA rate-limited orders for a set of names (joined
	// by ","); no permit for that set before the time.
	BlockedNameSets map[string]time.Time
	// Answered are the grants sent, by requester (workflow ID and run ID), so
	// that a repeated request gets the same answer and costs nothing.
	Answered map[string]PermitGrant
}

// RateLimits are an ACME issuer's budgets, resolved: the issuer's
// spec.acme.rateLimits, with the CA's own values where unset and known. A
// budget whose Limit or Period is zero does not limit.
type RateLimits struct {
	// NewOrders per ACME account, counted when an order is made.
	NewOrders RateLimit
	// CertificatesPerRegisteredDomain: certificates naming a registered
	// domain (public suffix plus one label), counted once per domain a
	// certificate names, when it is issued.
	CertificatesPerRegisteredDomain RateLimit
	// DuplicateCertificates: certificates for exactly the same set of names.
	DuplicateCertificates RateLimit
	// FailedValidations per name.
	FailedValidations RateLimit
}

// Limits says whether any budget limits.
func (l RateLimits) Limits() bool {
	for _, b := range []RateLimit{l.NewOrders, l.CertificatesPerRegisteredDomain, l.DuplicateCertificates, l.FailedValidations} {
		if b.Limit > 0 && b.Period > 0 {
			return true
		}
	}
	return false
}

// RateLimit is a sliding window: at most Limit orders in any Period.
type RateLimit struct {
	Limit  int
	Period time.Duration
}

// PermitOutcome is what an attempt used of its permit, when that is not
// everything (a new order that issued a certificate): the limiter gives
// back what was not used, and counts the failed validations.
type PermitOutcome struct {
	// RequesterWorkflowID, RequesterRunID and Attempt name the request.
	RequesterWorkflowID string
	RequesterRunID      string
	Attempt             int
	// At is the permit's time.
	At time.Time
	// Names and Domains are as in the PermitRequest.
	Names   []string
	Domains []string
	// OrderSent: the CA made a new order (else the new-order count goes
	// back). Issued: a certificate was issued (else the per-domain and
	// duplicate counts go back).
	OrderSent bool
	Issued    bool
	// FailedValidations are the names whose validation the CA refused.
	FailedValidations []string
}

// PermitRequest asks for a permit to create one new ACME order.
type PermitRequest struct {
	// RequesterWorkflowID and RequesterRunID name the workflow run that waits
	// for the SignalPermit answer. Together they identify the request: a
	// repeated request gets the first answer again.
	RequesterWorkflowID string
	RequesterRunID      string
	// Names are the order's identifiers, lowercased, deduplicated and sorted
	// (the duplicate-certificate key).
	Names []string
	// Domains are the registered domains the names belong to (an IP address
	// stands for itself, an IPv6 address for its /64), sorted.
	Domains []string
	// Replaces is true for an ARI renewal that sends "replaces": the CA exempts
	// it from its limits, so the limiter grants it at once (unless the CA has
	// rate-limited the account) and does not count it.
	Replaces bool
	// Forced is true for an order a user asked for (renew): certflow's own
	// budgets, which are its guess of the CA's counts, do not hold it, nor
	// does a block certflow guessed the scope of; the CA's own blocks do.
	// The permit counts.
	Forced bool `json:",omitempty"`
	// Limits are the issuer's budgets as the request was made.
	Limits RateLimits
	// Attempt counts the requester's requests for new permits, from 0. A
	// requester that did not use its permit (it woke too late to use it on
	// time) asks again with the next attempt: the limiter releases the
	// permit it granted before and grants a new one. A repeated request of an
	// attempt already answered gets the same answer.
	Attempt int
}

// PermitGrant is the limiter's answer: the order may be created at At.
type PermitGrant struct {
	At time.Time
	// Reason says which budget decided At when At is later than the request,
	// for status ("the account's order budget (300 per 3h) is used up").
	// Without one, At is the moment the limiter decided, and the requester
	// goes at once.
	Reason string
	// Attempt is the request's Attempt this grant answers.
	Attempt int
	// Settled: the limiter has heard what the attempt used of the permit.
	Settled bool `json:",omitempty"`
}

// RateLimitReport says the CA refused an order of the issuer's account with a
// rate limit and asked to wait until Until: the orders the limit is on get no
// permit before then. What the limit is on, the permits activity reads from
// the CA's detail; when it cannot tell, it is the account.
type RateLimitReport struct {
	Until time.Time
	// Detail is the CA's problem detail.
	Detail string
	// Identifier, when set, is the name or registered domain the limit is on
	// ("too many certificates already issued for \"example.com\""): requests
	// that name it, or a name under it, wait.
	Identifier string
	// Names, when set, is the exact set of names the limit is on ("... for this
	// exact set of identifiers"), as in PermitRequest: requests for that set wait.
	Names []string
	// Guessed: the detail did not say what the limit is on, so it is taken
	// to be the account.
	Guessed bool `json:",omitempty"`
}
