package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Issuer registers an ACME issuer's account for one generation of its spec
// and reports the outcome in the issuer's Ready condition. It retries with
// the failure backoff until the account is registered, the issuer is
// deleted, or a newer generation's workflow takes over.
func Issuer(ctx workflow.Context, in IssuerInput) error {
	for attempt := 1; ; attempt++ {
		account, err := execute(shortStep(ctx), activities.EnsureAccount, activities.EnsureAccountInput{Issuer: in.Issuer, Generation: in.Generation})
		if err == nil {
			if account.Generation > in.Generation {
				return nil // a newer generation's workflow reports
			}
			return updateIssuerStatus(ctx, activities.IssuerStatus{
				Issuer: in.Issuer, Generation: in.Generation,
				Ready:      activities.Condition{Type: condReady, Status: condTrue, Reason: "ACMEAccountRegistered", Message: "the ACME account is registered: " + account.AccountURL},
				AccountURL: account.AccountURL, Email: account.Email, KeySHA256: account.KeySHA256,
			})
		}
		now := workflow.Now(ctx)
		f := failureOf(err, now)
		if f.kind == activities.ErrTypeIssuerNotFound {
			return nil // deleted
		}
		wait := backoff(attempt, fraction(workflow.GetInfo(ctx).WorkflowExecution.ID+strconv.Itoa(attempt)), activities.Backoff{})
		if f.kind == activities.ErrTypeRateLimited {
			wait = max(f.retryAt().Sub(now), 0) // the CA said how long
		}
		message := fmt.Sprintf("registering the ACME account: %s; next attempt at %s", f.detail, now.Add(wait).UTC().Format(time.RFC3339))
		if err := updateIssuerStatus(ctx, activities.IssuerStatus{
			Issuer: in.Issuer, Generation: in.Generation,
			Ready: activities.Condition{Type: condReady, Status: condFalse, Reason: accountFailureReason(f.kind), Message: message},
			Event: event("Warning", accountFailureReason(f.kind), message),
		}); err != nil {
			return err
		}
		timer := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: fmt.Sprintf("registration attempt %d failed: next at %s", attempt, summaryTime(now.Add(wait)))})
		if err := timer.Get(ctx, nil); err != nil {
			return err
		}
	}
}

func accountFailureReason(kind string) string {
	switch kind {
	case activities.ErrTypeConfig:
		return "Misconfigured"
	case activities.ErrTypeRateLimited:
		return reasonRateLimited
	}
	return "ErrRegisterACMEAccount"
}

func updateIssuerStatus(ctx workflow.Context, st activities.IssuerStatus) error {
	_, err := executeLocal(statusWrite(ctx), activities.UpdateIssuerStatus, st)
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return err
	}
	if err != nil {
		workflow.GetLogger(ctx).Warn("writing issuer status", "issuer", st.Issuer.String(), "error", err)
	}
	return nil
}
