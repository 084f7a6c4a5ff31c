package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	tclient "go.temporal.io/sdk/client"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/certflow/certflow/internal/sandbox"
)

// The tests run one kube-apiserver, one Temporal dev server and one manager
// made by NewManager and Setup, with no certflow worker: workflows are
// started, signalled and cancelled but never run, so what the controller did
// is read from the Temporal API (describe and history). Each test works in a
// namespace of its own and runs in parallel with the others.

// testTaskQueue differs from workflows.TaskQueue to show that Options.TaskQueue is used.
const (
	testTaskQueue = "controller-test"
	testCluster   = "test"
)

var (
	k8s      client.Client  // straight to the API server, as a user would
	temporal tclient.Client // the test's view of Temporal
	mgr      manager.Manager
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "certflow-controller-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code, err := withStack(dir, m.Run)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
	} else {
		os.RemoveAll(dir)
	}
	return code
}

// withStack starts the stack and the manager, runs the tests and stops it all.
func withStack(dir string, run func() int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logFile, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug})))

	kube, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: filepath.Join(dir, "kubernetes")})
	if err != nil {
		return 0, err
	}
	defer kube.Stop()
	if err := os.MkdirAll(filepath.Join(dir, "temporal"), 0o755); err != nil {
		return 0, err
	}
	tp, err := sandbox.StartTemporal(ctx, sandbox.TemporalOptions{Dir: filepath.Join(dir, "temporal")})
	if err != nil {
		return 0, err
	}
	defer tp.Stop()
	temporal, err = tp.Dial(ctx)
	if err != nil {
		return 0, err
	}
	defer temporal.Close()
	if k8s, err = kube.Client(); err != nil {
		return 0, err
	}

	opts := Options{HealthAddr: "0", Temporal: temporal, TaskQueue: testTaskQueue, Cluster: testCluster}
	if mgr, err = NewManager(kube.Config, opts); err != nil {
		return 0, err
	}
	if err := Setup(mgr, opts); err != nil {
		return 0, err
	}
	mgrCtx, stopManager := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(mgrCtx) }()
	defer func() {
		stopManager()
		<-stopped
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return 0, fmt.Errorf("manager cache did not sync; see %s", logFile.Name())
	}
	select {
	case err := <-stopped:
		stopped <- err // for the deferred receive
		return 0, fmt.Errorf("manager stopped at start: %w", err)
	default:
	}
	return run(), nil
}
