// Command bench is `make bench`: it issues N certificates at once on the real
// local stack (kube-apiserver + etcd, Temporal dev server, Pebble with
// PEBBLE_VA_NOSLEEP=1 and no nonce rejection, BIND with RFC 2136), each for
// one name in the test zone via DNS-01, waits until all are Ready, checks
// every Secret, and prints one line of results and where the time went:
//
//	certflow N=<n> total=<s>s p50=<s>s p90=<s>s max=<s>s rss_peak=<MB> cpu=<s>s events_per_issue=<n>
//
// rss_peak and cpu are of the certflow process alone; the Temporal server's
// are printed on a line of their own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/internal/sandbox"
)

func main() {
	n := flag.Int("n", 20, "certificates to issue at once")
	keep := flag.Bool("keep", false, "keep the stack's directory (logs) after the run")
	verbose := flag.Bool("v", false, "also print the API server's requests and the history events of each workflow type")
	extra := flag.String("certflow-args", "", "more arguments for `certflow run`, space-separated (to compare settings)")
	flag.Parse()
	if err := run(*n, *keep, *verbose, strings.Fields(*extra)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int, keep, verbose bool, extraArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()

	root, err := sandbox.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "certflow-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	noReject := 0
	stack, err := sandbox.Start(ctx, sandbox.Options{Dir: dir, Pebble: sandbox.PebbleOptions{NonceRejectPercent: &noReject}})
	if err != nil {
		return err
	}
	defer stack.Stop()

	kube, err := stack.Kubernetes.Client()
	if err != nil {
		return err
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sandbox.ClusterResourceNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}},
		stack.TSIGSecret(),
		stack.ClusterIssuer("pebble", stack.Pebble.DirectoryURL, stack.Pebble.CACertPEM, sandbox.TSIGSecretName),
	} {
		if err := kube.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s: %w", obj.GetName(), err)
		}
	}

	logFile, err := os.Create(filepath.Join(dir, "certflow.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	certflow := exec.Command(filepath.Join(root, "bin", "certflow"), slices.Concat([]string{"run", "--health-addr", "0"}, stack.CertflowArgs(), extraArgs)...)
	certflow.Stdout, certflow.Stderr = logFile, logFile
	if err := certflow.Start(); err != nil {
		return fmt.Errorf("starting certflow: %w", err)
	}
	defer func() { _ = certflow.Process.Signal(syscall.SIGTERM); _ = certflow.Wait() }()
	// Let certflow connect and register the issuer's account, so the clock
	// measures issuance only.
	if err := waitIssuerReady(ctx, kube); err != nil {
		return err
	}

	requestsBefore, err := apiRequests(ctx, stack.Kubernetes.Config)
	if err != nil {
		return err
	}
	res, err := issueAll(ctx, kube, stack, n)
	if err != nil {
		return fmt.Errorf("%w (certflow log: %s)", err, logFile.Name())
	}
	certflowUsage, err := usage(certflow.Process.Pid)
	if err != nil {
		return err
	}
	temporalUsage, err := usage(stack.Temporal.Pid())
	if err != nil {
		return err
	}
	h, err := historyStats(ctx, stack)
	if err != nil {
		return err
	}
	requestsAfter, err := apiRequests(ctx, stack.Kubernetes.Config)
	if err != nil {
		return err
	}
	fmt.Printf("certflow N=%d total=%.1fs p50=%.1fs p90=%.1fs max=%.1fs rss_peak=%.0fMB cpu=%.1fs events_per_issue=%.0f\n",
		n, res.total.Seconds(), res.p50.Seconds(), res.p90.Seconds(), res.max.Seconds(),
		certflowUsage.rssPeakMB, certflowUsage.cpu.Seconds(), float64(h.events)/float64(n))
	fmt.Printf("temporal-server rss_peak=%.0fMB cpu=%.1fs\n", temporalUsage.rssPeakMB, temporalUsage.cpu.Seconds())
	fmt.Print(h)
	if verbose {
		fmt.Print(perIssue(requestsBefore, requestsAfter, n))
		fmt.Print(h.eventsByType())
	}
	return nil
}
