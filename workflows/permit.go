package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// The Order's side of the account limiter: before a new order it asks the
// issuer's limiter for a permit and waits for it, and when the CA rate-limits
// the account anyway it tells the limiter, so that the issuer's other
// Certificates stop asking the CA until the CA's Retry-After has passed.

// permitPatience is how long an Order waits for the limiter's answer before
// it asks again. The answer normally comes within a second; asking again
// (the limiter answers a repeated request with the same grant) gets one when
// the limiter was terminated or reset in between.
const permitPatience = 5 * time.Minute

// awaitPermit asks for a permit and waits until it is granted: for the answer,
// then, when the permit is for later, on a durable timer, with the wait in
// status ("waiting for the account's order budget, next permit at ..."). An
// Order that wakes too late to use its permit on time asks again: the
// permits granted after it counted on this one being used then.
//
// Requests count their attempts from attempt (the limiter answers an attempt
// it has answered with the same grant). It returns the permit (nil when the
// issuer needs none) and the attempt that got it.
func awaitPermit(ctx workflow.Context, in OrderInput, st *activities.CertificateStatus, attempt int) (*permit, int, error) {
	run := workflow.GetInfo(ctx).WorkflowExecution
	req := activities.RequestPermitInput{
		Certificate: in.Certificate, Issuer: in.Issuer, RequesterWorkflowID: run.ID, RequesterRunID: run.RunID,
		Names: in.Request.Identifiers(), Replaces: in.ReplacesCertID != "", Forced: in.Forced, Attempt: attempt,
	}
	saved := *st
	saved.Conditions = slices.Clone(st.Conditions)
	waited := false
	defer func() {
		// The wait is over: the status no longer shows it.
		if *st = saved; waited && ctx.Err() == nil {
			publish(ctx, st)
		}
	}()
	for ; ; req.Attempt++ {
		grant, res, err := requestPermit(ctx, req)
		if err != nil || res.Unlimited {
			return nil, req.Attempt, err
		}
		p := &permit{grant: grant, sendBy: grant.At.Add(permitValidity(res.Limits))}
		wait := grant.At.Sub(workflow.Now(ctx))
		if wait <= 0 || grantedForNow(ctx, grant) {
			return p, req.Attempt, nil // BeginOrder checks how late the order goes out
		}
		recordRateLimitWait(ctx, in.Issuer, waitCauseLimiter, wait)
		showWait(ctx, st, saved, grant)
		waited = true
		renewed, err := sleepUnlessRenewed(ctx, grant.At, "waiting for a permit from "+res.LimiterWorkflowID)
		if err != nil {
			return nil, req.Attempt, err
		}
		if renewed {
			// A forced permit waits only for the CA's own blocks.
			workflow.GetLogger(ctx).Info("renew while waiting for a permit: asking for a forced one", "limiter", res.LimiterWorkflowID)
			req.Forced = true
			continue
		}
		late := workflow.Now(ctx).Sub(grant.At)
		if late <= permitTolerance(res.Limits) {
			return p, req.Attempt, nil
		}
		workflow.GetLogger(ctx).Warn("woke too late to use the permit: asking again", "limiter", res.LimiterWorkflowID, "late", late)
	}
}

// grantedForNow says whether a grant is for the moment the limiter decided
// it: no budget or block moved it (it has no Reason). That moment is past,
// though the grant may look a little ahead of this workflow's clock, which
// is its task's start on the server plus the worker's time since it got
// the task: it lags by the task's trip. Runs before waited for it on a timer,
// which the server fires up to a second late.
func grantedForNow(ctx workflow.Context, grant activities.PermitGrant) bool {
	return grant.Reason == "" && workflow.GetVersion(ctx, changeGrantedForNow, workflow.DefaultVersion, 1) == 1
}

// changeGrantedForNow versions taking a grant for now without a timer.
const changeGrantedForNow = "permit-granted-for-now"

// sleepUnlessRenewed sleeps until at, or until a SignalRenew comes, and
// says whether one did.
func sleepUnlessRenewed(ctx workflow.Context, at time.Time, summary string) (bool, error) {
	wait := at.Sub(workflow.Now(ctx))
	if wait <= 0 { // the status write took time
		return false, nil
	}
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	renewed := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: summary}), func(workflow.Future) {})
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalRenew), func(ch workflow.ReceiveChannel, _ bool) {
		ch.Receive(ctx, nil)
		renewed = true
	})
	sel.Select(ctx)
	return renewed, ctx.Err()
}

// maxExpiredPermits is how many permits in a row may run out before the
// order is sent without waiting for one to hold: a worker whose clock is
// far ahead of the server's would otherwise never order.
const maxExpiredPermits = 3

// permit is a grant from the account limiter: when the order it allows must
// reach the CA, and what the limiter hears of it afterwards.
type permit struct {
	grant  activities.PermitGrant
	sendBy time.Time
}

// beginOrder makes the order, after a permit from the account limiter when
// needsPermit. A permit that ran out before BeginOrder could send the order
// (the worker was slow to get to it) is replaced by a new one. It returns
// the permit the order was made with, nil when it needed none.
func beginOrder(ctx workflow.Context, in OrderInput, st *activities.CertificateStatus, needsPermit bool) (activities.BeginOrderResult, *permit, error) {
	attempt := 0
	for expired := 0; ; expired++ {
		var p *permit
		var sendBy time.Time
		if needsPermit {
			var err error
			if p, attempt, err = awaitPermit(ctx, in, st, attempt); err != nil {
				return activities.BeginOrderResult{}, nil, failedIn(ctx, activities.StepOrdering, "waiting for an order permit", err)
			}
			if p != nil && expired < maxExpiredPermits {
				sendBy = p.sendBy
			}
		}
		begin, err := executeLocal(localPollingStep(ctx), activities.BeginOrder, activities.BeginOrderInput{
			Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request, Revision: in.Revision,
			ReplacesCertID: in.ReplacesCertID, SendBy: sendBy, Status: shown(st),
		})
		if err == nil {
			return begin, p, nil
		}
		if failureOf(err, workflow.Now(ctx)).kind != activities.ErrTypePermitExpired {
			return begin, p, failedIn(ctx, activities.StepOrdering, "ordering", err)
		}
		workflow.GetLogger(ctx).Warn("the order permit ran out before the order was sent: asking for another", "sendBy", sendBy)
		attempt++
	}
}

