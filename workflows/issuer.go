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

// Issuer makes one generation of an issuer's spec ready and reports the
// outcome in the issuer's Ready condition: an ACME issuer registers its
// account, a ca issuer has its key pair checked, a vault issuer logs in, a
// selfSigned one is ready.
// It retries with the failure backoff until it is ready, the issuer is
// deleted, or a newer generation's workflow takes over.
func Issuer(ctx workflow.Context, in IssuerInput) error {
	check, doing, noun := registerAccount, "registering the ACME account", "registration"
	if in.Type == activities.IssuerTypeCA || in.Type == activities.IssuerTypeSelfSigned || in.Type == activities.IssuerTypeVault {
		check, doing, noun = checkSigner, "checking the issuer", "check"
	}
	for attempt := 1; ; attempt++ {
		ready, superseded, err := check(ctx, in)
		if err == nil {
			if superseded {
				return nil // a newer generation's workflow reports
			}
			return updateIssuerStatus(ctx, ready)
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
		message := fmt.Sprintf("%s: %s; next attempt at %s", doing, f.detail, now.Add(wait).UTC().Format(time.RFC3339))
		if err := updateIssuerStatus(ctx, activities.IssuerStatus{
			Issuer: in.Issuer, Generation: in.Generation,
			Ready: activities.Condition{Type: condReady, Status: condFalse, Reason: accountFailureReason(f.kind), Message: message},
			Event: event("Warning", accountFailureReason(f.kind), message),
		}); err != nil {
			return err
		}
		summary := fmt.Sprintf("%s attempt %d failed: next at %s", noun, attempt, summaryTime(now.Add(wait)))
		if err := waitOrRecheck(ctx, wait, summary); err != nil {
			return err
		}
	}
}

// waitOrRecheck waits for d, or until the controller says a Secret the
// issuer reads changed (SignalRecheck).
func waitOrRecheck(ctx workflow.Context, d time.Duration, summary string) error {
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: summary})
	var err error
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(f workflow.Future) { err = f.Get(ctx, nil) })
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalRecheck), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
	return err
}

// registerAccount registers an ACME issuer's account; superseded when a
// newer generation of the issuer has.
func registerAccount(ctx workflow.Context, in IssuerInput) (ready activities.IssuerStatus, superseded bool, err error) {
	account, err := execute(shortStep(ctx), activities.EnsureAccount, activities.EnsureAccountInput{Issuer: in.Issuer, Generation: in.Generation})
	if err != nil {
		return activities.IssuerStatus{}, false, err
	}
	if account.Generation > in.Generation {
		return activities.IssuerStatus{}, true, nil
	}
	return activities.IssuerStatus{
		Issuer: in.Issuer, Generation: in.Generation,
		Ready:      activities.Condition{Type: condReady, Status: condTrue, Reason: "ACMEAccountRegistered", Message: "the ACME account is registered: " + account.AccountURL},
		AccountURL: account.AccountURL, Email: account.Email, KeySHA256: account.KeySHA256,
	}, false, nil
}

// checkSigner checks that a ca, selfSigned or vault issuer can sign.
func checkSigner(ctx workflow.Context, in IssuerInput) (activities.IssuerStatus, bool, error) {
	res, err := execute(shortStep(ctx), activities.CheckIssuer, activities.CheckIssuerInput{Issuer: in.Issuer})
	if err != nil {
		return activities.IssuerStatus{}, false, err
	}
	return activities.IssuerStatus{
		Issuer: in.Issuer, Generation: in.Generation,
		Ready: activities.Condition{Type: condReady, Status: condTrue, Reason: res.Reason, Message: res.Message},
	}, false, nil
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
