package permits_test

import (
	"testing"
	"time"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// TestAcquirePermitReturnsTheLimitersAnswer asks a real limiter (started by
// the first request, on the limiters' task queue) by update: the answer comes
// in the result, a retried request gets the same answer, and the budget of
// one per hour puts the second requester an hour (and its margin) later.
func TestAcquirePermitReturnsTheLimitersAnswer(t *testing.T) {
	a := startWorker(t)
	ref := createIssuer(t, "acquire", acmeSpec(&certflowv1.RateLimits{NewOrders: limit(1, time.Hour)}))
	ask := func(requester string) activities.RequestPermitResult {
		t.Helper()
		res, err := call[activities.RequestPermitResult](t, a, activities.AcquirePermitName, activities.RequestPermitInput{
			Issuer: ref, RequesterWorkflowID: requester, RequesterRunID: "run-1", Names: []string{requester + ".example.com"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first, again, second := ask("first"), ask("first"), ask("second")
	if first.Unlimited || first.LimiterWorkflowID != activities.LimiterWorkflowID(ref) || time.Since(first.Grant.At) > time.Minute ||
		first.AnsweredAt.Before(first.Grant.At) {
		t.Fatalf("first answer %+v, want a permit now", first)
	}
	if !again.Grant.At.Equal(first.Grant.At) {
		t.Fatalf("the repeated request got %s, want the first answer %s", again.Grant.At, first.Grant.At)
	}
	if d := second.Grant.At.Sub(first.Grant.At); d != time.Hour+time.Minute || second.Grant.Reason != "the account's order budget (1 per 1h) is used up" {
		t.Fatalf("second answer %+v, %s after the first; want an hour and a minute", second.Grant, d)
	}
}
