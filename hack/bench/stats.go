package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

type processUsage struct {
	rssMB, rssPeakMB float64
	cpu              time.Duration
}

// usage reads a process's RSS, peak RSS and CPU time (user + system) from /proc.
func usage(pid int) (processUsage, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return processUsage{}, fmt.Errorf("reading process %d status: %w", pid, err)
	}
	var u processUsage
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmHWM:":
			u.rssPeakMB = kb / 1024
		case "VmRSS:":
			u.rssMB = kb / 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return processUsage{}, fmt.Errorf("reading process %d stat: %w", pid, err)
	}
	// Fields after the command (which may hold spaces) start after ")".
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const ticks = 100 // USER_HZ on Linux
	u.cpu = time.Duration((utime + stime) / ticks * float64(time.Second))
	return u, nil
}

// machineCPU is the machine's CPU time so far, all cores together, from the
// "cpu" line of /proc/stat: busy (user, nice, system, irq, softirq), idle
// (idle, iowait) and stolen by the hypervisor.
type machineCPU struct {
	busy, idle, steal time.Duration
}

func machineUsage() (machineCPU, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat begins %q, not with the cpu line", line)
	}
	ticks := make([]time.Duration, 8)
	for i := range ticks {
		v, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat cpu line %q: %w", line, err)
		}
		const hz = 100 // USER_HZ on Linux
		ticks[i] = time.Duration(v) * time.Second / hz
	}
	// user nice system idle iowait irq softirq steal
	return machineCPU{
		busy:  ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6],
		idle:  ticks[3] + ticks[4],
		steal: ticks[7],
	}, nil
}

// since says what the machine did between before and m, for n issuances:
// its busy time per issuance is the whole stack's CPU per issuance (with
// the bench's own polling).
func (m machineCPU) since(before machineCPU, n int) string {
	busy := m.busy - before.busy
	return fmt.Sprintf("machine while issuing: busy=%.1fs idle=%.1fs steal=%.1fs (CPU-seconds, all cores); busy per issuance=%.3fs\n",
		busy.Seconds(), (m.idle - before.idle).Seconds(), (m.steal - before.steal).Seconds(), busy.Seconds()/float64(n))
}

// steps names the activities of an issuance attempt by the step they are.
// An attempt (in its Certificate workflow, or in an Order child of a run of
// v0.1.0) runs them as local activities, except a long wait for propagation
// (see histories).
var steps = []struct{ activity, step string }{
	{activities.EnsurePendingKey.Name(), "key"},
	{activities.RequestPermit.Name(), "permit"},
	{activities.BeginOrder.Name(), "order"},
	{activities.Present.Name(), "present"},
	{activities.WaitPropagation.Name(), "propagate"},
	{activities.Validate.Name(), "validate"},
	{activities.Finalize.Name(), "finalize"},
	{activities.StoreSecret.Name(), "store"},
}

// histories sums what the recorded workflow histories say about the run.
type histories struct {
	events int
	// step and queued are the total time of each step of the attempts and the
	// part of it the task waited for a worker: for an activity, from
	// scheduled to completed; for a local activity, from when the workflow
	// task reached it (the task's start or the end of the local activity
	// before it) to its end, with no wait of its own (local).
	step, queued map[string]time.Duration
	count        map[string]int
	local        map[string]bool
	// inspect is the total time Certificate workflows took from their start
	// to starting the attempt (the Secret's inspection, as a worker took
	// it); begin the time Order children waited from their start for their
	// first workflow task.
	inspect, begin       time.Duration
	certificates, orders int
	// tasks counts the workflow tasks completed.
	tasks int
	// workflows and bytes count the workflow runs and their histories' size
	// (the events' encoded size; the list's HistorySizeBytes lags).
	workflows, bytes int64
	// eventTypes counts events by workflow type and event type.
	eventTypes map[string]map[string]int
	// taskWait and taskRun are the total times workflow tasks waited for a
	// worker (scheduled to started) and ran (started to completed), by
	// workflow type.
	taskWait, taskRun map[string]time.Duration
	// taskFailures counts the reasons workflows and their tasks failed.
	taskFailures map[string]int
}

