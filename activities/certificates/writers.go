package certificates

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/activities"
)

// Writers says which workflows may write a Certificate's status and Events:
// its own workflow, and the Orders the Temporal server records as that
// workflow's children. A workflow ID is whatever its starter chose, so an
// Order's ID that extends the Certificate's proves nothing; its parent, which
// only the server records, does. A hand-started workflow then cannot make a
// Certificate look Ready, failed or anything else.
type Writers struct {
	// Temporal describes the writing workflow.
	Temporal client.Client
	// Cluster is the cluster's name in workflow IDs.
	Cluster string
	// Certificates reads the Certificate for the Event of a refusal.
	Certificates *Reader

	mu       sync.Mutex
	children map[string]bool // Order run IDs known to be children of their Certificate's workflow
}

// maxKnownChildren bounds the runs Writers remembers: about the Orders of
// an hour of a large cluster's issuances; forgetting costs one describe.
const maxKnownChildren = 10000

// Check returns nil when the workflow running the activity may write the
// status of the Certificate, and refuses it (non-retryable ErrTypeMismatch,
// a log line and a Warning Event) when it may not.
func (w *Writers) Check(ctx context.Context, ref activities.CertificateRef) error {
	run := activity.GetInfo(ctx).WorkflowExecution
	own := activities.CertificateWorkflowID(w.Cluster, ref)
	if run.ID == own {
		return nil
	}
	if strings.HasPrefix(run.ID, own+"/order/") {
		child, err := w.childOf(ctx, run.ID, run.RunID, own)
		if err != nil || child {
			return err
		}
	}
	cert, err := w.Certificates.Read(ctx, ref, 0)
	if err != nil {
		return err
	}
	return w.Certificates.refuse(ctx, ref, cert, fmt.Sprintf("workflow %s is neither %s nor an Order it started, and may not write its status", run.ID, own))
}

// childOf says whether the run is a child of workflow parent, as the
// Temporal server recorded it.
func (w *Writers) childOf(ctx context.Context, id, runID, parent string) (bool, error) {
	w.mu.Lock()
	known := w.children[runID]
	w.mu.Unlock()
	if known {
		return true, nil
	}
	desc, err := w.Temporal.DescribeWorkflowExecution(ctx, id, runID)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("describing workflow %s: %w", id, err)
	}
	if desc.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId() != parent {
		return false, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.children == nil || len(w.children) >= maxKnownChildren {
		w.children = map[string]bool{}
	}
	w.children[runID] = true
	return true, nil
}
