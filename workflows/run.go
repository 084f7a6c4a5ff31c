package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Each activity runs with the options ctx carries and a summary of what it
// does for whom (activitySummary), which the Web UI shows.

// execute runs an activity and waits for its result.
func execute[In, Out any](ctx workflow.Context, a activities.Activity[In, Out], in In) (Out, error) {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = activitySummary(in)
	var out Out
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.Name(), in).Get(ctx, &out)
	return out, err
}

// executeLocal runs an activity as a local activity, in the workflow task,
// with no round trip of its own through the server, and waits for its result.
func executeLocal[In, Out any](ctx workflow.Context, a activities.Activity[In, Out], in In) (Out, error) {
	var out Out
	err := startLocal(ctx, a, in).Get(ctx, &out)
	return out, err
}

// startLocal starts a local activity without waiting for it.
func startLocal[In, Out any](ctx workflow.Context, a activities.Activity[In, Out], in In) workflow.Future {
	opts := workflow.GetLocalActivityOptions(ctx)
	opts.Summary = activitySummary(in)
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), a.Name(), in)
}
