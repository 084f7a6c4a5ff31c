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
	Pending []PendingRecord
}

// PendingRecord is a record not visible everywhere yet.
type PendingRecord struct {
	FQDN string
	// Missing lists the nameservers (host:port) that do not have the value.
	Missing []string
	// Error is the last check's error, when the check itself failed.
	Error string
}

func (p Progress) String() string {
	parts := make([]string, len(p.Pending))
	for i, r := range p.Pending {
		switch {
		case r.Error != "":
			parts[i] = r.FQDN + " (" + r.Error + ")"
		default:
			parts[i] = r.FQDN + " not at " + strings.Join(r.Missing, ", ")
		}
	}
	return strings.Join(parts, "; ")
}

// WaitPropagation checks every record until each is visible on all of its
// zone's authoritative nameservers (or on the resolvers, in resolvers-only
// mode), a round of checks every PollInterval, heartbeating after each round.
// A record seen everywhere once is not checked again. A check that fails (a
// timeout, a SERVFAIL) counts as not visible yet: DNS hiccups are what this
// poll waits out. The activity's StartToClose and heartbeat timeouts bound
// the wait; Checks in the result counts rounds.
//
// With LookFor set it is a quick look, run as a local activity before the
// wait: it stops checking after LookFor and reports, without an error,
// whether every record was visible by then.
func (a *Activities) WaitPropagation(ctx context.Context, in activities.WaitPropagationInput) (activities.WaitPropagationResult, error) {
	start := time.Now()
	if a.Checker == nil || len(a.Checker.Resolvers) == 0 {
		return activities.WaitPropagationResult{}, configError("checking DNS propagation: the worker has no DNS resolvers configured")
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
	checks, err := a.wait(waitCtx, in.Records, earlier.Checks, func(p Progress) { activity.RecordHeartbeat(ctx, p) })
	res := activities.WaitPropagationResult{Checks: checks, Elapsed: time.Since(start), Visible: err == nil}
	if in.LookFor > 0 && ctx.Err() == nil && waitCtx.Err() != nil {
		return res, nil // the look is over: not visible yet
	}
	return res, err
}

// slowRound is how long a round of checks may go without a heartbeat, well
// inside any heartbeat timeout worth setting.
const slowRound = 5 * time.Second

// wait polls until every record is visible or ctx ends. heartbeat gets the
// progress after each round that leaves something missing.
func (a *Activities) wait(ctx context.Context, records []activities.PresentedRecord, checks int, heartbeat func(Progress)) (int, error) {
	pending := unique(records)
	last := Progress{Checks: checks}
	for _, rec := range pending {
		last.Pending = append(last.Pending, PendingRecord{FQDN: rec.FQDN, Error: "not checked yet"})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastBeat := time.Now()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return checks, fmt.Errorf("waiting for DNS propagation: %s: %w", last, ctx.Err())
		case <-timer.C:
		}
		checks++
		var still []activities.PresentedRecord
		p := Progress{Checks: checks}
		for _, rec := range pending {
			if time.Since(lastBeat) > slowRound {
				// Checks against unreachable servers wait out their timeouts:
				// keep the heartbeat going with what the last round found.
				heartbeat(last)
				lastBeat = time.Now()
			}
			// One check is several DNS exchanges in a row: when every answer
			// is slow, it alone can outlast the heartbeat timeout.
			stopBeating := activities.BeatEvery(slowRound, func() { heartbeat(last) })
			res, err := a.Checker.Check(ctx, rec.FQDN, rec.Value)
			stopBeating()
			switch {
			case err != nil:
				p.Pending = append(p.Pending, PendingRecord{FQDN: rec.FQDN, Error: err.Error()})
			case !res.Ready:
				p.Pending = append(p.Pending, PendingRecord{FQDN: rec.FQDN, Missing: res.Missing})
			default:
				continue
			}
			still = append(still, rec)
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if ctx.Err() == nil { // a round cut short by the deadline says nothing new
			last = p
		}
		heartbeat(p)
		lastBeat = time.Now()
		timer.Reset(a.pollInterval())
	}
	return checks, nil
}

// unique drops repeated (name, value) pairs.
func unique(records []activities.PresentedRecord) []activities.PresentedRecord {
	var out []activities.PresentedRecord
	seen := map[[2]string]bool{}
	for _, rec := range records {
		if key := [2]string{rec.FQDN, rec.Value}; !seen[key] {
			seen[key] = true
			out = append(out, rec)
		}
	}
	return out
}
