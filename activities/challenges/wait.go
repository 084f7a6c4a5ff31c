package challenges

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

// DefaultSelfCheckTimeout is how long a response may take to be reachable
// when its solver sets no selfCheckTimeout.
const DefaultSelfCheckTimeout = 10 * time.Minute

// Progress is WaitPropagation's heartbeat detail: how many rounds of checks
// ran and what is still missing where. When an attempt times out, the
// workflow finds the last one in the timeout error's heartbeat details, and a
// retried attempt continues the count and the clock.
type Progress struct {
	Checks int
	// Since is when the wait's first attempt began: retried attempts keep
	// it, so that a solver's selfCheckTimeout bounds the whole wait.
	Since   time.Time `json:",omitzero"`
	Pending []Pending
}

// Pending is a response not reachable everywhere yet.
type Pending struct {
	// Name is where the CA will look: the record's name, or the URL.
	Name string
	// Missing says where it is not reachable yet.
	Missing string
	// Error is the last check's error, when the check itself failed.
	Error string
}

func (p Progress) String() string {
	parts := make([]string, len(p.Pending))
	for i, r := range p.Pending {
		switch {
		case r.Error != "":
			parts[i] = r.Name + " (" + r.Error + ")"
		default:
			parts[i] = r.Name + " " + r.Missing
		}
	}
	return strings.Join(parts, "; ")
}

// WaitPropagation checks every response until each is reachable where the
// CA will look, a round of checks every PollInterval, heartbeating after
// each round. A response seen once is not checked again. A check that fails
// (a timeout, a SERVFAIL) counts as not reachable yet: hiccups are what this
// poll waits out. Each response's solver bounds the wait with its
// selfCheckTimeout (DefaultSelfCheckTimeout), after which the attempt fails
// saying what is missing where; a solver with waitInsteadOfSelfCheck is not
// checked but waited for. Checks in the result counts rounds.
//
// With LookFor set it is a quick look, run as a local activity before the
// wait: it stops checking after LookFor and reports, without an error,
// whether every response was reachable by then.
func (a *Activities) WaitPropagation(ctx context.Context, in activities.WaitPropagationInput) (activities.WaitPropagationResult, error) {
	start := time.Now()
	earlier := Progress{Since: start}
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &earlier) // a count and a time: a bad detail restarts them
		if earlier.Since.IsZero() || earlier.Since.After(start) {
			earlier.Since = start
		}
	}
	responses, err := a.selfChecks(ctx, in, earlier.Since)
	if err != nil {
		return activities.WaitPropagationResult{}, err
	}
	waitCtx := ctx
	if in.LookFor > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, in.LookFor)
		defer cancel()
	}
	checks, err := a.wait(waitCtx, responses, earlier.Checks, func(p Progress) {
		p.Since = earlier.Since
		activity.RecordHeartbeat(ctx, p)
	})
	res := activities.WaitPropagationResult{Checks: checks, Elapsed: time.Since(start), Visible: err == nil}
	if in.LookFor > 0 && ctx.Err() == nil && waitCtx.Err() != nil {
		return res, nil // the look is over: not reachable yet
	}
	return res, err
}

// selfCheck is one response to wait for, as its solver says.
type selfCheck struct {
	activities.Presented
	// check is its challenge type's reachability check.
	check Type
	// waitUntil, when set, replaces the check: the response counts as
	// reachable from then on (waitInsteadOfSelfCheck).
	waitUntil time.Time
	// giveUpAt ends the wait for it (selfCheckTimeout).
	giveUpAt time.Time
}

