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
		secretChanged := false
		sel.AddReceive(c.specs, func(ch workflow.ReceiveChannel, _ bool) {
			var spec CertificateSpec
			ch.Receive(ctx, &spec)
			switch c.applySpec(spec) {
			case newSpec:
				act = true
			case secretMaybeChanged:
				secretChanged = true
			}
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
		if secretChanged {
			// The controller's view may be older than our own write (a signal
			// sent before the Secret was stored, delivered after): look again.
			known := c.state.SecretVersion
			if _, err := c.inspect(ctx); err != nil || c.state.SecretVersion != known {
				act = true
			}
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

// What a spec signal means to a waiting workflow.
type specChange int

const (
	sameSpec           specChange = iota // stale or repeated: nothing to do
	newSpec                              // a newer generation: act now
	secretMaybeChanged                   // the controller saw another Secret version than ours
)

// applySpec takes a newer spec (skipping any backoff: the user changed
// something), or notes that the controller saw a Secret version other than
// the one the workflow knows.
func (c *certificate) applySpec(spec CertificateSpec) specChange {
	switch {
	case spec.Generation > c.spec.Generation:
		if spec.Issuer != c.spec.Issuer {
			// Moving to another issuer (staging to production) reissues now.
			c.state.ForceRenewal = true
		}
		c.spec = spec
		c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
		c.state.Blocked = ""
		return newSpec
	case spec.Generation == c.spec.Generation && spec.SecretResourceVersion != c.state.SecretVersion:
		return secretMaybeChanged
	}
	return sameSpec
}

// applyRenew forces a renewal now, skipping any backoff.
func (c *certificate) applyRenew() {
	c.state.ForceRenewal = true
	c.state.NextAttemptTime, c.state.NextAttemptReason = time.Time{}, ""
}
