package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// TestLimiterAnswersRequestsByUpdate: one update asks for three permits of a
// budget of two an hour; after the CA's block is reported by signal, a second
// asks again for the first (a retried activity) and for a fourth, which the
// block holds.
func TestLimiterAnswersRequestsByUpdate(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	env.RegisterWorkflowWithOptions(AccountLimiter, workflow.RegisterOptions{Name: activities.LimiterWorkflowName})
	twoAnHour := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 2, Period: time.Hour}}
	requests := []activities.PermitRequest{
		*ask(0, "a", twoAnHour, "a.example.com").request,
		*ask(0, "b", twoAnHour, "b.example.com").request,
		*ask(0, "c", twoAnHour, "c.example.com").request,
	}
	var first, again []activities.PermitGrant
	update := func(id string, into *[]activities.PermitGrant, rs ...activities.PermitRequest) func() {
		return func() {
			env.UpdateWorkflow(activities.UpdateRequestPermits, id, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { t.Errorf("update %s rejected: %v", id, err) },
				OnAccept: func() {},
				OnComplete: func(res any, err error) {
					if err != nil {
						t.Errorf("update %s: %v", id, err)
						return
					}
					*into = res.([]activities.PermitGrant)
				},
			}, rs)
		}
	}
	blockedUntil := testStart.Add(3 * time.Hour)
	env.RegisterDelayedCallback(update("first", &first, requests...), time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(activities.SignalRateLimited, activities.RateLimitReport{Until: blockedUntil})
	}, 2*time.Second)
	env.RegisterDelayedCallback(update("again", &again, requests[0], *ask(0, "d", twoAnHour, "d.example.com").request), 3*time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 4*time.Second)
	env.ExecuteWorkflow(AccountLimiter, activities.LimiterInput{Issuer: issuer})

	now := testStart.Add(time.Second)
	if len(first) != 3 || !first[0].At.Equal(now) || !first[1].At.Equal(now) || !first[2].At.After(now.Add(time.Hour-time.Second)) {
		t.Fatalf("first update's grants %+v, want two now and one an hour later", first)
	}
	// The repeat gets its first answer, though the CA's block came since.
	if len(again) != 2 || !again[0].At.Equal(first[0].At) || !again[1].At.Equal(blockedUntil) {
		t.Fatalf("second update's grants %+v, want %s again and %s", again, first[0].At, blockedUntil)
	}
}
