// Command demo is `make demo`: it brings up the local stack (kube-apiserver +
// etcd, the Temporal dev server with its Web UI, BIND, Pebble) on loopback,
// runs `certflow run` against it, applies a ClusterIssuer and a Certificate
// for a wildcard and its apex, shows the issuance step by step, prints the
// certificate and how to look at and renew it, and stays up until
// interrupted. Everything it starts lives under .sandbox/ and stops with it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := sandbox.RepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".sandbox")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	fmt.Println("Starting kube-apiserver + etcd, Temporal (with Web UI), BIND and Pebble ...")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	stack, err := sandbox.Start(startCtx, sandbox.Options{Dir: dir, Temporal: sandbox.TemporalOptions{UI: true}})
	cancel()
	if err != nil {
		return err
	}
	defer stack.Stop()

	envFile := filepath.Join(dir, "env")
	env := []string{
		"PATH=" + filepath.Join(root, "bin") + ":" + os.Getenv("PATH"),
		"KUBECONFIG=" + stack.Kubernetes.Kubeconfig,
		"TEMPORAL_ADDRESS=" + stack.Temporal.Address,
		"TEMPORAL_NAMESPACE=" + stack.Temporal.Namespace,
	}
	if err := os.WriteFile(envFile, []byte("export "+strings.Join(env, "\nexport ")+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", envFile, err)
	}

	args := append([]string{"run", "--health-addr", "127.0.0.1:0"}, stack.CertflowArgs()...)
	certflow := exec.CommandContext(ctx, filepath.Join(root, "bin", "certflow"), args...)
	certflow.Env = append(os.Environ(), env...)
	logPath := filepath.Join(dir, "certflow.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating %s: %w", logPath, err)
	}
	defer logFile.Close()
	certflow.Stdout, certflow.Stderr = logFile, logFile
	certflow.Cancel = func() error { return certflow.Process.Signal(syscall.SIGTERM) }
	certflow.SysProcAttr = sandbox.ChildAttrs()
	if err := certflow.Start(); err != nil {
		return fmt.Errorf("starting certflow: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- certflow.Wait() }()

	fmt.Printf(`
certflow is running against the local stack:

  Temporal Web UI   %s
  Temporal          %s (namespace %s)
  Kubernetes        %s
  ACME directory    %s (Pebble)
  DNS               %s, zone %s (BIND, RFC 2136 key %s)
  logs              %s

In another shell:  source %s   (puts bin/ on PATH: kubectl, temporal)
`, stack.Temporal.UIURL, stack.Temporal.Address, stack.Temporal.Namespace, stack.Kubernetes.Config.Host,
		stack.Pebble.DirectoryURL, stack.BIND.Addr, stack.BIND.Zone, stack.BIND.TSIGKeyName, dir, envFile)

	issued := make(chan error, 1)
	go func() { issued <- issue(ctx, stack, envFile) }()
	select {
	case err := <-issued:
		if err != nil {
			return err
		}
	case err := <-exited:
		return fmt.Errorf("certflow exited: %v; its log:\n%s", err, lastLines(logPath, 20))
	}
	fmt.Println("\nPress Ctrl-C to stop everything.")
	select {
	case <-ctx.Done():
		<-exited
		fmt.Println("\nstopped")
		return nil
	case err := <-exited:
		return fmt.Errorf("certflow exited: %v; its log:\n%s", err, lastLines(logPath, 20))
	}
}

func lastLines(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
