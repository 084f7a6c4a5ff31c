package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/sandbox"
)

type processUsage struct {
	rssPeakMB float64
	cpu       time.Duration
}

// usage reads a process's peak RSS and CPU time (user + system) from /proc.
func usage(pid int) (processUsage, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return processUsage{}, fmt.Errorf("reading process %d status: %w", pid, err)
	}
	var u processUsage
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			u.rssPeakMB = kb / 1024
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

// steps names the activities of an Order by the step they are.
var steps = []struct{ activity, step string }{
	{activities.BeginOrderName, "order"},
	{activities.PresentName, "present"},
	{activities.WaitPropagationName, "propagate"},
	{activities.ValidateName, "validate"},
	{activities.FinalizeName, "finalize"},
	{activities.StoreSecretName, "store"},
}

// historyStats counts the events of every workflow run and the mean time of
// each step (activity scheduled to completed) over the Order workflows.
func historyStats(ctx context.Context, stack *sandbox.Stack) (int, string, error) {
	tc, err := stack.Temporal.Dial(ctx)
	if err != nil {
		return 0, "", err
	}
	defer tc.Close()
	events := 0
	total := map[string]time.Duration{}
	count := map[string]int{}
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token, Query: "WorkflowType != 'Issuer'"})
		if err != nil {
			return 0, "", fmt.Errorf("listing workflows: %w", err)
		}
		for _, ex := range resp.Executions {
			scheduled := map[int64]string{}
			scheduledAt := map[int64]time.Time{}
			it := tc.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					return 0, "", err
				}
				events++
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
					scheduled[ev.EventId] = a.ActivityType.Name
					scheduledAt[ev.EventId] = ev.EventTime.AsTime()
				}
				if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
					name := scheduled[a.ScheduledEventId]
					total[name] += ev.EventTime.AsTime().Sub(scheduledAt[a.ScheduledEventId])
					count[name]++
				}
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	var b strings.Builder
	b.WriteString("mean time per step:")
	for _, s := range steps {
		if count[s.activity] > 0 {
			fmt.Fprintf(&b, " %s=%.2fs", s.step, (total[s.activity] / time.Duration(count[s.activity])).Seconds())
		}
	}
	b.WriteString("\n")
	return events, b.String(), nil
}
