package tests

import (
	"maps"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// validatingHold is how long the ACME proxy holds each challenge acceptance
// before the kill: long enough that every issuance is in a workflow task of
// its worker, waiting in its validating step, when one worker dies.
const validatingHold = 10 * time.Second

// TestThreeWorkersShareOneQueueAndOneDies runs one `certflow controller` and
// three `certflow worker` processes on one task queue, issues 30
// Certificates while challenge acceptances are held, and kills (SIGKILL)
// the worker running the most issuances. The workflows' histories show that
// every worker ran tasks before the kill and that the two left finished the
// dead one's issuances; checkNothingLost shows each Certificate issued once,
// from one order, with nothing left in DNS.
func TestThreeWorkersShareOneQueueAndOneDies(t *testing.T) {
	t.Parallel()
	workers := []string{"worker-a", "worker-b", "worker-c"}
	w := newWorldWith(t, worldOptions{split: true, workers: workers})
	w.waitPolling(workflows.TaskQueue, workers, time.Minute)
	const ns = "three-workers"
	w.namespace(ns)
	w.proxy.Delay(sandbox.ActionChallenge, validatingHold)
	certs := w.createCertificates(ns, "spread", 30)
	w.waitAllReached(certs, certflowv1.StepValidating, time.Minute)

	running := w.runningTasks(certs)
	victim := slices.MaxFunc(workers, func(a, b string) int { return len(running[a]) - len(running[b]) })
	if len(running[victim]) == 0 {
		t.Fatalf("no worker has a workflow task running: %s", w.steps(certs))
	}
	killedAt := time.Now()
	w.kill(victim)
	w.proxy.Delay(sandbox.ActionChallenge, 0)
	t.Logf("killed %s with %d issuances in its workflow tasks: %v", victim, len(running[victim]), running[victim])

	w.checkNothingLost(certs...)
	took := time.Since(killedAt)
	for _, c := range certs {
		if cert := w.certificate(c.Namespace, c.Name); cert.Status.Revision == nil || *cert.Status.Revision != 1 {
			t.Errorf("Certificate %s/%s has revision %v, want 1: issued more than once", c.Namespace, c.Name, cert.Status.Revision)
		}
	}

	before, after := map[string]int{}, map[string]int{}
	for _, c := range certs {
		id := certificateWorkflowID(c.Namespace, c.Name)
		tookOver := 0
		for _, ev := range w.allRunsHistory(id) {
			who := taskStartedBy(ev)
			switch {
			case who == "":
			case ev.EventTime.AsTime().Before(killedAt):
				before[who]++
			case who == victim:
				t.Errorf("workflow %s: event %d (%s) by %s, after it was killed", id, ev.EventId, ev.EventType, who)
			default:
				after[who]++
				tookOver++
			}
		}
		if slices.Contains(running[victim], id) && tookOver == 0 {
			t.Errorf("workflow %s was running on %s at the kill, and no other worker ran a task of it after", id, victim)
		}
	}
	t.Logf("tasks started by each worker before the kill: %v; after: %v; all Ready and checked %s after the kill",
		before, after, took.Round(100*time.Millisecond))
	for _, name := range workers {
		if before[name] == 0 {
			t.Errorf("%s started no task before the kill: the work did not spread (%v)", name, before)
		}
	}
}

// waitPolling waits until each named worker polls the task queue for
// workflow tasks: Certificates created before would all go to the first.
func (w *world) waitPolling(taskQueue string, identities []string, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := w.temporal.WorkflowService().DescribeTaskQueue(w.ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace:     w.stack.Temporal.Namespace,
			TaskQueue:     &taskqueuepb.TaskQueue{Name: taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
			TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
		})
		polling := map[string]bool{}
		for _, p := range resp.GetPollers() {
			polling[p.Identity] = true
		}
		missing := slices.DeleteFunc(slices.Clone(identities), func(id string) bool { return polling[id] })
		if err == nil && len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%v not polling task queue %s within %s (describe: %v; polling: %v)",
				missing, taskQueue, timeout, err, slices.Sorted(maps.Keys(polling)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runningTasks lists, by worker identity, the Certificates' workflows with a
// workflow task that worker started and has not finished.
func (w *world) runningTasks(certs []*certflowv1.Certificate) map[string][]string {
	w.t.Helper()
	running := map[string][]string{}
	for _, c := range certs {
		id := certificateWorkflowID(c.Namespace, c.Name)
		startedBy := ""
		for _, ev := range historyEvents(w.t, w, w.temporal, id, "") {
			switch ev.EventType {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				startedBy = taskStartedBy(ev)
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
				startedBy = ""
			}
		}
		if startedBy != "" {
			running[startedBy] = append(running[startedBy], id)
		}
	}
	return running
}

// allRunsHistory is the history of every run of a workflow, oldest first,
// following continue-as-new back from the latest run.
func (w *world) allRunsHistory(workflowID string) []*historypb.HistoryEvent {
	w.t.Helper()
	var runs [][]*historypb.HistoryEvent
	for runID := ""; ; {
		events := historyEvents(w.t, w, w.temporal, workflowID, runID)
		runs = append(runs, events)
		if len(events) == 0 {
			break
		}
		if runID = events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); runID == "" {
			break
		}
	}
	slices.Reverse(runs)
	return slices.Concat(runs...)
}

// taskStartedBy is the identity of the worker that started a workflow or
// activity task, or "" for any other event.
func taskStartedBy(ev *historypb.HistoryEvent) string {
	if a := ev.GetWorkflowTaskStartedEventAttributes(); a != nil {
		return a.Identity
	}
	if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
		return a.Identity
	}
	return ""
}
