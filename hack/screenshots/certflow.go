package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// startCertflow runs `certflow run` against the stack with the flags and
// environment `make demo` gives it, its output in dir/certflow.log. The
// context it returns ends when certflow exits, with the exit as its cause, so
// that a wait for the story fails at once rather than at its timeout. stop
// ends certflow: SIGTERM, then SIGKILL after ten seconds.
func startCertflow(ctx context.Context, root, dir string, stack *sandbox.Stack) (_ context.Context, stop func(), _ error) {
	logPath := filepath.Join(dir, "certflow.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", logPath, err)
	}
	args := append([]string{"run", "--health-addr", "127.0.0.1:0"}, stack.CertflowArgs()...)
	cmd := exec.Command(filepath.Join(root, "bin", "certflow"), args...)
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"),
		"KUBECONFIG="+stack.Kubernetes.Kubeconfig,
		"TEMPORAL_ADDRESS="+stack.Temporal.Address,
		"TEMPORAL_NAMESPACE="+stack.Temporal.Namespace)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sandbox.ChildAttrs()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("starting certflow: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		logFile.Close()
		cancel(fmt.Errorf("certflow exited (%v); its log is %s", err, logPath))
		close(exited)
	}()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	return ctx, stop, nil
}
