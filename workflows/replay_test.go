package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certflow/certflow/activities"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// recordedCertificateID is the workflow ID the recorded Certificate
// histories ran under (hack/histories issues Certificate default/demo in the
// sandbox): the Certificate workflow derives its children's IDs from its
// own, so it must replay under the same one (the replayer's default is
// "ReplayId").
const recordedCertificateID = "sandbox/certificate/default/demo"

// TestReplayRecordedHistories replays every history recorded from a real run
// (testdata/histories, written by hack/histories as `temporal workflow show
// -o json` writes them) against today's workflows. A change that would break
// running workflows fails here; such a change must go behind
// workflow.GetVersion. Histories named incompatible-* record decisions today's
// code does not make and must fail, which shows the replay really compares
// decisions: incompatible-certificate-other-order-id is certificate-run1 with
// its Order child started under another ID than the Certificate gives it.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil || len(files) < 6 {
		t.Fatalf("want recorded histories in testdata/histories, found %v (%v)", files, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(Certificate, workflow.RegisterOptions{Name: CertificateWorkflowName})
			replayer.RegisterWorkflowWithOptions(Order, workflow.RegisterOptions{Name: OrderWorkflowName})
			replayer.RegisterWorkflowWithOptions(Issuer, workflow.RegisterOptions{Name: IssuerWorkflowName})
			replayer.RegisterWorkflowWithOptions(AccountLimiter, workflow.RegisterOptions{Name: activities.LimiterWorkflowName})
			opts := worker.ReplayWorkflowHistoryOptions{}
			if strings.Contains(name, "certificate") {
				opts.OriginalExecution = workflow.Execution{ID: recordedCertificateID}
			}
			err = replayer.ReplayWorkflowHistoryWithOptions(nil, history, opts)
			switch {
			case strings.HasPrefix(name, "incompatible-") && err == nil:
				t.Fatal("an incompatible history replayed without error")
			case strings.HasPrefix(name, "incompatible-"):
				t.Logf("refused as it must be: %v", err)
			case err != nil:
				t.Fatalf("replaying %s: %v", file, err)
			}
		})
	}
}
