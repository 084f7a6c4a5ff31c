package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Certificate owns one Certificate's life. Each run is one cycle: read the
// Certificate's spec and look at its Secret (InspectSecret, from the API
// server: a signal only says when to look), issue when the Secret is
// missing, mismatched or due (an Order attempt, run in place), then wait on
// a durable timer (renewal time or backoff) raced with the signals, and
// continue as new. The history of a run stays small however long the
// certificate lives. The workflow ends when its Certificate is gone.
func Certificate(ctx workflow.Context, in CertificateInput) error {
	c := newCertificate(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (activities.CertificateStatus, error) {
		return c.status, nil
	}); err != nil {
		return err
	}
	c.specs = workflow.GetSignalChannel(ctx, SignalSpec)
	c.renews = workflow.GetSignalChannel(ctx, SignalRenew)
	if in.Heard != nil {
		c.hear(ctx, *in.Heard)
	}
	c.drainSignals(ctx)

	if err := c.cycle(ctx); errors.Is(err, errCertificateGone) {
		workflow.GetLogger(ctx).Info("the Certificate is gone: its workflow ends", "namespace", c.ref.Namespace, "name", c.ref.Name)
		return nil
	} else if err != nil {
		return err
	}
	c.drainSignals(ctx)
	c.state.Conditions = c.status.Conditions
	return workflow.NewContinueAsNewError(ctx, CertificateWorkflowName, CertificateInput{
		Certificate: c.ref, Spec: c.spec, State: c.state, InlineOrders: true,
	})
}

type certificate struct {
	ref    activities.CertificateRef
	id     string
	spec   activities.CertificateSpec
	state  CertificateState
	status activities.CertificateStatus
	specs  workflow.ReceiveChannel
	renews workflow.ReceiveChannel
	// heard is the newest generation a spec signal named: the cache
	// InspectSecret may read must have it.
	heard int64
	// inlineOrders: issuance attempts run in this workflow (CertificateInput).
	inlineOrders bool
}

// errCertificateGone ends the workflow: its Certificate does not exist.
var errCertificateGone = errors.New("the Certificate is gone")

func newCertificate(ctx workflow.Context, in CertificateInput) *certificate {
	c := &certificate{ref: in.Certificate, id: workflow.GetInfo(ctx).WorkflowExecution.ID, spec: in.Spec, state: in.State, inlineOrders: in.InlineOrders}
	c.status = activities.CertificateStatus{Certificate: c.ref, WorkflowID: c.id, Conditions: slices.Clone(in.State.Conditions)}
	c.describeState()
	// A new run starts with what the state says; a stored certificate that
	// is still valid keeps the Certificate Ready while a renewal runs or fails.
	if iss := c.state.Issued; iss != nil && workflow.Now(ctx).Before(iss.NotAfter) {
		setCondition(&c.status, condReady, condTrue, reasonIssued, "certificate is valid and stored in Secret "+c.spec.Request.SecretName)
	}
	return c
}

// cycle decides and acts once, then waits until the next reason to act.
func (c *certificate) cycle(ctx workflow.Context) error {
	inspected, err := c.inspect(ctx)
	if err != nil {
		return c.fail(ctx, fmt.Errorf("inspecting Secret %s: %w", c.spec.Request.SecretName, err))
	}
	if inspected.Spec == nil {
		return errCertificateGone
	}
	c.applySpec(*inspected.Spec)
	// A task that stored an issuance and was lost (Temporal was down when
	// it completed) runs again from its start: the Secret holds a revision
	// the state does not. The next issuance must not reuse its number.
	c.state.Revision = max(c.state.Revision, inspected.Revision)
	switch inspected.State {
	case activities.SecretConflict:
		if c.state.Blocked != inspected.Reason {
			c.state.Blocked = inspected.Reason
			setCondition(&c.status, condReady, condFalse, reasonSecretConflict, inspected.Reason)
			c.status.Event = event("Warning", reasonSecretConflict, inspected.Reason+": not issuing until the Secret or the Certificate changes")
			publish(ctx, &c.status)
		}
		return c.wait(ctx, time.Time{}, "")
	case activities.SecretCurrent:
		c.state.Issued = inspected.Issued
		if inspected.Adopted {
			c.status.Event = event("Normal", "Adopted", fmt.Sprintf("adopted the existing certificate in Secret %s (serial %s)", c.spec.Request.SecretName, inspected.Issued.Serial))
		}
	}
	c.state.Blocked = ""

	renewAt, recheck := c.renewalTime(ctx)
	due := inspected.State != activities.SecretCurrent || c.state.ForceRenewal || !workflow.Now(ctx).Before(renewAt)
	if !due {
		c.describeState()
		setCondition(&c.status, condReady, condTrue, reasonIssued, "certificate is up to date and stored in Secret "+c.spec.Request.SecretName)
		setCondition(&c.status, condIssuing, condFalse, reasonIssued, "next renewal at "+renewAt.UTC().Format(time.RFC3339))
		c.status.RenewalTime = renewAt
		publish(ctx, &c.status)
		return c.wait(ctx, sooner(renewAt, recheck), renewalSummary(renewAt, recheck))
	}
	if !c.state.ForceRenewal && workflow.Now(ctx).Before(c.state.NextAttemptTime) {
		return c.wait(ctx, c.state.NextAttemptTime, c.retrySummary())
	}
	if inspected.State == activities.SecretForeign {
		c.status.Event = event("Warning", "ReplacingSecret", fmt.Sprintf("Secret %s was not made by certflow and will be replaced: %s", c.spec.Request.SecretName, inspected.Reason))
	}
	recheck, err = c.issue(ctx, inspected)
	if err != nil {
		return c.fail(ctx, err)
	}
	return c.wait(ctx, sooner(c.status.RenewalTime, recheck), renewalSummary(c.status.RenewalTime, recheck))
}