// selfChecks reads how each response is waited for from its solver, the
// wait having begun at since.
func (a *Activities) selfChecks(ctx context.Context, in activities.WaitPropagationInput, since time.Time) ([]selfCheck, error) {
	iss, err := a.Issuers.Resolve(ctx, in.Issuer)
	if err != nil {
		return nil, err
	}
	if iss.Spec.ACME == nil {
		return nil, activities.ConfigError("%s is not an ACME issuer: it has no solvers", in.Issuer)
	}
	solvers := iss.Spec.ACME.Solvers
	checks := make([]selfCheck, len(in.Presented))
	for i, p := range in.Presented {
		typ, ok := a.Types[p.Type]
		if !ok {
			return nil, activities.ConfigError("challenge type %s is not supported", p.Type)
		}
		if p.Solver < 0 || p.Solver >= len(solvers) {
			return nil, activities.ConfigError("%s has no solver %d (it has %d): the issuer changed during the issuance", in.Issuer, p.Solver, len(solvers))
		}
		s := solvers[p.Solver]
		checks[i] = selfCheck{Presented: p, check: typ, giveUpAt: since.Add(DefaultSelfCheckTimeout)}
		if s.SelfCheckTimeout != nil {
			checks[i].giveUpAt = since.Add(s.SelfCheckTimeout.Duration)
		}
		if s.WaitInsteadOfSelfCheck != nil {
			checks[i].waitUntil = since.Add(s.WaitInsteadOfSelfCheck.Duration)
		}
	}
	return checks, nil
}

// reachable checks once whether the response is where the CA will look, or
// with waitInsteadOfSelfCheck whether the wait is over.
func (c selfCheck) reachable(ctx context.Context) (missing string, err error) {
	if c.waitUntil.IsZero() {
		return c.check.Reachable(ctx, c.Presented)
	}
	if time.Now().Before(c.waitUntil) {
		return "not checked: waiting instead until " + c.waitUntil.UTC().Format(time.TimeOnly) + "Z", nil
	}
	return "", nil
}

// slowRound is how long a round of checks may go without a heartbeat, well
// inside any heartbeat timeout worth setting.
const slowRound = 5 * time.Second

// wait polls until every response is reachable, one is still not at its
// giveUpAt, or ctx ends. heartbeat gets the progress after each round that
// leaves something missing.
func (a *Activities) wait(ctx context.Context, responses []selfCheck, checks int, heartbeat func(Progress)) (int, error) {
	pending := responses
	last := Progress{Checks: checks}
	for _, c := range pending {
		last.Pending = append(last.Pending, Pending{Name: where(c.Presented), Error: "not checked yet"})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastBeat := time.Now()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return checks, fmt.Errorf("waiting for the challenge responses to propagate: %s: %w", last, ctx.Err())
		case <-timer.C:
		}
		checks++
		var still []selfCheck
		round := Progress{Checks: checks}
		for _, c := range pending {
			if time.Since(lastBeat) > slowRound {
				// Checks against unreachable servers wait out their timeouts:
				// keep the heartbeat going with what the last round found.
				heartbeat(last)
				lastBeat = time.Now()
			}
			// One check is several exchanges in a row: when every answer is
			// slow, it alone can outlast the heartbeat timeout.
			stopBeating := activities.BeatEvery(slowRound, func() { heartbeat(last) })
			missing, err := c.reachable(ctx)
			stopBeating()
			switch {
			case err != nil:
				round.Pending = append(round.Pending, Pending{Name: where(c.Presented), Error: err.Error()})
			case missing != "":
				round.Pending = append(round.Pending, Pending{Name: where(c.Presented), Missing: missing})
			default:
				continue
			}
			still = append(still, c)
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if ctx.Err() == nil { // a round cut short by the deadline says nothing new
			last = round
		}
		if err := gaveUp(pending, round); err != nil {
			return checks, err
		}
		heartbeat(round)
		lastBeat = time.Now()
		timer.Reset(a.pollInterval())
	}
	return checks, nil
}

// gaveUp fails the wait when a response still checked is past its
// giveUpAt, saying what the last round found. A response waited for
// instead of checked is not given up on: its wait ends by itself.
func gaveUp(pending []selfCheck, round Progress) error {
	for _, c := range pending {
		if c.waitUntil.IsZero() && time.Now().After(c.giveUpAt) {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("the self-check gave up at %s (the solver's selfCheckTimeout): %s", c.giveUpAt.UTC().Format(time.TimeOnly)+"Z", round),
				activities.ErrTypeSelfCheckTimeout, nil)
		}
	}
	return nil
}

// where names a response as the CA looks for it.
func where(p activities.Presented) string {
	switch {
	case p.FQDN != "":
		return p.FQDN
	case p.Type == "http-01":
		return activities.HTTP01URL(p.Identifier, p.Token)
	}
	return p.Identifier
}
