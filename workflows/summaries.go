package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// What the Web UI shows of a workflow: a summary on each timer, saying what
// it waits for, and the Certificate's current details. Neither is part of
// what a replay compares.

// summaryTime is how summaries write a time: to the minute, in UTC.
func summaryTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// renewalSummary says what the wait after an issuance ends with: the
// renewal, or an ARI re-check when that comes first.
func renewalSummary(renewAt, recheck time.Time) string {
	if !recheck.IsZero() && (renewAt.IsZero() || recheck.Before(renewAt)) {
		return "ARI re-check at " + summaryTime(recheck)
	}
	return "renewal at " + summaryTime(renewAt)
}

// retrySummary says what the wait after a failed attempt ends with.
func (c *certificate) retrySummary() string {
	switch c.state.NextAttemptReason {
	case nextAttemptRateLimited:
		return "the CA's rate limit, until " + summaryTime(c.state.NextAttemptTime)
	case nextAttemptConfigChange:
		return "a change to the issuer or its Secrets, at the latest " + summaryTime(c.state.NextAttemptTime)
	}
	return fmt.Sprintf("backoff after attempt %d, until %s", c.state.FailedAttempts, summaryTime(c.state.NextAttemptTime))
}

// showDetails sets the workflow's current details from the status it
// publishes: the Certificate, where it stands, what failed last and what
// comes next.
func showDetails(ctx workflow.Context, st *activities.CertificateStatus) {
	lines := []string{fmt.Sprintf("**Certificate %s**\n", st.Certificate)}
	for _, c := range st.Conditions {
		lines = append(lines, fmt.Sprintf("- %s: %s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	if st.Step != "" {
		lines = append(lines, "- step: "+st.Step)
	}
	if !st.NotAfter.IsZero() {
		lines = append(lines, fmt.Sprintf("- not after: %s, renewal at %s", summaryTime(st.NotAfter), summaryTime(st.RenewalTime)))
	}
	if !st.NextAttemptTime.IsZero() {
		lines = append(lines, fmt.Sprintf("- next attempt: %s (%s)", summaryTime(st.NextAttemptTime), st.NextAttemptReason))
	}
	workflow.SetCurrentDetails(ctx, strings.Join(lines, "\n"))
}