// historyStats reads every workflow run's history.
func historyStats(ctx context.Context, stack *sandbox.Stack) (histories, error) {
	h := histories{step: map[string]time.Duration{}, queued: map[string]time.Duration{}, count: map[string]int{}, local: map[string]bool{},
		eventTypes: map[string]map[string]int{}, taskFailures: map[string]int{},
		taskWait: map[string]time.Duration{}, taskRun: map[string]time.Duration{}}
	tc, err := stack.Temporal.Dial(ctx)
	if err != nil {
		return h, err
	}
	defer tc.Close()
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token, Query: "WorkflowType != 'Issuer'"})
		if err != nil {
			return h, fmt.Errorf("listing workflows: %w", err)
		}
		for _, ex := range resp.Executions {
			h.workflows++
			var events []*historypb.HistoryEvent
			it := tc.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					return h, err
				}
				events = append(events, ev)
				h.bytes += int64(proto.Size(ev))
			}
			h.add(ex.Type.Name, events)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	return h, nil
}

func (h *histories) add(workflowType string, events []*historypb.HistoryEvent) {
	h.events += len(events)
	types := h.eventTypes[workflowType]
	if types == nil {
		types = map[string]int{}
		h.eventTypes[workflowType] = types
	}
	scheduled := map[int64]*historypb.HistoryEvent{}
	started := map[int64]*historypb.HistoryEvent{}
	since := func(ev *historypb.HistoryEvent) time.Duration {
		return ev.EventTime.AsTime().Sub(events[0].EventTime.AsTime())
	}
	order := workflowType == workflows.OrderWorkflowName
	if order {
		h.orders++
	}
	certificate := workflowType == workflows.CertificateWorkflowName
	attemptStarted := false
	var taskScheduled, taskStarted, reached time.Time
	for _, ev := range events {
		switch {
		case ev.GetWorkflowTaskScheduledEventAttributes() != nil:
			taskScheduled = ev.EventTime.AsTime()
		case ev.GetWorkflowTaskStartedEventAttributes() != nil:
			if order && taskStarted.IsZero() {
				h.begin += since(ev)
			}
			taskStarted = ev.EventTime.AsTime()
			reached = taskStarted
			h.taskWait[workflowType] += taskStarted.Sub(taskScheduled)
		case ev.GetWorkflowTaskCompletedEventAttributes() != nil:
			h.taskRun[workflowType] += ev.EventTime.AsTime().Sub(taskStarted)
			h.tasks++
		}
		types[strings.TrimPrefix(ev.EventType.String(), "EVENT_TYPE_")]++
		if ev.GetStartChildWorkflowExecutionInitiatedEventAttributes() != nil && certificate {
			h.inspect += since(ev)
			h.certificates++
		}
		if m := ev.GetMarkerRecordedEventAttributes(); m != nil && (order || certificate) {
			if la, ok := localActivity(m); ok {
				if certificate && !attemptStarted && la.ActivityType == activities.EnsurePendingKey.Name() {
					attemptStarted = true
					h.inspect += reached.Sub(events[0].EventTime.AsTime())
					h.certificates++
				}
				h.step[la.ActivityType] += la.ReplayTime.Sub(reached)
				h.count[la.ActivityType]++
				h.local[la.ActivityType] = true
				if la.ActivityType != activities.CleanUpChallenges.Name() { // it runs alongside the finalization
					reached = la.ReplayTime
				}
			}
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[ev.EventId] = ev
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			msg := a.GetFailure().GetMessage()
			if c := a.GetFailure().GetCause(); c != nil {
				msg += ": " + c.GetMessage()
			}
			h.taskFailures[workflowType+" failed: "+msg[:min(len(msg), 300)]]++
		}
		if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
			msg := a.GetFailure().GetMessage()
			h.taskFailures[workflowType+" workflow task failed: "+a.Cause.String()+": "+msg[:min(len(msg), 200)]]++
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			started[a.ScheduledEventId] = ev
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			s := scheduled[a.ScheduledEventId]
			name := s.GetActivityTaskScheduledEventAttributes().ActivityType.Name
			h.step[name] += ev.EventTime.AsTime().Sub(s.EventTime.AsTime())
			if st := started[a.ScheduledEventId]; st != nil {
				h.queued[name] += st.EventTime.AsTime().Sub(s.EventTime.AsTime())
			}
			h.count[name]++
		}
	}
}

