package workflows

import (
	"time"

	"github.com/certflow/certflow/activities"
	"go.temporal.io/sdk/workflow"
)

// wait blocks until the timer at until fires (no timer when until is zero) or
// a signal gives a reason to act sooner: a renewal forced, a spec signal
// after which the Certificate's spec or its Secret turn out to have changed,
// or one with a new configuration version while the Certificate waits for its
// configuration to change (hear). Before it blocks, it lists what changed
// (listing.go).
// A spec signal only says when to look (InspectSecret reads both again): a
// stale, repeated or made-up one costs a look and changes nothing. A
// cancellation (the Certificate is being deleted) returns the context's
// error.
//
// The timer's summary says what it waits for, in the Web UI.
func (c *certificate) wait(ctx workflow.Context, until time.Time, summary string) error {
	var timer workflow.Future
	if !until.IsZero() {
		if d := until.Sub(workflow.Now(ctx)); d > 0 {
			timer = workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: summary})
		} else {
			return nil
		}
	}
	for {
		c.list(ctx)
		act, look := false, false
		sel := workflow.NewSelector(ctx)
		if timer != nil {
			sel.AddFuture(timer, func(workflow.Future) { act = true })
		}
		sel.AddReceive(c.specs, func(ch workflow.ReceiveChannel, _ bool) {
			var hint SpecChanged
			ch.Receive(ctx, &hint)
			act = c.hear(ctx, hint)
			look = true
		})
		sel.AddReceive(c.renews, func(ch workflow.ReceiveChannel, _ bool) {
			ch.Receive(ctx, nil)
			c.applyRenew()
			act = true
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if look && !act {
			act = c.changed(ctx)
		}
		if act {
			return nil
		}
	}
}

// changed looks at the Certificate and its Secret again and says whether
// either changed: a newer generation of the spec, or a Secret version the
// workflow did not write itself (the controller's view may be older than
// the workflow's own write). A look that fails acts: the next cycle tells.
func (c *certificate) changed(ctx workflow.Context) bool {
	known := c.state.SecretVersion
	res, err := c.inspect(ctx)
	return err != nil || res.Spec == nil || res.Spec.Generation > c.spec.Generation || res.ResourceVersion != known
}

// drainSignals applies the signals that are already buffered, without
// waiting: the hint that came with SignalWithStart, and whatever arrived
// while the run finished its cycle (so nothing is lost across continue-as-new).
func (c *certificate) drainSignals(ctx workflow.Context) {
	for {
		var hint SpecChanged
		if !c.specs.ReceiveAsync(&hint) {
			break
		}
		c.hear(ctx, hint)
	}
	for c.renews.ReceiveAsync(nil) {
		c.applyRenew()
	}
}

// hear notes what a spec signal says: the generation it names, whether the
// workflow may set its search attributes, and the configuration's version. A new
// version while the Certificate waits for its configuration to change ends
// the wait: hear says to act now. A new version while it waits for nothing
// (it is up to date; the controller sends versions then only for a ca
// issuer, whose CA may have been renewed) makes it look at its Secret again.
func (c *certificate) hear(ctx workflow.Context, hint SpecChanged) (act bool) {
	c.heard = max(c.heard, hint.Generation)
	c.state.SearchAttributes = hint.SearchAttributes
	if hint.ConfigVersion == "" || hint.ConfigVersion == c.state.ConfigVersion {
		return false
	}
	c.state.ConfigVersion = hint.ConfigVersion
	switch c.state.NextAttemptReason {
	case nextAttemptConfigChange:
		c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
		return true
	case "":
		return workflow.GetVersion(ctx, changeLookAtNewCA, workflow.DefaultVersion, 1) == 1
	}
	return false
}

// changeLookAtNewCA versions the look at the Secret on a new configuration
// version when nothing is awaited: runs before it did not look.
const changeLookAtNewCA = "look-at-new-ca"

// applySpec takes the spec as read at the start of a cycle. A newer
// generation skips any backoff (the user changed something) and unblocks a
// Secret conflict; a new issuer reissues now (staging to production).
func (c *certificate) applySpec(spec activities.CertificateSpec) {
	if spec.Generation <= c.spec.Generation {
		c.spec = spec // the same generation; its issuer's backoff may have changed
		return
	}
	if c.spec.Generation > 0 && spec.Issuer != c.spec.Issuer {
		c.state.ForceRenewal = true
	}
	c.spec = spec
	c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
	c.state.Blocked = ""
}

// applyRenew forces a renewal now, skipping any backoff and certflow's own
// budgets.
func (c *certificate) applyRenew() {
	c.state.ForceRenewal, c.state.Renewed = true, true
	c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
}