// settle tells the limiter what the attempt used of its permit, unless it
// used all of it (a new order, a certificate issued): the limiter gives back
// the rest and counts the failed validations. It runs on a context of its
// own, so that a cancelled attempt (its Certificate deleted) gives back too.
// A report that cannot be sent is logged: the permit stays counted.
func settle(ctx workflow.Context, in OrderInput, p *permit, begin activities.BeginOrderResult, err error) {
	if p == nil {
		return
	}
	// An order that BeginOrder did not report may have been made: it counts.
	orderSent := begin.NewOrder || begin.OrderURL == ""
	failed := failedValidations(err)
	if orderSent && err == nil {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_, rerr := executeLocal(localStep(dctx), activities.ReportPermitOutcome, activities.ReportPermitOutcomeInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Names: in.Request.Identifiers(), Grant: p.grant,
		OrderSent: orderSent, Issued: err == nil, FailedValidations: failed,
	})
	if rerr != nil {
		workflow.GetLogger(ctx).Warn("telling the account limiter what a permit was used for", "issuer", in.Issuer.String(), "error", rerr)
	}
}

// failedValidations are the names whose validation the CA refused, which
// Validate's error carries.
func failedValidations(err error) []string {
	app := applicationError(err, activities.ErrTypeACMEPermanent)
	if app == nil || !app.HasDetails() {
		return nil
	}
	var res activities.ValidateResult
	if app.Details(&res) != nil {
		return nil
	}
	var names []string
	for _, az := range res.Authorizations {
		if az.Status == "invalid" {
			names = append(names, az.Name())
		}
	}
	return names
}

// requestPermit asks the limiter for its answer to this attempt. When the
// limiter did not answer in the activity (asked by signal), it waits for the
// answer's signal, asking again after permitPatience without one.
func requestPermit(ctx workflow.Context, req activities.RequestPermitInput) (activities.PermitGrant, activities.RequestPermitResult, error) {
	permits := workflow.GetSignalChannel(ctx, activities.SignalPermit)
	for {
		res, err := executeLocal(localStep(ctx), activities.RequestPermit, req)
		if err != nil {
			return activities.PermitGrant{}, res, err
		}
		if res.Unlimited {
			return activities.PermitGrant{}, res, nil
		}
		if res.Grant != nil {
			return *res.Grant, res, nil
		}
		for {
			var grant activities.PermitGrant
			got, err := receiveWithin(ctx, permits, &grant, permitPatience, "waiting for the answer of "+res.LimiterWorkflowID)
			if err != nil {
				return grant, res, err
			}
			if !got {
				break
			}
			if grant.Attempt >= req.Attempt { // else an answer to an earlier attempt, sent again
				return grant, res, nil
			}
		}
		workflow.GetLogger(ctx).Warn("no answer from the account limiter: asking again", "limiter", res.LimiterWorkflowID)
	}
}

// showWait writes the wait for a permit into status (and an Event).
func showWait(ctx workflow.Context, st *activities.CertificateStatus, saved activities.CertificateStatus, grant activities.PermitGrant) {
	reason := reasonIssuing
	if i := slices.IndexFunc(saved.Conditions, func(c activities.Condition) bool { return c.Type == condIssuing }); i >= 0 {
		reason = saved.Conditions[i].Reason // Issuing or Renewing
	}
	message := "waiting for the account's order budget, next permit at " + grant.At.UTC().Format(time.RFC3339)
	if grant.Reason != "" {
		message += ": " + grant.Reason
	}
	setCondition(st, condIssuing, condTrue, reason, message)
	st.NextAttemptTime, st.NextAttemptReason = grant.At, ""
	st.Event = event("Normal", "WaitingForPermit", message)
	publish(ctx, st)
}

// receiveWithin receives a value from ch, waiting at most d; it says whether
// one came.
func receiveWithin(ctx workflow.Context, ch workflow.ReceiveChannel, v any, d time.Duration, summary string) (bool, error) {
	if ch.ReceiveAsync(v) {
		return true, nil
	}
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	got := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, v); got = true })
	sel.AddFuture(workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: summary}), func(workflow.Future) {})
	sel.Select(ctx)
	return got, ctx.Err()
}

// reportRateLimit tells the issuer's limiter when err is the CA's rate limit.
// A report that cannot be sent is logged: the Certificate waits the CA's
// Retry-After anyway; only the issuer's other Certificates may ask too soon.
func reportRateLimit(ctx workflow.Context, in OrderInput, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	f := failureOf(err, workflow.Now(ctx))
	if f.kind != activities.ErrTypeRateLimited {
		return
	}
	report := activities.ReportRateLimitInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Until: f.retryAt(), Detail: f.caDetail, Names: in.Request.Identifiers(),
	}
	if _, err := execute(shortStep(ctx), activities.ReportRateLimit, report); err != nil {
		workflow.GetLogger(ctx).Warn("reporting a rate limit to the account limiter", "issuer", in.Issuer.String(), "error", err)
	}
}
