// Command screenshots is `make screenshots`: it takes the README's pictures
// of the Temporal Web UI telling a stuck certificate's story. It brings up
// the local stack with the Web UI as `make demo` does (under
// .sandbox-screenshots/, so that a running demo keeps its own), runs
// `certflow run` against it, issues one Certificate and leaves another stuck
// on a ClusterIssuer whose RFC 2136 server is authoritative for another zone,
// and has headless Chromium photograph three pages: the list of the stuck
// certificates, the stuck Certificate's workflow and its history. The
// PNGs go to docs/images/; everything it started stops before it exits.
// With -unfiltered (CERTFLOW_SCREENSHOTS_UNFILTERED=1) the list is of the
// running workflows, for a Temporal without certflow's search attributes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

func main() {
	out := flag.String("out", "docs/images", "folder for the PNGs (a relative one is in the repository)")
	unfiltered := flag.Bool("unfiltered", os.Getenv("CERTFLOW_SCREENSHOTS_UNFILTERED") != "",
		"list the running workflows instead of querying CertflowReady=false, for a server without certflow's search attributes (CERTFLOW_SCREENSHOTS_UNFILTERED)")
	flag.Parse()
	if err := run(*out, *unfiltered); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(out string, unfiltered bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	begin := time.Now()

	root, err := sandbox.RepoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".sandbox-screenshots")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	fmt.Println("screenshots: starting the local stack with the Temporal Web UI and a second BIND for elsewhere.test")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	stack, err := sandbox.Start(startCtx, sandbox.Options{Dir: dir, Temporal: sandbox.TemporalOptions{UI: true}})
	if err != nil {
		cancel()
		return err
	}
	defer stack.Stop()
	elsewhereDir := filepath.Join(dir, "elsewhere")
	if err := os.MkdirAll(elsewhereDir, 0o755); err != nil {
		cancel()
		return fmt.Errorf("creating %s: %w", elsewhereDir, err)
	}
	elsewhere, err := sandbox.StartBIND(startCtx, sandbox.BINDOptions{Dir: elsewhereDir, Zone: "elsewhere.test"})
	cancel()
	if err != nil {
		return err
	}
	defer elsewhere.Stop()

	ctx, stopCertflow, err := startCertflow(ctx, root, dir, stack)
	if err != nil {
		return err
	}
	defer stopCertflow()

	cert, err := tell(ctx, stack, elsewhere)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	written, err := photograph(ctx, stack, out, dir, cert, unfiltered)
	if err != nil {
		return err
	}
	fmt.Printf("screenshots: done in %.0fs; written:\n", time.Since(begin).Seconds())
	for _, file := range written {
		if rel, err := filepath.Rel(root, file); err == nil && filepath.IsLocal(rel) {
			file = rel
		}
		fmt.Println("  " + file)
	}
	return nil
}
