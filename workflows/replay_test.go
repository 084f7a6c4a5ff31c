package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays every history recorded from a real run
// (testdata/histories, exported with `temporal workflow show -o json`) against
// today's workflows. A change that would break running workflows fails here;
// such a change must go behind workflow.GetVersion. Histories named
// incompatible-* come from code that decided differently and must fail, which
// shows the replay really compares decisions.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("want recorded histories in testdata/histories, found %v (%v)", files, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(Certificate, workflow.RegisterOptions{Name: CertificateWorkflowName})
			replayer.RegisterWorkflowWithOptions(Order, workflow.RegisterOptions{Name: OrderWorkflowName})
			replayer.RegisterWorkflowWithOptions(Issuer, workflow.RegisterOptions{Name: IssuerWorkflowName})
			err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file)
			switch {
			case strings.HasPrefix(name, "incompatible-") && err == nil:
				t.Fatal("an incompatible history replayed without error")
			case !strings.HasPrefix(name, "incompatible-") && err != nil:
				t.Fatalf("replaying %s: %v", file, err)
			}
		})
	}
	if _, err := os.Stat("testdata/histories"); err != nil {
		t.Fatal(err)
	}
}
