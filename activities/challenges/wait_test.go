package challenges

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
)

// neverThere is a challenge type whose responses are never reachable.
type neverThere struct{}

func (neverThere) Solver(context.Context, *issuers.Issuer, int, activities.CertificateRef) (Solver, error) {
	return nil, nil
}

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
	never := selfCheck{Presented: p, check: neverThere{}, giveUpAt: time.Now().Add(time.Hour)}
	checks, err := a.wait(ctx, []selfCheck{never}, 0, func(p Progress) { beats = append(beats, p) })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), fqdn+" not at ns1.certflow.test") {
		t.Fatalf("error = %v, want the deadline and what is missing where", err)
	}
	if checks < 5 || len(beats) < 5 || beats[len(beats)-1].Checks != checks-1 && beats[len(beats)-1].Checks != checks {
		t.Fatalf("checks = %d with %d heartbeats, want polling every 100ms and a heartbeat each round", checks, len(beats))
	}
}

func TestWaitGivesUpAtTheSelfCheckTimeoutSayingWhatIsMissing(t *testing.T) {
	a := &Activities{Types: map[string]Type{"test-01": neverThere{}}, PollInterval: 50 * time.Millisecond}
	fqdn := "_acme-challenge.late.certflow.test."
	p := activities.Presented{Identifier: "late.certflow.test", Challenge: activities.Challenge{Type: "test-01", FQDN: fqdn, Value: "v"}}
	giveUpAt := time.Now().Add(300 * time.Millisecond)
	_, err := a.wait(context.Background(), []selfCheck{{Presented: p, check: neverThere{}, giveUpAt: giveUpAt}}, 0, func(Progress) {})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeSelfCheckTimeout || !app.NonRetryable() {
		t.Fatalf("error = %v, want a non-retryable %s", err, activities.ErrTypeSelfCheckTimeout)
	}
	want := "the self-check gave up at " + giveUpAt.UTC().Format(time.TimeOnly) + "Z (the solver's selfCheckTimeout): " + fqdn + " not at ns1.certflow.test"
	if app.Message() != want {
		t.Fatalf("message %q, want %q", app.Message(), want)
	}
}

func TestWaitInsteadOfSelfCheckWaitsWithoutChecking(t *testing.T) {
	a := &Activities{PollInterval: 50 * time.Millisecond}
	p := activities.Presented{Identifier: "split.certflow.test", Challenge: activities.Challenge{Type: "test-01", FQDN: "_acme-challenge.split.certflow.test.", Value: "v"}}
	start := time.Now()
	waitUntil := start.Add(300 * time.Millisecond)
	var beats []Progress
	// check is nil: a check would panic.
	// giveUpAt, the selfCheckTimeout, is earlier: it bounds checks, not waits.
	_, err := a.wait(context.Background(), []selfCheck{{Presented: p, waitUntil: waitUntil, giveUpAt: start.Add(100 * time.Millisecond)}}, 0, func(p Progress) { beats = append(beats, p) })
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(waitUntil) {
		t.Fatalf("the wait ended %s early", time.Until(waitUntil))
	}
	if len(beats) == 0 || !strings.Contains(beats[0].String(), "not checked: waiting instead until") {
		t.Fatalf("heartbeats %v, want them to say the response is waited for, not checked", beats)
	}
}