// inspect reads the Certificate's spec and looks at its Secret.
func (c *certificate) inspect(ctx workflow.Context) (activities.InspectSecretResult, error) {
	res, err := executeLocal(localStep(ctx), activities.InspectSecret, activities.InspectSecretInput{
		Certificate: c.ref, Generation: max(c.heard, c.spec.Generation),
	})
	if err == nil {
		c.state.SecretVersion = res.ResourceVersion
	}
	return res, err
}

// ariRecheck is how often the CA's renewal window is asked again while the
// certificate waits: at least twice a day, as Let's Encrypt asks, so a window
// the CA moves earlier (a revocation, an incident) is seen in time.
const ariRecheck = 12 * time.Hour

// renewalTime asks the CA for its ARI window when it has one, else follows
// the spec. A CA that cannot be asked does not block renewal: the spec
// decides. recheck is when to ask the CA again (zero without ARI).
func (c *certificate) renewalTime(ctx workflow.Context) (renewAt, recheck time.Time) {
	iss := c.state.Issued
	if iss == nil {
		return time.Time{}, time.Time{}
	}
	var window *Window
	if iss.ARICertID != "" {
		ari, err := executeLocal(localStep(ctx), activities.RenewalInfo, activities.RenewalInfoInput{
			Issuer: cmp.Or(c.state.IssuedBy, c.spec.Issuer), ARICertID: iss.ARICertID,
		})
		if err != nil {
			workflow.GetLogger(ctx).Warn("asking the CA for a renewal window", "error", err)
		} else if ari.Supported {
			window = &Window{Start: ari.WindowStart, End: ari.WindowEnd}
			recheck = workflow.Now(ctx).Add(max(ari.RetryAfter, ariRecheck))
		}
	}
	policy := RenewalPolicy{RenewBefore: c.spec.RenewBefore, RenewBeforePercentage: c.spec.RenewBeforePercentage}
	return RenewalTime(iss.NotBefore, iss.NotAfter, policy, window, c.id), recheck
}

// sooner is the earlier of two times, ignoring a zero one.
func sooner(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}

