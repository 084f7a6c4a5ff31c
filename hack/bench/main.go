// Command bench is `make bench`: it issues N certificates at once on the real
// local stack (kube-apiserver + etcd, the Temporal dev server with its SQLite
// file database or, with -temporal-db memory, its in-memory one, Pebble with
// PEBBLE_VA_NOSLEEP=1 and no nonce rejection, BIND with RFC 2136), each for
// one name in the test zone via DNS-01 from an issuer of the given kind,
// waits until all are Ready, checks every Secret, and prints one line of
// results and where the time went:
//
//	certflow N=<n> total=<s>s p50=<s>s p90=<s>s max=<s>s rss_peak=<MB> cpu=<s>s events_per_issue=<n> tasks_per_issue=<n>
//
// rss_peak and cpu are of the certflow process alone, since it started. Lines
// of their own give the Temporal server's CPU (since it started) and, while
// issuing, kube-apiserver's, etcd's, the whole stack's (those four) and the
// whole machine's, per issuance too: on a virtual machine, time stolen by the
// hypervisor slows a run that is CPU-bound, so compare runs with little of
// it. With -new-orders the issuer has that new-order budget and the requests
// reach Pebble through a proxy that counts them (printed per issuance): the
// run fails if the CA saw more new orders in any window than the budget. A
// budget that cannot bind (-new-orders 1000000/1s) counts the requests
// without slowing them.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/sandbox"
)

