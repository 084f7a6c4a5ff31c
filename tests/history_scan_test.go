package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"regexp"
	"testing"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
)

// payloadData finds the payloads in a history event rendered as JSON: their
// data is base64, so a secret inside one would not show in the raw JSON.
var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]+)"`)

// assertNoSecretsInHistories reads the history of every workflow the test's
// Temporal has run and fails when one holds a private key (PEM markers, or the
// DER bytes of any key in any Secret of the cluster, raw or base64) or the
// TSIG secret.
func (w *world) assertNoSecretsInHistories(t *testing.T) {
	needles := map[string][]byte{
		"a PEM private key marker": []byte("PRIVATE KEY"),
		"the TSIG secret":          []byte(w.stack.BIND.TSIGSecret),
	}
	var secrets corev1.SecretList
	if err := w.kube.List(w.ctx, &secrets); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		for key, value := range s.Data {
			for rest := value; ; {
				var block *pem.Block
				block, rest = pem.Decode(rest)
				if block == nil {
					break
				}
				if bytes.Contains([]byte(block.Type), []byte("PRIVATE KEY")) {
					name := "the private key in Secret " + s.Namespace + "/" + s.Name + " " + key
					needles[name] = block.Bytes
					needles[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(block.Bytes))
				}
			}
		}
	}

	executions, events := 0, 0
	var token []byte
	for {
		resp, err := w.temporal.ListWorkflow(w.ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.Executions {
			executions++
			it := w.temporal.GetWorkflowHistory(w.ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, 0)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				events++
				raw, err := protojson.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				haystacks := [][]byte{raw}
				for _, m := range payloadData.FindAllSubmatch(raw, -1) {
					if decoded, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
						haystacks = append(haystacks, decoded)
					}
				}
				for name, needle := range needles {
					for _, h := range haystacks {
						if bytes.Contains(h, needle) {
							t.Errorf("workflow %s event %d (%s) holds %s", ex.Execution.WorkflowId, ev.EventId, ev.EventType, name)
						}
					}
				}
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	if executions == 0 || events == 0 || len(needles) < 4 {
		t.Fatalf("scanned %d executions, %d events, %d needles: the scan saw nothing to check", executions, events, len(needles))
	}
	t.Logf("scanned %d events of %d executions for %d secrets", events, executions, len(needles))
}
