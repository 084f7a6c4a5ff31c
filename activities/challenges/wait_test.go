package challenges

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
)

// neverThere is a challenge type whose responses are never reachable.
type neverThere struct{}

func (neverThere) Solver(context.Context, *issuers.Issuer, int) (Solver, error) { return nil, nil }

func (neverThere) Reachable(context.Context, activities.Presented) (string, error) {
	return "not at ns1.certflow.test", nil
}

func TestWaitGivesUpWhenTheContextEndsAndSaysWhatIsMissing(t *testing.T) {
	a := &Activities{Types: map[string]Type{"test-01": neverThere{}}, PollInterval: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	fqdn := "_acme-challenge.never.certflow.test."
	p := activities.Presented{Identifier: "never.certflow.test", Challenge: activities.Challenge{Type: "test-01", FQDN: fqdn, Value: "v"}}
	var beats []Progress
	checks, err := a.wait(ctx, []activities.Presented{p}, 0, func(p Progress) { beats = append(beats, p) })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), fqdn+" not at ns1.certflow.test") {
		t.Fatalf("error = %v, want the deadline and what is missing where", err)
	}
	if checks < 5 || len(beats) < 5 || beats[len(beats)-1].Checks != checks-1 && beats[len(beats)-1].Checks != checks {
		t.Fatalf("checks = %d with %d heartbeats, want polling every 100ms and a heartbeat each round", checks, len(beats))
	}
}
