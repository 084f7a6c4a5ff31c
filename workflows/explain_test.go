package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// TestExplainSaysTheCauseOnceWithoutTemporalsWrappers: an activity's
// wrapped error, wrapped again by the child workflow that ran it, reaches
// the parent as Temporal's chain of failures; explained, it is each step
// and the cause once, without IDs, type names or retry flags.
func TestExplainSaysTheCauseOnceWithoutTemporalsWrappers(t *testing.T) {
	cases := map[string]string{
		"Present":         "ordering: Present: presenting TXT _acme-challenge.sumguy.com.: rfc2136: finding the zone at 127.0.0.1:35447: no SOA in the answer (REFUSED)",
		"WaitPropagation": "ordering: WaitPropagation: the self-check gave up at 14:44:40Z",
	}
	for step, want := range cases {
		t.Run(step, func(t *testing.T) {
			env := explainEnv()
			env.ExecuteWorkflow("Attempt", step)
			var got string
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("explained:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// explainEnv runs Attempt, which runs the child workflow Step, which runs
// one activity that fails; Attempt returns the explained error.
func explainEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(func(context.Context) error {
		refused := errors.New("no SOA in the answer (REFUSED)")
		return fmt.Errorf("presenting TXT _acme-challenge.sumguy.com.: %w", fmt.Errorf("rfc2136: finding the zone at 127.0.0.1:35447: %w", refused))
	}, activity.RegisterOptions{Name: "Present"})
	env.RegisterActivityWithOptions(func(context.Context) error {
		return temporal.NewNonRetryableApplicationError("the self-check gave up at 14:44:40Z", "SelfCheckTimeout", nil)
	}, activity.RegisterOptions{Name: "WaitPropagation"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, step string) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		if err := workflow.ExecuteActivity(ctx, step).Get(ctx, nil); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		return nil
	}, workflow.RegisterOptions{Name: "Step"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, step string) (string, error) {
		err := workflow.ExecuteChildWorkflow(ctx, "Step", step).Get(ctx, nil)
		return explain(fmt.Errorf("ordering: %w", err)), nil
	}, workflow.RegisterOptions{Name: "Attempt"})
	return env
}