// issue runs one Order attempt and records its result. It returns when to
// ask the CA for a renewal window again.
func (c *certificate) issue(ctx workflow.Context, inspected activities.InspectSecretResult) (time.Time, error) {
	reason, message := reasonIssuing, "issuing a new certificate"
	if c.state.Issued != nil && inspected.State == activities.SecretCurrent {
		reason, message = reasonRenewing, "renewing the certificate"
	}
	setCondition(&c.status, condIssuing, condTrue, reason, message)
	if inspected.State != activities.SecretCurrent {
		setCondition(&c.status, condReady, condFalse, reasonPending, "waiting for the certificate: "+secretReason(inspected))
	}

	revision := c.state.Revision + 1
	attempt := c.state.FailedAttempts + 1
	issuer := c.issuer()
	replaces := ""
	if c.state.Issued != nil && inspected.State == activities.SecretCurrent && c.state.IssuedBy == issuer {
		replaces = c.state.Issued.ARICertID // ARI: only the CA that issued it knows it
	}
	in := OrderInput{
		Certificate: c.ref, Issuer: issuer, Request: c.spec.Request, Revision: revision,
		ReplacesCertID: replaces, SecretVersion: inspected.ResourceVersion, Attempt: attempt, Forced: c.state.Renewed, Status: c.status,
	}
	order := c.orderInChild
	if c.inlineOrders {
		order = c.orderHere
	}
	started := workflow.Now(ctx)
	res, err := order(ctx, in)
	if err != nil {
		return time.Time{}, err
	}
	recordAttempt(ctx, issuer, "")
	workflow.GetMetricsHandler(ctx).WithTags(issuerTags(issuer)).Timer(MetricIssuanceDuration).Record(workflow.Now(ctx).Sub(started))

	c.state = CertificateState{
		Revision: revision, Issued: &res.Issued, IssuedBy: issuer, SecretVersion: res.SecretVersion,
		SearchAttributes: c.state.SearchAttributes, Listed: c.state.Listed, ConfigVersion: c.state.ConfigVersion,
	}
	c.describeState()
	renewAt, recheck := c.renewalTime(ctx)
	// A certificate just issued is not renewed before a tenth of its life
	// has passed, whatever a window or the clock says: no reissue loop.
	renewAt = latest(renewAt, workflow.Now(ctx).Add(res.Issued.NotAfter.Sub(res.Issued.NotBefore)/10))
	c.status.RenewalTime = renewAt
	c.status.Step, c.status.Authorizations = "", nil
	setCondition(&c.status, condReady, condTrue, reasonIssued, "certificate is up to date and stored in Secret "+c.spec.Request.SecretName)
	setCondition(&c.status, condIssuing, condFalse, reasonIssued, "next renewal at "+renewAt.UTC().Format(time.RFC3339))
	c.status.Event = event("Normal", reasonIssued, fmt.Sprintf("issued revision %d by %s (serial %s), valid until %s",
		revision, issuer, res.Issued.Serial, res.Issued.NotAfter.UTC().Format(time.RFC3339)))
	publish(ctx, &c.status)
	return recheck, nil
}

// orderHere runs the attempt in this workflow: the Order's steps, in this
// run's history, which saves the start, the tasks and the end of a child.
// A renew that came meanwhile was for this attempt (a permit wait took it,
// or the attempt makes the certificate it asks for): it is dropped, as an
// Order child drops one it does not wait for.
func (c *certificate) orderHere(ctx workflow.Context, in OrderInput) (OrderResult, error) {
	res, err := attempt(ctx, in, false)
	for c.renews.ReceiveAsync(nil) {
	}
	return res, err
}

