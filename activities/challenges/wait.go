package challenges

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/certflow/certflow/activities"
)

// Progress is WaitPropagation's heartbeat detail: how many rounds of checks
// ran and what is still missing where. When an attempt times out, the
// workflow finds the last one in the timeout error's heartbeat details, and a
// retried attempt continues the count.
type Progress struct {
	Checks  int
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
// poll waits out. The activity's StartToClose and heartbeat timeouts bound
// the wait; Checks in the result counts rounds.
//
// With LookFor set it is a quick look, run as a local activity before the
// wait: it stops checking after LookFor and reports, without an error,
// whether every response was reachable by then.
func (a *Activities) WaitPropagation(ctx context.Context, in activities.WaitPropagationInput) (activities.WaitPropagationResult, error) {
	start := time.Now()
	for _, p := range in.Presented {
		if _, ok := a.Types[p.Type]; !ok {
			return activities.WaitPropagationResult{}, activities.ConfigError("challenge type %s is not supported", p.Type)
		}
	}
	var earlier Progress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &earlier) // only a count: a bad detail restarts it
	}
	waitCtx := ctx
	if in.LookFor > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, in.LookFor)
		defer cancel()
	}
	checks, err := a.wait(waitCtx, in.Presented, earlier.Checks, func(p Progress) { activity.RecordHeartbeat(ctx, p) })
	res := activities.WaitPropagationResult{Checks: checks, Elapsed: time.Since(start), Visible: err == nil}
	if in.LookFor > 0 && ctx.Err() == nil && waitCtx.Err() != nil {
		return res, nil // the look is over: not reachable yet
	}
	return res, err
}

// slowRound is how long a round of checks may go without a heartbeat, well
// inside any heartbeat timeout worth setting.
const slowRound = 5 * time.Second

// wait polls until every response is reachable or ctx ends. heartbeat gets
// the progress after each round that leaves something missing.
func (a *Activities) wait(ctx context.Context, presented []activities.Presented, checks int, heartbeat func(Progress)) (int, error) {
	pending := presented
	last := Progress{Checks: checks}
	for _, p := range pending {
		last.Pending = append(last.Pending, Pending{Name: where(p), Error: "not checked yet"})
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
		var still []activities.Presented
		round := Progress{Checks: checks}
		for _, p := range pending {
			if time.Since(lastBeat) > slowRound {
				// Checks against unreachable servers wait out their timeouts:
				// keep the heartbeat going with what the last round found.
				heartbeat(last)
				lastBeat = time.Now()
			}
			// One check is several exchanges in a row: when every answer is
			// slow, it alone can outlast the heartbeat timeout.
			stopBeating := activities.BeatEvery(slowRound, func() { heartbeat(last) })
			missing, err := a.Types[p.Type].Reachable(ctx, p)
			stopBeating()
			switch {
			case err != nil:
				round.Pending = append(round.Pending, Pending{Name: where(p), Error: err.Error()})
			case missing != "":
				round.Pending = append(round.Pending, Pending{Name: where(p), Missing: missing})
			default:
				continue
			}
			still = append(still, p)
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if ctx.Err() == nil { // a round cut short by the deadline says nothing new
			last = round
		}
		heartbeat(round)
		lastBeat = time.Now()
		timer.Reset(a.pollInterval())
	}
	return checks, nil
}

// where names a response as the CA looks for it.
func where(p activities.Presented) string {
	if p.FQDN != "" {
		return p.FQDN
	}
	return p.Identifier
}
