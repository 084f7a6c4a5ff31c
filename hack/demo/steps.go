package main

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/sandbox"
)

// printSteps prints the steps of the demo's first issuance from its
// Certificate workflow's history, up to the timer it sleeps on once the
// certificate is stored (a timer before, such as a wait for a permit, is a
// step too): when
// each began and the time it took. A local activity (a short step run inside
// a workflow task) began when its task started or the local activity before
// it ended; its marker records when it ended.
func printSteps(ctx context.Context, stack *sandbox.Stack) error {
	tc, err := stack.Temporal.Dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	id := activities.CertificateWorkflowID(sandbox.ClusterName, activities.CertificateRef{Namespace: demoNamespace, Name: demoName})
	it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]*historypb.HistoryEvent{}
	var start, reached time.Time
	stored := false
	fmt.Printf("\nThe steps of workflow %s, from its history:\n", id)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return fmt.Errorf("reading the history of %s: %w", id, err)
		}
		at := ev.EventTime.AsTime()
		if start.IsZero() {
			start = at
		}
		switch {
		case ev.GetWorkflowTaskStartedEventAttributes() != nil:
			reached = at
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			scheduled[ev.EventId] = ev
		case ev.GetActivityTaskCompletedEventAttributes() != nil:
			s := scheduled[ev.GetActivityTaskCompletedEventAttributes().ScheduledEventId]
			fmt.Printf("  %5.2fs  %-26s %.2fs\n", s.EventTime.AsTime().Sub(start).Seconds(),
				s.GetActivityTaskScheduledEventAttributes().ActivityType.Name, at.Sub(s.EventTime.AsTime()).Seconds())
		case ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity":
			var marker struct {
				ActivityType string
				ReplayTime   time.Time // when it ended, in workflow time
			}
			if data := ev.GetMarkerRecordedEventAttributes().Details["data"]; data != nil {
				_ = converter.GetDefaultDataConverter().FromPayloads(data, &marker)
			}
			fmt.Printf("  %5.2fs  %-26s %.2fs (local, in a workflow task)\n", reached.Sub(start).Seconds(), marker.ActivityType,
				marker.ReplayTime.Sub(reached).Seconds())
			if marker.ActivityType != activities.CleanUpChallenges.Name() { // it runs alongside the finalization
				reached = marker.ReplayTime
			}
			stored = stored || marker.ActivityType == activities.StoreSecret.Name()
		case ev.GetTimerStartedEventAttributes() != nil:
			var summary string
			if p := ev.GetUserMetadata().GetSummary(); p != nil {
				_ = converter.GetDefaultDataConverter().FromPayload(p, &summary)
			}
			if stored {
				fmt.Printf("  %5.2fs  sleeping until the %s\n", at.Sub(start).Seconds(), summary)
				return nil
			}
			fmt.Printf("  %5.2fs  %s\n", at.Sub(start).Seconds(), summary)
		}
	}
	return nil
}