// orderInChild runs the attempt as an Order child workflow, as the runs of
// v0.1.0 did, and waits for its result. A renew that comes meanwhile is
// passed on: an Order waiting for a permit then asks for a forced one.
func (c *certificate) orderInChild(ctx workflow.Context, in OrderInput) (OrderResult, error) {
	childCtx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          activities.OrderWorkflowID(c.id, in.Revision, in.Attempt),
		WaitForCancellation: true,
		// A Certificate workflow terminated by hand, or ended some other way,
		// asks its Order to stop, and the Order cleans up as it stops.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		Priority:          orderPriority,
		StaticSummary:     fmt.Sprintf("%s via %s: revision %d, attempt %d", strings.Join(c.spec.Request.DNSNames, ", "), in.Issuer, in.Revision, in.Attempt),
	})
	order := workflow.ExecuteChildWorkflow(childCtx, Order, in)
	for done := false; !done; {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(order, func(workflow.Future) { done = true })
		sel.AddReceive(c.renews, func(ch workflow.ReceiveChannel, _ bool) {
			ch.Receive(ctx, nil)
			// Not waited for: an Order that has ended cannot take it.
			order.SignalChildWorkflow(ctx, SignalRenew, nil)
		})
		sel.Select(ctx)
	}
	var res OrderResult
	err := order.Get(ctx, &res)
	return res, err
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fail records a failed attempt, decides when the next one starts, and waits
// for it. Only a cancellation (the Certificate is being deleted) ends the run.
func (c *certificate) fail(ctx workflow.Context, err error) error {
	if temporal.IsCanceledError(err) || ctx.Err() != nil {
		return err
	}
	now := workflow.Now(ctx)
	f := failureOf(err, now)
	issuer := c.issuer()
	reason := failureReason(f)
	c.state.FailedAttempts++
	recordAttempt(ctx, issuer, reason)
	c.state.LastFailureTime, c.state.LastFailure = now, f.detail
	c.state.ForceRenewal, c.state.Renewed = false, false
	if f.kind == activities.ErrTypeRateLimited && c.state.RateLimitedSince.IsZero() {
		c.state.RateLimitedSince = now
	}
	if next, ok := c.fallback(f.kind, f.retryAt()); ok {
		c.state.IssuerIndex++
		c.state.RateLimitedSince = time.Time{}
		c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
		message := fmt.Sprintf("%s failed: %s; trying %s", issuer, f.detail, next)
		setCondition(&c.status, condIssuing, condTrue, reasonFallingBack, message)
		c.status.Event = event("Warning", reasonFallingBack, message)
		publish(ctx, &c.status)
		return nil // the next cycle orders from the next issuer at once
	}
	switch f.kind {
	case activities.ErrTypeRateLimited:
		c.state.NextAttemptReason = nextAttemptRateLimited
		// From the CA's refusal, not from now: a task that runs this again
		// later (its worker died) comes to the same time.
		c.state.NextAttemptTime = f.retryAt().Add(rateLimitJitter(f.retryAfter, fraction(c.id+f.detail)))
		recordRateLimitWait(ctx, issuer, waitCauseCA, c.state.NextAttemptTime.Sub(now))
	case activities.ErrTypeConfig:
		// Trying again cannot help until someone changes the issuer or a
		// Secret it reads (the controller says when), or the DNS service
		// outside the cluster: the longest backoff is the wait for that.
		c.state.NextAttemptReason = nextAttemptConfigChange
		c.state.NextAttemptTime = now.Add(cmp.Or(c.spec.Backoff.Max, defaultMaxBackoff))
		c.state.IssuerIndex, c.state.RateLimitedSince = 0, time.Time{}
	default:
		c.state.NextAttemptReason = nextAttemptBackoff
		c.state.NextAttemptTime = now.Add(backoff(c.state.FailedAttempts, fraction(c.id+strconv.Itoa(c.state.FailedAttempts)), c.spec.Backoff))
		// After the wait, start again with the first issuer.
		c.state.IssuerIndex, c.state.RateLimitedSince = 0, time.Time{}
	}
	c.describeState()
	c.state.FailedStep, c.state.FailureReason = f.step, reason
	nextAttempt := "next attempt at " + c.state.NextAttemptTime.UTC().Format(time.RFC3339)
	if c.state.NextAttemptReason == nextAttemptConfigChange {
		nextAttempt = "next attempt when the issuer or a Secret it reads changes, or at " + c.state.NextAttemptTime.UTC().Format(time.RFC3339)
	}
	message := fmt.Sprintf("attempt %d (%s) failed: %s; %s", c.state.FailedAttempts, issuer, f.detail, nextAttempt)
	setCondition(&c.status, condIssuing, condFalse, reason, message)
	if c.state.Issued == nil || !now.Before(c.state.Issued.NotAfter) {
		setCondition(&c.status, condReady, condFalse, reason, message)
	}
	c.status.Step = ""
	c.status.Event = event("Warning", reason, message)
	publish(ctx, &c.status)
	return c.wait(ctx, c.state.NextAttemptTime, c.retrySummary())
}

// issuer is the issuer the next attempt orders from.
func (c *certificate) issuer() activities.IssuerRef {
	if i := c.state.IssuerIndex; i > 0 && i <= len(c.spec.FallbackIssuers) {
		return c.spec.FallbackIssuers[i-1]
	}
	return c.spec.Issuer
}

// fallback says whether a failure of kind moves on to the next issuer, and
// which: when the current one refused for good (the CA, the account or the
// configuration), or when a rate limit holds it past FallbackAfter
// (rateLimitedUntil is when the current limit ends).
func (c *certificate) fallback(kind string, rateLimitedUntil time.Time) (activities.IssuerRef, bool) {
	if c.state.IssuerIndex >= len(c.spec.FallbackIssuers) {
		return activities.IssuerRef{}, false
	}
	next := c.spec.FallbackIssuers[c.state.IssuerIndex]
	switch kind {
	case activities.ErrTypeACMEPermanent, activities.ErrTypeConfig, activities.ErrTypeIssuerNotFound:
		return next, true
	case activities.ErrTypeRateLimited:
		held := rateLimitedUntil.Sub(c.state.RateLimitedSince)
		return next, held > cmp.Or(c.spec.FallbackAfter, defaultFallbackAfter)
	}
	return activities.IssuerRef{}, false
}

