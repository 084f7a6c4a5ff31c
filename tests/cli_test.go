package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// certflowBinary builds cmd/certflow once per test binary.
var certflowBinary = sync.OnceValues(func() (string, error) {
	root, err := sandbox.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "certflow-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "certflow")
	out, err := exec.Command("go", "build", "-C", root, "-o", bin, "./cmd/certflow").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building certflow: %v\n%s", err, out)
	}
	return bin, nil
})

func TestCLIFailsFastWhenAPartIsUnreachable(t *testing.T) {
	t.Parallel()
	bin, err := certflowBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 3*time.Minute)
	temporal, err := sandbox.StartTemporal(ctx, sandbox.TemporalOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = temporal.Stop() })
	closed := freeAddr(t) // nothing listens there

	// A kubeconfig that points at a port where nothing listens.
	deadKubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, deadKubeconfig, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://%s"}}]
users: [{name: dead, user: {token: x}}]
contexts: [{name: dead, context: {cluster: dead, user: dead}}]
current-context: dead
`, closed))

	cases := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{
			"worker with Temporal unreachable names the address and the flag",
			[]string{"worker", "--temporal-address", closed},
			[]string{"connecting to Temporal at " + closed, "--temporal-address"},
		},
		{
			"run with an unknown Temporal namespace says how to create it",
			[]string{"run", "--temporal-address", temporal.Address, "--temporal-namespace", "nope", "--kubeconfig", deadKubeconfig},
			[]string{"namespace nope", "temporal operator namespace create nope"},
		},
		{
			"controller with Kubernetes unreachable names the API server",
			[]string{"controller", "--temporal-address", temporal.Address, "--kubeconfig", deadKubeconfig, "--health-addr", "0"},
			[]string{"connecting to Kubernetes at https://" + closed},
		},
		{
			"a missing kubeconfig file is reported",
			[]string{"controller", "--temporal-address", temporal.Address, "--kubeconfig", "/nonexistent/kubeconfig", "--health-addr", "0"},
			[]string{"loading the Kubernetes client configuration", "/nonexistent/kubeconfig"},
		},
		{
			"a bad log level is reported",
			[]string{"run", "--log-level", "loud"},
			[]string{"--log-level"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(tc.args, "--connect-timeout", "5s")...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("want a quick failure, got err=%v after %s (ctx %v)\n%s", err, time.Since(start), ctx.Err(), stderr.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

func TestCLIRunConnectsAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin, err := certflowBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 3*time.Minute)
	dir := t.TempDir()
	kube, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: filepath.Join(dir, "kubernetes")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Stop() })
	temporal, err := sandbox.StartTemporal(ctx, sandbox.TemporalOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = temporal.Stop() })

	health := freeAddr(t)
	cmd := exec.Command(bin, "run", "--kubeconfig", kube.Kubeconfig, "--temporal-address", temporal.Address, "--health-addr", health, "--metrics-addr", "0")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	ready := false
	for !ready {
		select {
		case err := <-exited:
			t.Fatalf("certflow run exited: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("certflow run never became ready\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get("http://" + health + "/readyz")
		if err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
	}
	for _, want := range []string{"connected to Temporal", "worker started", "connected to Kubernetes"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("certflow run after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("certflow run did not stop within 30s of SIGTERM\n%s", logs.String())
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeFile(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
