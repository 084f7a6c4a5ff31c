package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/certflow/certflow/internal/sandbox"
)

// startCertflow runs `certflow run` from root's bin/ with args, its output
// in dir/certflow.log. The returned context ends, with certflow's exit as
// its cause, if certflow exits before stop: a run whose certflow failed to
// start (a flag, a port taken) says so at once rather than at its timeout.
// stop ends certflow and waits for it.
func startCertflow(ctx context.Context, root, dir string, args []string) (*os.Process, context.Context, func(), error) {
	logPath := filepath.Join(dir, "certflow.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(filepath.Join(root, "bin", "certflow"), append([]string{"run", "--health-addr", "0"}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sandbox.ChildAttrs()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, nil, nil, fmt.Errorf("starting certflow: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		cancel(fmt.Errorf("certflow exited (%v); the end of its log:\n%s", err, lastLines(logPath, 5)))
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		log.Close()
	}
	return cmd.Process, ctx, stop, nil
}

// lastLines is the end of a file, at most n lines.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
