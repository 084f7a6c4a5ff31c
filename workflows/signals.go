package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// wait blocks until the timer at until fires (no timer when until is zero) or
// a signal gives a reason to act sooner: a renewal forced, a newer spec, or a
// Secret that changed. Signals that change nothing (a stale or repeated spec)
// keep it waiting. A cancellation (the Certificate is being deleted) returns
// the context's error.
func (c *certificate) wait(ctx workflow.Context, until time.Time) error {
	var timer workflow.Future
	if !until.IsZero() {
		if d := until.Sub(workflow.Now(ctx)); d > 0 {
			timer = workflow.NewTimer(ctx, d)
		} else {
			return nil
		}
	}
	for {
		act := false
		sel := workflow.NewSelector(ctx)
		if timer != nil {
			sel.AddFuture(timer, func(workflow.Future) { act = true })
		}
		sel.AddReceive(c.specs, func(ch workflow.ReceiveChannel, _ bool) {
			var spec CertificateSpec
			ch.Receive(ctx, &spec)
			act = c.applySpec(spec)
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
		if act {
			return nil
		}
	}
}

// drainSignals applies the signals that are already buffered, without
// waiting: the spec that came with SignalWithStart, and whatever arrived
// while the run finished its cycle (so nothing is lost across continue-as-new).
func (c *certificate) drainSignals(ctx workflow.Context) {
	for {
		var spec CertificateSpec
		if !c.specs.ReceiveAsync(&spec) {
			break
		}
		c.applySpec(spec)
	}
	for c.renews.ReceiveAsync(nil) {
		c.applyRenew()
	}
}

// applySpec takes a newer spec (skipping any backoff: the user changed
// something), or notes a Secret changed by someone else. It reports whether
// the workflow should act on it now.
func (c *certificate) applySpec(spec CertificateSpec) bool {
	switch {
	case spec.Generation > c.spec.Generation:
		c.spec = spec
		c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
		c.state.Blocked = ""
		return true
	case spec.Generation == c.spec.Generation && spec.SecretResourceVersion != c.state.SecretVersion:
		c.spec.SecretResourceVersion = spec.SecretResourceVersion
		return true
	}
	return false
}

// applyRenew forces a renewal now, skipping any backoff.
func (c *certificate) applyRenew() {
	c.state.ForceRenewal = true
	c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
}
