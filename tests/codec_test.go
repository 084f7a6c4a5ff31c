package tests

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	querypb "go.temporal.io/api/query/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/codec"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

// TestPayloadEncryption issues a Certificate with a certflow that encrypts
// payloads with keys from a Secret, then reads every history as Temporal
// stores it: nothing in them names the certificate's domain, and every payload
// opens with the key. A certflow without the key then refuses the histories
// and says which key it lacks; given the key again, certflow carries on.
func TestPayloadEncryption(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.killCertflow()
	// The world's certflow has already written its issuer's workflow in clear
	// in the default namespace: this test's certflow gets a namespace of its own.
	const temporalNS, ns, name = "encrypted", "encryption", "ledger"
	w.registerTemporalNamespace(temporalNS)

	ring := "# current first\nk2:" + randomKey(t) + "\nk1:" + randomKey(t) + "\n"
	keys, err := codec.ParseKeys([]byte(ring))
	if err != nil {
		t.Fatal(err)
	}
	keyCodec, err := codec.New(keys, "the test's key ring")
	if err != nil {
		t.Fatal(err)
	}
	w.create(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: sandbox.ClusterResourceNamespace, Name: "payload-keys"},
		Data:       map[string][]byte{"keys": []byte(ring)},
	})
	keyedCertflow := w.startOwnCertflow("certflow-keyed.log", "--temporal-namespace", temporalNS,
		"--payload-key-secret", sandbox.ClusterResourceNamespace+"/payload-keys")

	dnsName := "ledger-7f3a." + w.stack.BIND.Zone
	w.namespace(ns)
	cert := certificate(ns, name, "ledger-tls", dnsName)
	w.create(cert)
	w.waitReady(ns, name)
	w.verify(w.tlsSecret(ns, "ledger-tls"), dnsName)

	// raw sees the histories as Temporal stores them: it has no codec.
	raw, err := tclient.DialContext(w.ctx, tclient.Options{HostPort: w.stack.Temporal.Address, Namespace: temporalNS,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	workflowID := certificateWorkflowID(ns, name)
	// A new Certificate's first hint rides in its run's input; a spec
	// change comes by signal, which the scan must see too. (An hour before
	// expiry is not due: no new order.)
	w.update(cert, func() { cert.Spec.RenewBefore = &metav1.Duration{Duration: time.Hour} })
	waitSignalled(t, w, raw, workflowID)

	t.Run("every payload in every history is encrypted and none names the domain", func(t *testing.T) {
		assertHistoriesEncrypted(t, w, raw, keyCodec, "k2", dnsName)
	})

	keyed, err := connect.DialTemporal(w.ctx, connect.Temporal{Address: w.stack.Temporal.Address, Namespace: temporalNS, Codec: keyCodec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(keyed.Close)

	t.Run("the status query answers encrypted, and in clear to a client with the key", func(t *testing.T) {
		resp, err := raw.WorkflowService().QueryWorkflow(w.ctx, &workflowservice.QueryWorkflowRequest{
			Namespace: temporalNS,
			Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID},
			Query:     &querypb.WorkflowQuery{QueryType: workflows.QueryStatus},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.QueryResult.GetPayloads(); len(got) != 1 || !codec.IsEncrypted(got[0]) || bytes.Contains(got[0].Data, []byte(dnsName)) {
			t.Errorf("query result as sent by the worker: %v", got)
		}
		value, err := keyed.QueryWorkflow(w.ctx, workflowID, "", workflows.QueryStatus)
		if err != nil {
			t.Fatal(err)
		}
		var status activities.CertificateStatus
		if err := value.Get(&status); err != nil || status.WorkflowID != workflowID {
			t.Errorf("query result through the codec: %+v (%v), want the status of %s", status, err, workflowID)
		}
	})

	keyFile := filepath.Join(w.dir, "payload-keys")
	if err := os.WriteFile(keyFile, []byte(ring), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("the temporal CLI shows the history in clear through certflow codec-server", func(t *testing.T) {
		// show counts the payloads of the history `temporal workflow show` prints
		// that are still encrypted, and those that name the domain.
		show := func(extra ...string) (encrypted, naming int) {
			args := append([]string{"workflow", "show", "--address", w.stack.Temporal.Address, "--namespace", temporalNS,
				"--workflow-id", workflowID, "--output", "json"}, extra...)
			out, err := exec.CommandContext(w.ctx, "../bin/temporal", args...).Output()
			if err != nil {
				t.Fatalf("temporal %s: %v", strings.Join(args, " "), err)
			}
			var history historypb.History
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(out, &history); err != nil {
				t.Fatalf("temporal workflow show printed %s: %v", out, err)
			}
			eachPayload(history.ProtoReflect(), "", func(_ string, p *commonpb.Payload) {
				if codec.IsEncrypted(p) {
					encrypted++
				}
				if bytes.Contains(p.Data, []byte(dnsName)) {
					naming++
				}
			})
			return encrypted, naming
		}
		if encrypted, naming := show(); encrypted == 0 || naming > 0 {
			t.Fatalf("without the codec server: %d payloads encrypted, %d naming %s", encrypted, naming, dnsName)
		}
		endpoint := w.startCodecServer(t, keyFile, "--allow-namespace", temporalNS)
		if encrypted, naming := show("--codec-endpoint", endpoint); encrypted > 0 || naming == 0 {
			t.Errorf("through %s: %d payloads still encrypted, %d naming %s", endpoint, encrypted, naming, dnsName)
		}
	})

	t.Run("a certflow without the key makes no progress and says which key it lacks", func(t *testing.T) {
		keyedCertflow.stop()
		desc, err := raw.DescribeWorkflowExecution(w.ctx, workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.WorkflowExecutionInfo.Execution.RunId
		before := historyEvents(t, w, raw, workflowID, runID)

		keyless := w.startOwnCertflow("certflow-keyless.log", "--temporal-namespace", temporalNS)
		if err := keyed.SignalWorkflow(w.ctx, workflowID, "", workflows.SignalRenew, nil); err != nil {
			t.Fatal(err)
		}
		waitForLog(t, keyless.logPath, "payload encrypted with key k2, but certflow was started without payload keys: set --payload-key-file or --payload-key-secret", 2*time.Minute)

		after := historyEvents(t, w, raw, workflowID, runID)
		for _, ev := range after[len(before):] {
			switch ev.EventType {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
				enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			default:
				t.Errorf("event %d %s: the keyless certflow made progress", ev.EventId, ev.EventType)
			}
		}
		desc, err = raw.DescribeWorkflowExecution(w.ctx, workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := desc.WorkflowExecutionInfo; got.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || got.Execution.RunId != runID {
			t.Errorf("workflow %s is %s in run %s, want still Running in %s", workflowID, got.Status, got.Execution.RunId, runID)
		}
		if keyless.exited() {
			t.Errorf("the keyless certflow exited; it should stay up and leave the tasks to Temporal's retries")
		}
		keyless.stop()
	})

	t.Run("given the key again, certflow carries out the renewal", func(t *testing.T) {
		w.startOwnCertflow("certflow-keyed-again.log", "--temporal-namespace", temporalNS, "--payload-key-file", keyFile)
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var cert certflowv1.Certificate
			err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: ns, Name: name}, &cert)
			ready := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionReady)
			if err == nil && ready != nil && ready.Status == metav1.ConditionTrue && cert.Status.Revision != nil && *cert.Status.Revision >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revision 2 not Ready after 3m (get: %v); status:\n%+v", err, cert.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// assertHistoriesEncrypted reads every workflow history in the client's
// namespace, as Temporal stores it, and checks that each payload (inputs,
// results, signals, markers, failures) is marked encrypted with the current
// key, that the domain shows nowhere in clear, and that each payload opens with
// the codec to JSON. Search attributes are the exception Temporal needs: the
// server indexes them, so they cannot be encrypted (and must not name domains).
func assertHistoriesEncrypted(t *testing.T, w *world, c tclient.Client, keys *codec.Codec, currentKeyID, dnsName string) {
	t.Helper()
	perEventType := map[enumspb.EventType]int{}
	var workflowTypes []string
	openedWithName, payloads := 0, 0
	var token []byte
	for {
		resp, err := c.ListWorkflow(w.ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.Executions {
			workflowTypes = append(workflowTypes, ex.Type.Name)
			for _, ev := range historyEvents(t, w, c, ex.Execution.WorkflowId, ex.Execution.RunId) {
				where := fmt.Sprintf("workflow %s event %d (%s)", ex.Execution.WorkflowId, ev.EventId, ev.EventType)
				if js, _ := protojson.Marshal(ev); bytes.Contains(js, []byte(dnsName)) {
					t.Errorf("%s names %s in clear", where, dnsName)
				}
				eachPayload(ev.ProtoReflect(), "", func(path string, p *commonpb.Payload) {
					if strings.Contains(path, "search_attributes") {
						return
					}
					payloads++
					perEventType[ev.EventType]++
					if !codec.IsEncrypted(p) || string(p.Metadata[codec.MetadataKeyID]) != currentKeyID {
						t.Errorf("%s %s: payload not encrypted with key %s: metadata %q", where, path, currentKeyID, p.Metadata)
						return
					}
					if bytes.Contains(p.Data, []byte(dnsName)) {
						t.Errorf("%s %s: payload data names %s in clear", where, path, dnsName)
					}
					opened, err := keys.Decode([]*commonpb.Payload{p})
					if err != nil {
						t.Errorf("%s %s: %v", where, path, err)
						return
					}
					data := opened[0].Data
					if enc := string(opened[0].Metadata[converter.MetadataEncoding]); enc != converter.MetadataEncodingNil && !json.Valid(data) {
						t.Errorf("%s %s: opened payload (%s) is not JSON: %q", where, path, enc, data)
					}
					if bytes.Contains(data, []byte(dnsName)) {
						openedWithName++
					}
				})
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	// The scan proves something only if it saw every kind of payload, and the
	// domain inside some of them once opened.
	for _, wf := range []string{workflows.CertificateWorkflowName, workflows.IssuerWorkflowName, activities.LimiterWorkflowName} {
		if !slices.Contains(workflowTypes, wf) {
			t.Errorf("no %s workflow among %v", wf, workflowTypes)
		}
	}
	for _, et := range []enumspb.EventType{
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
		enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
		enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
		enumspb.EVENT_TYPE_MARKER_RECORDED,
		enumspb.EVENT_TYPE_TIMER_STARTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
	} {
		if perEventType[et] == 0 {
			t.Errorf("no payload in any %s event: the scan did not see that kind", et)
		}
	}
	if openedWithName == 0 {
		t.Errorf("%s is in no opened payload: the scan looked in the wrong place", dnsName)
	}
	t.Logf("%d payloads in %d workflows, %d naming the domain once opened; per event type: %v", payloads, len(workflowTypes), openedWithName, perEventType)
}

// eachPayload calls visit with every temporal.api.common.v1.Payload inside m
// and its field path.
func eachPayload(m protoreflect.Message, path string, visit func(string, *commonpb.Payload)) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		visit(path, p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		field := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				for i := range v.List().Len() {
					eachPayload(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", field, i), visit)
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					eachPayload(mv.Message(), field+"["+k.String()+"]", visit)
					return true
				})
			}
		case fd.Message() != nil:
			eachPayload(v.Message(), field, visit)
		}
		return true
	})
}

func historyEvents(t *testing.T, w *world, c tclient.Client, workflowID, runID string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(w.ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return events
}

// waitSignalled waits until a run of the workflow has received a signal.
func waitSignalled(t *testing.T, w *world, c tclient.Client, workflowID string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := c.ListWorkflow(w.ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = %q", workflowID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.Executions {
			for _, ev := range historyEvents(t, w, c, workflowID, ex.Execution.RunId) {
				if ev.EventType == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s received no signal within a minute", workflowID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// registerTemporalNamespace creates a namespace on the world's Temporal and
// waits until its frontend serves it (a worker that polls a namespace the
// frontend does not know yet stops for good).
func (w *world) registerTemporalNamespace(name string) {
	w.t.Helper()
	svc := w.temporal.WorkflowService()
	_, err := svc.RegisterNamespace(w.ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: name, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	if err != nil {
		w.t.Fatalf("registering Temporal namespace %s: %v", name, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := svc.DescribeTaskQueue(w.ctx, &workflowservice.DescribeTaskQueueRequest{
			Namespace: name, TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.TaskQueue},
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("Temporal namespace %s not served after a minute: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ownCertflow is a `certflow run` this file starts with flags of its own.
type ownCertflow struct {
	logPath string
	stop    func()
	exited  func() bool
}

// startOwnCertflow runs `certflow run` with the world's arguments (those of
// startCertflow) and extra ones, logging to logName in the world's directory;
// it is stopped at the end of the test, or earlier by stop.
func (w *world) startOwnCertflow(logName string, extra ...string) ownCertflow {
	w.t.Helper()
	bin, err := certflowBinary()
	if err != nil {
		w.t.Fatal(err)
	}
	args := append([]string{"run", "--health-addr", "0", "--log-level", "debug"}, w.stack.CertflowArgs()...)
	// The world's own `certflow run` answers HTTP-01 on the stack's port.
	args = append(args, "--http01-solver-listen=")
	cmd := exec.Command(bin, append(args, extra...)...)
	logPath := filepath.Join(w.dir, logName)
	logFile, err := os.Create(logPath)
	if err != nil {
		w.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	var once sync.Once
	own := ownCertflow{
		logPath: logPath,
		stop: func() {
			once.Do(func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
			<-done
		},
		exited: func() bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		},
	}
	w.t.Cleanup(func() {
		own.stop()
		if w.t.Failed() {
			w.t.Logf("%s (last 40 lines):\n%s", logName, lastLines(logPath, 40))
		}
	})
	return own
}

// startCodecServer runs `certflow codec-server` with the key file on a free
// loopback port until the end of the test and returns its URL.
func (w *world) startCodecServer(t *testing.T, keyFile string, extra ...string) string {
	t.Helper()
	bin, err := certflowBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logPath := filepath.Join(w.dir, "codec-server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"codec-server", "--listen", addr, "--payload-key-file", keyFile}, extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	})
	waitForLog(t, logPath, "codec server listening", time.Minute)
	return "http://" + addr
}

// waitForLog waits until the log file holds want.
func waitForLog(t *testing.T, path, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(want)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not say %q after %s; its end:\n%s", path, want, timeout, lastLines(path, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// randomKey is a line of a key file without its ID: the base64 of 32 random bytes.
func randomKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, codec.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}
