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
	for i, c := range st.Conditions {
		message := c.Message
		if i > 0 && message == st.Conditions[i-1].Message {
			message = "as above" // a failure both conditions report
		}
		lines = append(lines, fmt.Sprintf("- %s: %s %s: %s", c.Type, c.Status, c.Reason, message))
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

// activitySummary says in a line what an activity does with in, for whom:
// its summary in the Web UI ("" for an input it does not know).
func activitySummary(in any) string {
	switch in := in.(type) {
	case activities.InspectSecretInput:
		return "reading Certificate " + in.Certificate.String() + " and its Secret"
	case activities.EnsurePendingKeyInput:
		return fmt.Sprintf("checking the request and making the key of revision %d", in.Revision)
	case activities.RequestPermitInput:
		return "asking the account limiter of " + in.Issuer.String() + " for an order permit"
	case activities.BeginOrderInput:
		return "ordering " + strings.Join(in.Request.Identifiers(), ", ") + " from " + in.Issuer.String()
	case activities.PresentInput:
		return "presenting the challenges of " + authorizationNames(in.Authorizations)
	case activities.WaitPropagationInput:
		return "waiting until the challenge responses of " + presentedNames(in.Presented) + " are visible"
	case activities.ValidateInput:
		return "asking " + in.Issuer.String() + " to validate " + authorizationNames(in.Authorizations)
	case activities.FinalizeInput:
		return "finalizing the order with the CSR and fetching the chain"
	case activities.StoreSecretInput:
		return fmt.Sprintf("storing revision %d in Secret %s", in.Revision, in.Request.SecretName)
	case activities.CleanUpChallengesInput:
		return "removing the challenge responses of " + presentedNames(in.Presented)
	case activities.RenewalInfoInput:
		return "asking " + in.Issuer.String() + " for the renewal window (ARI)"
	case activities.ReportPermitOutcomeInput:
		return "telling the account limiter what the permit was used for"
	case activities.ReportRateLimitInput:
		return "telling the account limiter of the CA's rate limit, until " + summaryTime(in.Until)
	case activities.CertificateStatus:
		return "writing the status of Certificate " + in.Certificate.String()
	case activities.EnsureAccountInput:
		return "registering the ACME account of " + in.Issuer.String()
	case activities.SignInput:
		return "signing the request of " + in.Certificate.String() + " with " + in.Issuer.String()
	case activities.CheckIssuerInput:
		return "checking that " + in.Issuer.String() + " can sign"
	}
	return ""
}

func authorizationNames(authzs []activities.Authorization) string {
	names := make([]string, len(authzs))
	for i, a := range authzs {
		names[i] = a.Name()
	}
	return strings.Join(names, ", ")
}

func presentedNames(presented []activities.Presented) string {
	names := make([]string, len(presented))
	for i, p := range presented {
		names[i] = p.Name()
	}
	return strings.Join(names, ", ")
}
