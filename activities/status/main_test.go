package status

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/internal/sandbox"
)

// What every test here shares: an API server with certflow's CRDs, a client,
// and an Event recorder wired as the worker wires it.
var (
	kube     client.Client
	recorder record.EventRecorder
)

const uiBase = "https://temporal.example.test/"

func TestMain(m *testing.M) {
	os.Exit(sandbox.Run(m, "status", func(ctx context.Context, dir string, cleanup func(func())) error {
		k, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: dir})
		if err != nil {
			return err
		}
		cleanup(func() { _ = k.Stop() })
		if kube, err = k.Client(); err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(k.Config)
		if err != nil {
			return err
		}
		// As the worker wires it.
		broadcaster := record.NewBroadcaster()
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
		cleanup(broadcaster.Shutdown)
		recorder = broadcaster.NewRecorder(kube.Scheme(), corev1.EventSource{Component: "certflow"})
		return nil
	}))
}

func newActivities() *Activities {
	return &Activities{Kube: kube, Recorder: recorder, UIBaseURL: uiBase, TemporalNamespace: "certflow", Writers: ownWorkflow{}}
}

// ownWorkflow lets every write through: these tests write as the
// Certificate's own workflow would. Which workflows may write is
// certificates.Writers', which tests/trust_test.go checks against Temporal.
type ownWorkflow struct{}

func (ownWorkflow) Check(context.Context, activities.CertificateRef) error { return nil }

func env() *testsuite.TestActivityEnvironment {
	return activitytest.Env(newActivities().Bindings())
}

var namespaces atomic.Int32

func namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("status-%d", namespaces.Add(1))
	if err := kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// waitForEvent waits until an Event about the named object with the reason
// and message is stored in the namespace: the recorder sends in the background.
func waitForEvent(t *testing.T, ns, kind, name, typ, reason, message string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list corev1.EventList
		if err := kube.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind == kind && ev.InvolvedObject.Name == name && ev.Type == typ && ev.Reason == reason && ev.Message == message {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s Event %s %q about %s %s in namespace %s; have %d events", typ, reason, message, kind, name, ns, len(list.Items))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