func main() {
	n := flag.Int("n", 20, "certificates to issue at once")
	keep := flag.Bool("keep", false, "keep the stack's directory (logs) after the run")
	idle := flag.Duration("idle", 0, "after all are Ready, measure certflow's CPU and memory while the certificates wait for renewal, for this long")
	verbose := flag.Bool("v", false, "also print the API server's requests and the history events of each workflow type")
	extra := flag.String("certflow-args", "", "more arguments for `certflow run`, space-separated (to compare settings)")
	kind := flag.String("issuer-kind", "ClusterIssuer", "kind of the certificates' issuer: ClusterIssuer or Issuer")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up when the run, with its stack's start and the histories' reading, takes longer")
	newOrders := flag.String("new-orders", "", "the issuer's new-order budget, such as 300/1m: orders go through a proxy that counts them, to check the limiter kept it (default: no budget)")
	temporalDB := flag.String("temporal-db", "file", "the Temporal dev server's database: file (SQLite in a file, as a restart keeps it) or memory")
	flag.Parse()
	b, err := parseBudget(*newOrders)
	var persistent bool
	if err == nil {
		persistent, err = parseTemporalDB(*temporalDB)
	}
	if err == nil {
		err = run(*n, *keep, *verbose, *idle, *timeout, strings.Fields(*extra), *kind, b, persistent)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int, keep, verbose bool, idle, timeout time.Duration, extraArgs []string, issuerKind string, b budget, persistent bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
	stack, err := sandbox.Start(ctx, sandbox.Options{
		Dir:      dir,
		Temporal: sandbox.TemporalOptions{Persistent: persistent},
		Pebble:   sandbox.PebbleOptions{NonceRejectPercent: &noReject},
	})
	if err != nil {
		return err
	}
	defer stack.Stop()

	scheme, err := connect.Scheme()
	if err != nil {
		return err
	}
	kube, err := client.NewWithWatch(stack.Kubernetes.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	for _, ns := range []string{sandbox.ClusterResourceNamespace, benchNamespace} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	directoryURL, caBundle := stack.Pebble.DirectoryURL, stack.Pebble.CACertPEM
	var proxy *sandbox.ACMEProxy
	if b.limit > 0 {
		if proxy, err = sandbox.StartACMEProxy(stack.Pebble); err != nil {
			return err
		}
		defer proxy.Stop()
		directoryURL, caBundle = proxy.DirectoryURL, proxy.CACertPEM
	}
	if err := createIssuer(ctx, kube, stack, issuerKind, directoryURL, caBundle, b); err != nil {
		return err
	}

	certflow, ctx, stopCertflow, err := startCertflow(ctx, root, dir, slices.Concat(stack.CertflowArgs(), extraArgs))
	if err != nil {
		return err
	}
	defer stopCertflow()
	// Let certflow connect and register the issuer's account, so the clock
	// measures issuance only.
	if err := waitIssuerReady(ctx, kube, issuerKind); err != nil {
		return cmp.Or(context.Cause(ctx), err)
	}

	requestsBefore, err := apiRequests(ctx, stack.Kubernetes.Config)
	if err != nil {
		return err
	}
	before, err := readStack(ctx, stack, certflow.Pid)
	if err != nil {
		return err
	}
	res, err := issueAll(ctx, kube, stack, n, issuerKind)
	if err != nil {
		return fmt.Errorf("%w (certflow log: %s)", cmp.Or(context.Cause(ctx), err), filepath.Join(dir, "certflow.log"))
	}
	after, err := readStack(ctx, stack, certflow.Pid)
	if err != nil {
		return err
	}
	var idleLine string
	if idle > 0 {
		if idleLine, err = idleUsage(ctx, certflow.Pid, idle); err != nil {
			return err
		}
	}
	h, err := historyStats(ctx, stack)
	if err != nil {
		return err
	}
	requestsAfter, err := apiRequests(ctx, stack.Kubernetes.Config)
	if err != nil {
		return err
	}
	fmt.Printf("certflow N=%d total=%.2fs p50=%.2fs p90=%.2fs max=%.2fs rss_peak=%.0fMB cpu=%.1fs events_per_issue=%.0f tasks_per_issue=%.1f\n",
		n, res.total.Seconds(), res.p50.Seconds(), res.p90.Seconds(), res.max.Seconds(),
		after.certflow.rssPeakMB, after.certflow.cpu.Seconds(), float64(h.events)/float64(n), float64(h.tasks)/float64(n))
	fmt.Printf("temporal-server db=%s rss_peak=%.0fMB cpu=%.1fs\n", temporalDB(persistent), after.temporal.rssPeakMB, after.temporal.cpu.Seconds())
	fmt.Printf("kube-apiserver cpu=%.1fs etcd cpu=%.1fs\n", after.apiserver-before.apiserver, after.etcd-before.etcd)
	stackCPU := after.stackCPU() - before.stackCPU()
	fmt.Printf("whole stack while issuing (certflow, Temporal, kube-apiserver, etcd): cpu=%.1fs per issuance=%.3fs\n", stackCPU, stackCPU/float64(n))
	fmt.Print(after.machine.since(before.machine, n))
	fmt.Print(h)
	fmt.Print(idleLine)
	if proxy != nil {
		busiest := busiestWindow(proxy.Times(sandbox.ActionNewOrder), b.period)
		fmt.Printf("limiter: at most %d new orders in any %s (budget %d); %d orders for %d certificates; CA requests per issuance=%.1f\n",
			busiest, b.period, b.limit, proxy.Count(sandbox.ActionNewOrder), n, float64(len(proxy.Requests()))/float64(n))
		if busiest > b.limit {
			return fmt.Errorf("the CA got %d new orders within %s, over the budget of %d", busiest, b.period, b.limit)
		}
	}
	if verbose {
		fmt.Print(perIssue(requestsBefore, requestsAfter, n))
		fmt.Print(h.eventsByType())
	}
	return nil
}

// stackUsage is the CPU the stack's parts have used so far (and certflow's
// and the Temporal server's memory), read before and after issuing.
type stackUsage struct {
	machine            machineCPU
	certflow, temporal processUsage
	apiserver, etcd    float64 // CPU-seconds
}

// readStack reads the stack's usage: the API server's and etcd's from the
// API server's metrics, the rest from /proc.
func readStack(ctx context.Context, stack *sandbox.Stack, certflowPid int) (u stackUsage, err error) {
	if u.apiserver, u.etcd, err = controlPlaneCPU(ctx, stack.Kubernetes); err != nil {
		return u, err
	}
	if u.machine, err = machineUsage(); err != nil {
		return u, err
	}
	if u.certflow, err = usage(certflowPid); err != nil {
		return u, err
	}
	u.temporal, err = usage(stack.Temporal.Pid())
	return u, err
}

// stackCPU is the CPU-seconds of certflow, Temporal, kube-apiserver and etcd.
func (u stackUsage) stackCPU() float64 {
	return (u.certflow.cpu + u.temporal.cpu).Seconds() + u.apiserver + u.etcd
}

// parseTemporalDB reads -temporal-db: whether the dev server keeps its
// workflows in a file.
func parseTemporalDB(s string) (persistent bool, err error) {
	switch s {
	case "file":
		return true, nil
	case "memory":
		return false, nil
	}
	return false, fmt.Errorf("-temporal-db %q: want file or memory", s)
}

// temporalDB names the dev server's database as -temporal-db does.
func temporalDB(persistent bool) string {
	if persistent {
		return "file"
	}
	return "memory"
}

// idleUsage measures certflow while the issued certificates wait for their
// renewal: the CPU it uses in that time and its RSS at the end.
func idleUsage(ctx context.Context, pid int, d time.Duration) (string, error) {
	before, err := usage(pid)
	if err != nil {
		return "", err
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	after, err := usage(pid)
	if err != nil {
		return "", err
	}
	cpu := after.cpu - before.cpu
	return fmt.Sprintf("idle for %s after all were Ready: certflow cpu=%.2fs (%.2f%% of a core) rss=%.0fMB\n",
		d, cpu.Seconds(), 100*cpu.Seconds()/d.Seconds(), after.rssMB), nil
}
