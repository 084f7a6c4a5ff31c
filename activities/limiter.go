package activities

import (
	"strings"
	"time"
)

// The account limiter's API: its workflow name and ID, its signals and their
// values. They live here, not in package workflows, because both sides use
// them: the permits activities start and signal the limiter, the limiter and
// the Order workflow answer and wait. Like every registered name they are
// API: never renamed.
const (
	// LimiterWorkflowName is the registered name of the account limiter workflow.
	LimiterWorkflowName = "AccountLimiter"

	// SignalPermitRequest asks the limiter for a new-order permit; its value is
	// a PermitRequest.
	SignalPermitRequest = "request"
	// SignalRateLimited tells the limiter that the CA refused an order with a
	// rate limit; its value is a RateLimitReport.
	SignalRateLimited = "rate-limited"
	// SignalPermit is the limiter's answer to a PermitRequest, sent to the
	// requesting workflow run; its value is a PermitGrant.
	SignalPermit = "permit"
)

// LimiterWorkflowID is the ID of the account limiter of one issuer:
// "limiter/<kind>/<namespace>/<name>" (namespace empty for a ClusterIssuer).
// The budget is per issuer: two issuers that share one ACME account (the same
// server and account key) get a budget each, so such a setup should lower
// each issuer's rateLimits to its share.
func LimiterWorkflowID(issuer IssuerRef) string {
	return "limiter/" + issuer.Kind + "/" + issuer.Namespace + "/" + issuer.Name
}

// LimiterTaskQueue is the task queue the account limiters of a worker's task
// queue run on: their own, so that a limiter's tasks never wait behind the
// tasks of the issuances it holds back.
func LimiterTaskQueue(taskQueue string) string {
	if strings.HasSuffix(taskQueue, limiterQueueSuffix) {
		return taskQueue
	}
	return taskQueue + limiterQueueSuffix
}

const limiterQueueSuffix = "-limiter"

// LimiterStartInput is what the permits activities start the limiter with
// (SignalWithStart). The workflow's own input type extends it with the state
// it carries across continue-as-new.
type LimiterStartInput struct {
	Issuer IssuerRef
}

// RateLimits are an ACME issuer's new-order budgets, resolved: the issuer's
// spec.acme.rateLimits with Let's Encrypt's values where unset. A budget
// whose Limit or Period is zero does not limit.
type RateLimits struct {
	// NewOrders per ACME account.
	NewOrders RateLimit
	// CertificatesPerRegisteredDomain: orders naming a registered domain
	// (public suffix plus one label), counted once per domain an order names.
	CertificatesPerRegisteredDomain RateLimit
	// DuplicateCertificates: orders for exactly the same set of names.
	DuplicateCertificates RateLimit
}

// RateLimit is a sliding window: at most Limit orders in any Period.
type RateLimit struct {
	Limit  int
	Period time.Duration
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
	Reason string
	// Attempt is the request's Attempt this grant answers.
	Attempt int
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
}