// failureReason is the conditions' reason for a failure.
func failureReason(f failure) string {
	switch f.kind {
	case activities.ErrTypeRateLimited:
		return reasonRateLimited
	case activities.ErrTypeIssuerNotFound:
		return reasonIssuerNotFound
	case activities.ErrTypeSecretConflict:
		return reasonSecretConflict
	case activities.ErrTypeConfig:
		return cmp.Or(f.reason, reasonFailed)
	}
	return reasonFailed
}

// rateLimitJitter spreads the certificates one rate limit stopped a little
// past the CA's Retry-After (up to a tenth of it, at most a minute), so they
// do not all ask again in the same second.
func rateLimitJitter(retryAfter time.Duration, fraction float64) time.Duration {
	return time.Duration(fraction * float64(min(retryAfter/10, time.Minute)))
}

// failure is what a failed attempt's error tells the workflow.
type failure struct {
	kind   string // an activities.ErrType*, or "" for any other error
	detail string
	// reason is a configuration error's class (activities.ConfigReason),
	// the conditions' reason.
	reason string
	// A rate limit's Retry-After (a minute when the CA named none), when
	// the CA refused (the wait ends at retryAt), and its detail in the CA's
	// words.
	retryAfter time.Duration
	refusedAt  time.Time
	caDetail   string
	// step is the step of the Order the attempt failed in, when it says.
	step string
}

func (f failure) retryAt() time.Time { return f.refusedAt.Add(f.retryAfter) }

// failureOf finds certflow's error type in the chain (activity and child
// workflow errors wrap it), the step it failed in and, for a rate limit, the
// CA's Retry-After. A rate limit that does not say when the CA refused
// counts from now.
func failureOf(err error, now time.Time) failure {
	f := findFailure(err, now)
	if app := applicationError(err, errTypeStepFailed); app != nil && app.HasDetails() {
		_ = app.Details(&f.step)
	}
	return f
}

// applicationError is the first ApplicationError of type typ in err's chain.
func applicationError(err error, typ string) *temporal.ApplicationError {
	for ; err != nil; err = errors.Unwrap(err) {
		if app, ok := err.(*temporal.ApplicationError); ok && app.Type() == typ {
			return app
		}
	}
	return nil
}

// findFailure is failureOf but for the step.
func findFailure(err error, now time.Time) failure {
	for e := err; e != nil; e = errors.Unwrap(e) {
		var app *temporal.ApplicationError
		if !errors.As(e, &app) {
			break
		}
		switch app.Type() {
		case activities.ErrTypeRateLimited:
			d := rateLimitDetails(app)
			f := failure{kind: app.Type(), detail: app.Message(), retryAfter: time.Duration(d.RetryAfterSeconds) * time.Second, refusedAt: d.RefusedAt, caDetail: d.Detail}
			if f.retryAfter <= 0 {
				f.retryAfter = activities.DefaultRetryAfter
			}
			if f.refusedAt.IsZero() || f.refusedAt.After(now) {
				f.refusedAt = now // unknown, or a worker's clock ahead of the server's
			}
			return f
		case activities.ErrTypeACMEPermanent, activities.ErrTypeConfig, activities.ErrTypeSecretConflict, activities.ErrTypeIssuerNotFound,
			activities.ErrTypePermitExpired:
			return failure{kind: app.Type(), detail: app.Message(), reason: activities.ConfigReason(app)}
		}
		e = app
	}
	return failure{detail: explain(err)}
}

// rateLimitDetails reads a rate limit's details; an error without them reads
// as zero (no Retry-After, refused now).
func rateLimitDetails(app *temporal.ApplicationError) activities.RateLimitDetails {
	var d activities.RateLimitDetails
	if app.HasDetails() {
		_ = app.Details(&d)
	}
	return d
}

func secretReason(r activities.InspectSecretResult) string {
	if r.Reason != "" {
		return r.Reason
	}
	return "Secret " + string(r.State)
}

// describeState copies what the state says into the status.
func (c *certificate) describeState() {
	s := &c.status
	s.ObservedGeneration = c.spec.Generation
	s.Revision = c.state.Revision
	if c.state.IssuedBy.Name != "" {
		s.IssuedBy = c.state.IssuedBy.String()
	}
	s.FailedAttempts = c.state.FailedAttempts
	s.LastFailureTime = c.state.LastFailureTime
	s.NextAttemptTime, s.NextAttemptReason = c.state.NextAttemptTime, c.state.NextAttemptReason
	if c.state.Issued != nil {
		s.NotBefore, s.NotAfter = c.state.Issued.NotBefore, c.state.Issued.NotAfter
	}
}