// localActivityMarker is what the Go SDK records of a local activity that
// ended: its type and the workflow time at its end.
type localActivityMarker struct {
	ActivityType string
	ReplayTime   time.Time
}

// localActivity reads a local activity's marker (the SDK's "LocalActivity"
// marker, whose "data" detail is JSON).
func localActivity(m *historypb.MarkerRecordedEventAttributes) (localActivityMarker, bool) {
	var la localActivityMarker
	if m.MarkerName != "LocalActivity" {
		return la, false
	}
	data := m.Details["data"].GetPayloads()
	if len(data) == 0 || json.Unmarshal(data[0].Data, &la) != nil {
		return la, false
	}
	return la, true
}

// String says where the time went: each step's mean time (and the part of it
// spent waiting for a worker).
func (h histories) String() string {
	mean := func(d time.Duration, n int) float64 { return (d / time.Duration(max(n, 1))).Seconds() }
	var b strings.Builder
	fmt.Fprintf(&b, "histories: %d workflow runs, %.1f MB in all\n", h.workflows, float64(h.bytes)/1e6)
	fmt.Fprintf(&b, "mean time per step: inspect=%.2fs", mean(h.inspect, h.certificates))
	if h.orders > 0 {
		fmt.Fprintf(&b, " start=%.2fs", mean(h.begin, h.orders))
	}
	for _, s := range steps {
		if n := h.count[s.activity]; n > 0 {
			fmt.Fprintf(&b, " %s=%.2fs", s.step, mean(h.step[s.activity], n))
		}
	}
	b.WriteString("\nof which waiting for a worker:")
	var local []string
	for _, s := range steps {
		switch n := h.count[s.activity]; {
		case n == 0:
		case h.local[s.activity]:
			local = append(local, s.step)
		default:
			fmt.Fprintf(&b, " %s=%.2fs", s.step, mean(h.queued[s.activity], n))
		}
	}
	if len(local) > 0 {
		fmt.Fprintf(&b, " (%s: local activities, in the workflow's task)", strings.Join(local, ", "))
	}
	b.WriteString("\n")
	return b.String()
}

// eventsByType lists the events of each workflow type by event type, and the
// mean wait and run of its workflow tasks.
func (h histories) eventsByType() string {
	var b strings.Builder
	for _, wt := range slices.Sorted(maps.Keys(h.eventTypes)) {
		if n := h.eventTypes[wt]["WorkflowTaskCompleted"]; n > 0 {
			fmt.Fprintf(&b, "%s workflow tasks: %d, mean wait %.3fs, mean run %.3fs\n", wt, n,
				(h.taskWait[wt] / time.Duration(n)).Seconds(), (h.taskRun[wt] / time.Duration(n)).Seconds())
		}
		fmt.Fprintf(&b, "%s:", wt)
		for _, et := range slices.Sorted(maps.Keys(h.eventTypes[wt])) {
			fmt.Fprintf(&b, " %s=%d", et, h.eventTypes[wt][et])
		}
		b.WriteString("\n")
	}
	for _, f := range slices.Sorted(maps.Keys(h.taskFailures)) {
		fmt.Fprintf(&b, "%d times: %s\n", h.taskFailures[f], f)
	}
	return b.String()
}
