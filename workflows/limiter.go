package workflows

import (
	"cmp"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

const (
	// defaultContinueAfter keeps a run's history at a few thousand events: a
	// signalled request adds about four (signal, signal sent and
	// acknowledged, task), a batch of requests by update two and a task.
	defaultContinueAfter = 500
	// answerRetention: a requester asks again only while it waits for its
	// answer (a retried activity, or no answer after permitPatience), never
	// after its permit time; it tells what its attempt used within minutes
	// of it (an attempt that runs longer keeps what its permit counted).
	answerRetention = time.Hour
)

// AccountLimiter is the single decider of new-order permits for one issuer's
// ACME account. It answers each permit request with the earliest time at
// which every budget the order counts against has room (its share of the
// account's new orders, of each registered domain's certificates, and of
// duplicates of its set of names) and no CA rate limit is in force, records
// the permit at that time, and returns the grants of requests asked by
// update, or signals the grant to a requester that asked by signal.
// It runs as long as its issuer is used, continuing as new every
// defaultContinueAfter requests.
func AccountLimiter(ctx workflow.Context, in activities.LimiterInput) error {
	l := newLimiter(in)
	requests := workflow.GetSignalChannel(ctx, activities.SignalPermitRequest)
	reports := workflow.GetSignalChannel(ctx, activities.SignalRateLimited)
	outcomes := workflow.GetSignalChannel(ctx, activities.SignalPermitOutcome)
	err := workflow.SetUpdateHandler(ctx, activities.UpdateRequestPermits, func(ctx workflow.Context, rs []activities.PermitRequest) ([]activities.PermitGrant, error) {
		l.absorb(ctx, reports, outcomes)
		grants := make([]activities.PermitGrant, len(rs))
		for i, r := range rs {
			grants[i] = l.decide(ctx, r)
		}
		return grants, nil
	})
	if err != nil {
		return err
	}
	limit := cmp.Or(in.ContinueAfter, defaultContinueAfter)
	continueAsNew := func() bool { return l.handled >= limit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
	for !continueAsNew() {
		err := workflow.Await(ctx, func() bool { return requests.Len() > 0 || reports.Len() > 0 || outcomes.Len() > 0 || continueAsNew() })
		if err != nil {
			return err
		}
		l.drain(ctx, requests, reports, outcomes)
	}
	// Answer what is buffered and wait until every answer is delivered; only
	// then continue as new, so that no signal is lost between runs.
	for {
		if err := workflow.Await(ctx, func() bool { return l.sending == 0 }); err != nil {
			return err
		}
		if !l.drain(ctx, requests, reports, outcomes) {
			break
		}
	}
	l.bound(ctx)
	return workflow.NewContinueAsNewError(ctx, activities.LimiterWorkflowName, activities.LimiterInput{
		Issuer: in.Issuer, State: l.state, ContinueAfter: in.ContinueAfter,
	})
}

type limiter struct {
	issuer  activities.IssuerRef
	state   activities.LimiterState
	handled int // requests answered by this run
	sending int // answers not yet acknowledged by the server
	// pruned is the time and the budgets of the last prune: the requests of
	// one workflow task share its time and, mostly, their budgets, so a burst
	// of hundreds is pruned once, not once per request.
	prunedAt     time.Time
	prunedLimits activities.RateLimits
}

func newLimiter(in activities.LimiterInput) *limiter {
	l := &limiter{issuer: in.Issuer, state: in.State}
	if l.state.Domains == nil {
		l.state.Domains = map[string][]time.Time{}
	}
	if l.state.Duplicates == nil {
		l.state.Duplicates = map[string][]time.Time{}
	}
	if l.state.Answered == nil {
		l.state.Answered = map[string]activities.PermitGrant{}
	}
	if l.state.BlockedIdentifiers == nil {
		l.state.BlockedIdentifiers = map[string]time.Time{}
	}
	if l.state.BlockedNameSets == nil {
		l.state.BlockedNameSets = map[string]time.Time{}
	}
	if l.state.FailedValidations == nil {
		l.state.FailedValidations = map[string][]time.Time{}
	}
	return l
}

// drain handles the signals already buffered, without waiting, and says
// whether there were any: the CA's blocks and what permits were used for
// first, so that the requests see them.
func (l *limiter) drain(ctx workflow.Context, requests, reports, outcomes workflow.ReceiveChannel) bool {
	found := l.absorb(ctx, reports, outcomes)
	for {
		var r activities.PermitRequest
		if !requests.ReceiveAsync(&r) {
			break
		}
		l.answer(ctx, r, l.decide(ctx, r))
		found = true
	}
	return found
}

// absorb handles the CA's blocks and what permits were used for, already
// buffered, and says whether there were any.
func (l *limiter) absorb(ctx workflow.Context, reports, outcomes workflow.ReceiveChannel) bool {
	found := false
	for {
		var r activities.RateLimitReport
		if !reports.ReceiveAsync(&r) {
			break
		}
		l.report(ctx, r)
		found = true
	}
	for {
		var o activities.PermitOutcome
		if !outcomes.ReceiveAsync(&o) {
			break
		}
		l.settle(ctx, o)
		found = true
	}
	return found
}

// report records a block: no permit for the orders the CA's limit is on
// before r.Until.
func (l *limiter) report(ctx workflow.Context, r activities.RateLimitReport) {
	later := func(m map[string]time.Time, key string) {
		if r.Until.After(m[key]) {
			m[key] = r.Until
		}
	}
	switch {
	case len(r.Names) > 0:
		later(l.state.BlockedNameSets, nameSetKey(r.Names))
	case r.Identifier != "":
		later(l.state.BlockedIdentifiers, r.Identifier)
	case r.Guessed && r.Until.After(l.state.GuessedUntil):
		l.state.GuessedUntil = r.Until
	case !r.Guessed && r.Until.After(l.state.BlockedUntil):
		l.state.BlockedUntil = r.Until
	}
	workflow.GetLogger(ctx).Info("the CA rate-limited orders", "issuer", l.issuer.String(), "identifier", r.Identifier,
		"names", strings.Join(r.Names, ","), "until", r.Until.UTC().Format(time.RFC3339), "detail", r.Detail)
}

// decide answers one permit request: the same answer again when the
// requester asked before for this attempt, else a new grant (releasing the
// permit of an earlier attempt, which the requester did not use).
func (l *limiter) decide(ctx workflow.Context, r activities.PermitRequest) activities.PermitGrant {
	l.handled++
	now := workflow.Now(ctx)
	if !now.Equal(l.prunedAt) || r.Limits != l.prunedLimits {
		l.prune(now, r.Limits)
		l.prunedAt, l.prunedLimits = now, r.Limits
	}
	key := r.RequesterWorkflowID + " " + r.RequesterRunID
	g, ok := l.state.Answered[key]
	if !ok || r.Attempt > g.Attempt {
		if ok {
			l.release(r, g.At)
		}
		g = l.grant(now, r)
		g.Attempt = r.Attempt
		l.state.Answered[key] = g
		workflow.GetMetricsHandler(ctx).WithTags(issuerTags(l.issuer)).Counter(MetricLimiterPermits).Inc(1)
		l.recordOrderBudget(ctx, now)
		if g.At.After(now) {
			workflow.GetLogger(ctx).Info("permit for later", "issuer", l.issuer.String(), "requester", r.RequesterWorkflowID,
				"at", g.At.UTC().Format(time.RFC3339), "reason", g.Reason)
		}
	}
	return g
}

// answer signals the grant to the requester without waiting for the server's
// acknowledgement; a requester that is gone (cancelled, terminated) is
// logged: its permit stays counted, as the CA may have seen its order.
func (l *limiter) answer(ctx workflow.Context, r activities.PermitRequest, g activities.PermitGrant) {
	f := workflow.SignalExternalWorkflow(ctx, r.RequesterWorkflowID, r.RequesterRunID, activities.SignalPermit, g)
	l.sending++
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { l.sending-- }()
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("sending a permit", "issuer", l.issuer.String(), "requester", r.RequesterWorkflowID, "error", err)
		}
	})
}
