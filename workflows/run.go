package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// execute runs an activity with the options ctx carries and waits for its
// result.
func execute[In, Out any](ctx workflow.Context, a activities.Activity[In, Out], in In) (Out, error) {
	var out Out
	err := workflow.ExecuteActivity(ctx, a.Name(), in).Get(ctx, &out)
	return out, err
}

// executeLocal runs an activity as a local activity, in the workflow task,
// with no round trip of its own through the server, and waits for its result.
func executeLocal[In, Out any](ctx workflow.Context, a activities.Activity[In, Out], in In) (Out, error) {
	var out Out
	err := workflow.ExecuteLocalActivity(ctx, a.Name(), in).Get(ctx, &out)
	return out, err
}

// startLocal starts a local activity without waiting for it.
func startLocal[In, Out any](ctx workflow.Context, a activities.Activity[In, Out], in In) workflow.Future {
	return workflow.ExecuteLocalActivity(ctx, a.Name(), in)
}
