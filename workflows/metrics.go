package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Metrics the workflows record, where the decisions are made: through
// workflow.GetMetricsHandler, which records nothing while a workflow
// replays, so each event counts once, and which adds no command to the
// history. The worker's handler (internal/metrics.Temporal) exports a
// counter as NAME_total and a timer as a histogram NAME_seconds.
const (
	// MetricIssuanceAttempts counts finished issuance attempts by issuer and
	// result (resultSuccess, resultFailure), as status.failedIssuanceAttempts
	// counts the failures.
	MetricIssuanceAttempts = "certflow_issuance_attempts"
	// MetricIssuanceFailures counts failed attempts by issuer and reason: the
	// reason of the Certificate's conditions (RateLimited, NoSolver,
	// DNSAuthFailed, IssuerNotFound, Failed, ...).
	MetricIssuanceFailures = "certflow_issuance_failures"
	// MetricIssuanceDuration times a successful attempt, from its start to
	// its Secret stored, permit waits included.
	MetricIssuanceDuration = "certflow_issuance_duration"
	// MetricRateLimitWait times each wait a rate limit imposes, by issuer and
	// cause: waitCauseCA when the CA refused (the CA's Retry-After), or
	// waitCauseLimiter when the account limiter holds the order (a budget,
	// or a limit the CA put on another Certificate of the account).
	MetricRateLimitWait = "certflow_rate_limit_wait"
	// MetricLimiterPermits counts the permits an account limiter grants.
	MetricLimiterPermits = "certflow_limiter_permits_granted"
	// MetricLimiterOrderBudget is the number of new orders the account's
	// budget allows, the permits granted for later counted, as of the
	// limiter's last grant or returned permit (a workflow has no scrape time).
	MetricLimiterOrderBudget = "certflow_limiter_order_budget_remaining"
)

// Label values of the metrics.
const (
	resultSuccess    = "success"
	resultFailure    = "failure"
	waitCauseCA      = "ca"
	waitCauseLimiter = "limiter"
)

// issuerTags label a series with the issuer, as cert-manager labels its
// (issuer_kind, issuer_name), and with the label and value pairs kv.
func issuerTags(issuer activities.IssuerRef, kv ...string) map[string]string {
	tags := map[string]string{"issuer_kind": issuer.Kind, "issuer_name": issuer.Name}
	for i := 0; i+1 < len(kv); i += 2 {
		tags[kv[i]] = kv[i+1]
	}
	return tags
}

// recordAttempt counts an attempt's end; a failure with its reason.
func recordAttempt(ctx workflow.Context, issuer activities.IssuerRef, failureReason string) {
	m := workflow.GetMetricsHandler(ctx)
	if failureReason == "" {
		m.WithTags(issuerTags(issuer, "result", resultSuccess)).Counter(MetricIssuanceAttempts).Inc(1)
		return
	}
	m.WithTags(issuerTags(issuer, "result", resultFailure)).Counter(MetricIssuanceAttempts).Inc(1)
	m.WithTags(issuerTags(issuer, "reason", failureReason)).Counter(MetricIssuanceFailures).Inc(1)
}

// recordRateLimitWait times a wait a rate limit imposes on an attempt.
func recordRateLimitWait(ctx workflow.Context, issuer activities.IssuerRef, cause string, wait time.Duration) {
	workflow.GetMetricsHandler(ctx).WithTags(issuerTags(issuer, "cause", cause)).Timer(MetricRateLimitWait).Record(wait)
}
