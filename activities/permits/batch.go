package permits

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/activities"
)

// The permit requests of one worker process go to each limiter in batches,
// by update (activities.UpdateRequestPermits): one update in flight per
// limiter, and the requests that come while it is answered go together in the
// next. A burst of a thousand issuances costs the limiter a few updates and
// workflow tasks, not a signal in and a signal out each, and no requester
// waits for a signal: its permit is its activity's result. The server takes
// only a few updates in flight per workflow (history.maxInFlightUpdates, 10
// by default), which one update per process keeps to.

// maxBatch bounds the requests of one update, so that its argument and
// result stay far below the server's payload limits (a request is a few
// hundred bytes).
const maxBatch = 500

// updateTimeout bounds the wait for one update's answer.
const updateTimeout = 30 * time.Second

// batches holds the requests waiting for an update, by limiter workflow ID.
type batches struct {
	mu     sync.Mutex
	queues map[string]*batchQueue
}

type batchQueue struct {
	waiting []waitingRequest
	sending bool // a goroutine sends updates until waiting is empty
}

type waitingRequest struct {
	req    activities.PermitRequest
	answer chan<- batchAnswer // buffered: the sender never blocks
}

type batchAnswer struct {
	grant activities.PermitGrant
	runID string
	err   error
}

// requestByUpdate asks the issuer's limiter for a permit in the next update
// to it and returns the grant and the limiter's run.
func (a *Activities) requestByUpdate(ctx context.Context, issuer activities.IssuerRef, req activities.PermitRequest) (activities.PermitGrant, string, error) {
	answer := make(chan batchAnswer, 1)
	id := activities.LimiterWorkflowID(a.Cluster, issuer)
	b := &a.batches
	b.mu.Lock()
	if b.queues == nil {
		b.queues = map[string]*batchQueue{}
	}
	q := b.queues[id]
	if q == nil {
		q = &batchQueue{}
		b.queues[id] = q
	}
	q.waiting = append(q.waiting, waitingRequest{req: req, answer: answer})
	if !q.sending {
		q.sending = true
		go a.sendBatches(issuer, q)
	}
	b.mu.Unlock()
	select {
	case ans := <-answer:
		return ans.grant, ans.runID, ans.err
	case <-ctx.Done():
		return activities.PermitGrant{}, "", ctx.Err()
	}
}

// sendBatches sends the queue's waiting requests, a batch per update, until
// none wait.
func (a *Activities) sendBatches(issuer activities.IssuerRef, q *batchQueue) {
	b := &a.batches
	for {
		b.mu.Lock()
		batch := q.waiting[:min(len(q.waiting), maxBatch)]
		q.waiting = q.waiting[len(batch):]
		if len(batch) == 0 {
			q.sending = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		reqs := make([]activities.PermitRequest, len(batch))
		for i, w := range batch {
			reqs[i] = w.req
		}
		grants, runID, err := a.updateWithStart(issuer, reqs)
		for i, w := range batch {
			ans := batchAnswer{runID: runID, err: err}
			if err == nil {
				ans.grant = grants[i]
			}
			w.answer <- ans
		}
	}
}

// updateWithStart asks the issuer's limiter for permits, starting it when it
// does not run, and waits for its answers.
func (a *Activities) updateWithStart(issuer activities.IssuerRef, reqs []activities.PermitRequest) ([]activities.PermitGrant, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), updateTimeout)
	defer cancel()
	id := activities.LimiterWorkflowID(a.Cluster, issuer)
	start := a.Temporal.NewWithStartWorkflowOperation(a.limiterOptions(id), activities.LimiterWorkflowName, activities.LimiterInput{Issuer: issuer})
	handle, err := a.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     "permits/" + uuid.NewString(),
			UpdateName:   activities.UpdateRequestPermits,
			Args:         []any{reqs},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return nil, "", err
	}
	var grants []activities.PermitGrant
	if err := handle.Get(ctx, &grants); err != nil {
		return nil, "", err
	}
	if len(grants) != len(reqs) {
		return nil, "", fmt.Errorf("the limiter answered %d requests with %d grants", len(reqs), len(grants))
	}
	return grants, handle.RunID(), nil
}
