package tests

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/sandbox"
)

// world is the whole stack with certflow running on it as separate processes
// (so a test can kill them), a ClusterIssuer "pebble" whose DNS-01 solver
// updates BIND, and clients to look at everything.
type world struct {
	t *testing.T
	// owner is the test that made the world: the processes it starts stop
	// when owner ends, whichever subtest (t) started them.
	owner    *testing.T
	ctx      context.Context
	dir      string
	stack    *sandbox.Stack
	proxy    *sandbox.ACMEProxy
	kube     client.Client
	temporal tclient.Client
	// dns and kubeProxy are nil unless the world's options ask for them.
	dns       *sandbox.DNSProxy
	kubeProxy *sandbox.KubeProxy
	// certflow is each running certflow process by its subcommand: "run", or
	// "controller" and "worker".
	certflow map[string]*certflowProcess
	// args are more flags for every certflow process (worldOptions.certflowArgs).
	args []string
	// partArgs are more flags for one subcommand's process (worldOptions.partArgs).
	partArgs map[string][]string
	// env is more environment for every certflow process ("SSL_CERT_FILE=...").
	env []string
	// credentials are more secrets no workflow history may hold, by what
	// they are (a token a server gave certflow), for the history scan.
	credentials map[string][]byte
}

// worldOptions are what a test's world does differently from the default:
// one `certflow run` talking to each part directly.
type worldOptions struct {
	// stack configures the parts (Temporal's persistence, Pebble's nonce rejections).
	stack sandbox.Options
	// split runs `certflow controller` and `certflow worker` as two processes.
	split bool
	// workers, with split, are the `certflow worker` processes to run instead
	// of the one named "worker": each is named, and identified to Temporal
	// (--identity), by its entry.
	workers []string
	// dnsProxy puts a DNSProxy between BIND and certflow: the issuer's RFC 2136
	// updates and the worker's propagation checks pass through it.
	dnsProxy bool
	// kubeProxy puts a KubeProxy between the API server and certflow.
	kubeProxy bool
	// retryBackoff is the issuer's wait between failed attempts (default a
	// minute): a test whose fault may fail an attempt sets it shorter, to
	// stay bounded in time.
	retryBackoff time.Duration
	// certflowArgs are more flags for every certflow process.
	certflowArgs []string
	// partArgs are more flags for one subcommand's process ("controller",
	// "worker" or "run"), after certflowArgs: for ports of split parts.
	partArgs map[string][]string
	// noIssuer makes no "pebble" ClusterIssuer: for a CA that would refuse
	// it (one that requires external account binding).
	noIssuer bool
	// beforeCertflow runs once the stack and the "pebble" ClusterIssuer are
	// there and before certflow starts: it may start servers certflow's
	// flags name, and add those flags to w.args.
	beforeCertflow func(w *world)
}

// certflowProcess is one running certflow subcommand.
type certflowProcess struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has ended
	err     error         // its exit status, once exited is closed
}

// envtest logs through controller-runtime's global logger, which prints a
// stack trace to stderr when nobody set it within 30 s of the first use.
// The stack's servers keep their own logs, in each world's directory.
func init() { ctrllog.SetLogger(logr.Discard()) }

func newWorld(t *testing.T) *world { return newWorldWith(t, worldOptions{}) }

func newWorldWith(t *testing.T, opts worldOptions) *world {
	t.Helper()
	ctx := testContext(t, 10*time.Minute)
	dir := t.TempDir()
	sopts := opts.stack
	sopts.Dir = dir
	stack, err := sandbox.Start(ctx, sopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Stop() })
	proxy, err := sandbox.StartACMEProxy(stack.Pebble)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Stop() })
	kube, err := stack.Kubernetes.Client()
	if err != nil {
		t.Fatal(err)
	}
	tc, err := stack.Temporal.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	w := &world{t: t, owner: t, ctx: ctx, dir: dir, stack: stack, proxy: proxy, kube: kube, temporal: tc, certflow: map[string]*certflowProcess{},
		args: opts.certflowArgs, partArgs: opts.partArgs}
	// Registered after the stack's clean-ups and before certflow's, so it runs
	// when certflow has stopped and the stack still serves: every history of
	// the test is complete, and none may hold a secret.
	t.Cleanup(func() {
		if !t.Failed() {
			w.assertNoSecretsInHistories(t)
		}
	})
	if opts.dnsProxy {
		if w.dns, err = sandbox.StartDNSProxy(stack.BIND.Addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.dns.Stop() })
	}
	if opts.kubeProxy {
		if w.kubeProxy, err = sandbox.StartKubeProxy(stack.Kubernetes, dir); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.kubeProxy.Stop() })
	}

	w.namespace(sandbox.ClusterResourceNamespace)
	w.create(stack.TSIGSecret())
	issuer := stack.ClusterIssuer("pebble", proxy.DirectoryURL, proxy.CACertPEM, sandbox.TSIGSecretName)
	if w.dns != nil {
		issuer.Spec.ACME.Solvers[0].DNS01.RFC2136.Nameserver = w.dns.Addr
	}
	if opts.retryBackoff > 0 {
		issuer.Spec.RetryBackoff = &certflowv1.RetryBackoff{Initial: &metav1.Duration{Duration: opts.retryBackoff}}
	}
	if !opts.noIssuer {
		w.create(issuer)
	}
	if opts.beforeCertflow != nil {
		opts.beforeCertflow(w)
	}
	// Registered before the processes' own clean-ups, so it runs after them:
	// the logs are complete.
	t.Cleanup(func() {
		for _, role := range slices.Concat([]string{"run", "controller", "worker"}, opts.workers) {
			p := filepath.Join(dir, "certflow-"+role+".log")
			if !fileExists(p) {
				continue
			}
			if t.Failed() {
				t.Logf("certflow %s log (last 40 lines):\n%s", role, lastLines(p, 40))
			}
			keepLog(t, p)
		}
	})
	switch {
	case opts.split && len(opts.workers) > 0:
		w.start("controller")
		for _, name := range opts.workers {
			w.startWorker(name)
		}
	case opts.split:
		w.start("controller")
		w.start("worker")
	default:
		w.startCertflow()
	}
	// The issuer registers its ACME account before any test begins: tests
	// that watch the CA's requests then see only those of issuances.
	if !opts.noIssuer {
		w.waitClusterIssuerReady(issuer.Name, time.Minute)
	}
	return w
}

// in is the world as subtest t sees it: failures are t's, and what it
// starts still lives as long as the world.
func (w *world) in(t *testing.T) *world {
	sub := *w
	sub.t = t
	return &sub
}

// waitClusterIssuerReady waits until the ClusterIssuer is Ready (its ACME
// account registered).
func (w *world) waitClusterIssuerReady(name string, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ci certflowv1.ClusterIssuer
		err := w.kube.Get(w.ctx, client.ObjectKey{Name: name}, &ci)
		if err == nil && meta.IsStatusConditionTrue(ci.Status.Conditions, certflowv1.ConditionReady) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("ClusterIssuer %s not Ready within %s (%v): %+v", name, timeout, err, ci.Status.Conditions)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startCertflow runs `certflow run` against the stack.
func (w *world) startCertflow() { w.start("run") }

// killCertflow ends `certflow run` at once, as a crashed node would.
func (w *world) killCertflow() { w.kill("run") }

// start runs a certflow subcommand ("run", "controller" or "worker") against
// the stack, logging to certflow-<subcommand>.log in the world's folder. It
// is stopped with SIGTERM when the test ends.
func (w *world) start(subcommand string) {
	w.t.Helper()
	w.startProcess(subcommand, append([]string{subcommand, "--log-level", "debug"}, w.flags(subcommand)...), w.env)
}

// startWorker runs `certflow worker` as the process name, which is also its
// identity in Temporal's histories.
func (w *world) startWorker(name string) {
	w.t.Helper()
	args := slices.Concat([]string{"worker", "--log-level", "debug"}, w.flags("worker"), []string{"--identity", name})
	w.startProcess(name, args, w.env)
}

// startProcess runs certflow with args and more environment, as the
// process name (its key in w.certflow and its log certflow-<name>.log).
func (w *world) startProcess(name string, args, env []string) {
	w.t.Helper()
	bin, err := certflowBinary()
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sandbox.ChildAttrs()
	logPath := filepath.Join(w.dir, "certflow-"+name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		w.t.Fatal(err)
	}
	p := &certflowProcess{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	w.certflow[name] = p
	w.owner.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
}

// kill ends a running certflow subcommand at once (SIGKILL).
func (w *world) kill(subcommand string) {
	w.t.Helper()
	p := w.certflow[subcommand]
	if p == nil {
		w.t.Fatalf("certflow %s is not running", subcommand)
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	delete(w.certflow, subcommand)
}

// flags point a certflow subcommand at the stack, through the world's
// proxies, with only the flags the subcommand takes.
func (w *world) flags(subcommand string) []string {
	dnsAddr, kubeconfig := w.stack.BIND.Addr, w.stack.Kubernetes.Kubeconfig
	if w.dns != nil {
		dnsAddr = w.dns.Addr
	}
	if w.kubeProxy != nil {
		kubeconfig = w.kubeProxy.Kubeconfig
	}
	_, dnsPort, _ := net.SplitHostPort(dnsAddr)
	base := w.stack.CertflowArgs()
	var args []string
	for i := 0; i+1 < len(base); i += 2 {
		flag, value := base[i], base[i+1]
		switch flag {
		case "--kubeconfig":
			value = kubeconfig
		case "--dns01-recursive-nameservers":
			value = dnsAddr
		case "--dns01-nameserver-port":
			value = dnsPort
		}
		if (strings.HasPrefix(flag, "--dns01-") || strings.HasPrefix(flag, "--http01-")) && subcommand == "controller" {
			continue // worker flags
		}
		if flag == "--http01-solver-listen" && subcommand != "run" {
			continue // the responder runs inside `run` only
		}
		args = append(args, flag, value)
	}
	if subcommand != "worker" {
		args = append(args, "--health-addr", "0") // parallel tests would share :8081
	}
	return slices.Concat(args, w.args, w.partArgs[subcommand])
}

func (w *world) namespace(name string) {
	w.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

func (w *world) create(obj client.Object) {
	w.t.Helper()
	if err := w.kube.Create(w.ctx, obj); err != nil {
		w.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// certificate is a Certificate for names in the sandbox zone, issued by the
// "pebble" ClusterIssuer.
func certificate(namespace, name, secret string, dnsNames ...string) *certflowv1.Certificate {
	return &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: certflowv1.CertificateSpec{
			SecretName: secret,
			DNSNames:   dnsNames,
			IssuerRef:  certflowv1.ObjectReference{Name: "pebble", Kind: "ClusterIssuer"},
		},
	}
}

// waitFor polls the Certificate until ok says yes, failing the test with its
// status after timeout.
func (w *world) waitFor(namespace, name string, timeout time.Duration, what string, ok func(*certflowv1.Certificate) bool) *certflowv1.Certificate {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var cert certflowv1.Certificate
	for {
		err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cert)
		if err == nil && ok(&cert) {
			return &cert
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("Certificate %s/%s: %s did not happen within %s (get: %v); status:\n%+v", namespace, name, what, timeout, err, cert.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady waits until the Certificate is Ready for its current generation.
func (w *world) waitReady(namespace, name string) *certflowv1.Certificate {
	w.t.Helper()
	return w.waitFor(namespace, name, 2*time.Minute, "Ready", func(c *certflowv1.Certificate) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionTrue && c.Status.ObservedGeneration == c.Generation
	})
}

// issued is what a TLS Secret holds, parsed.
type issued struct {
	secret *corev1.Secret
	leaf   *x509.Certificate
	chain  []*x509.Certificate
	key    crypto.Signer
}

func (w *world) tlsSecret(namespace, name string) issued {
	w.t.Helper()
	var s corev1.Secret
	if err := w.kube.Get(w.ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		w.t.Fatalf("reading Secret %s/%s: %v", namespace, name, err)
	}
	chain, err := pki.ParseChain(s.Data["tls.crt"])
	if err != nil {
		w.t.Fatalf("Secret %s/%s: tls.crt: %v", namespace, name, err)
	}
	key, err := pki.ParseKey(s.Data["tls.key"])
	if err != nil {
		w.t.Fatalf("Secret %s/%s: tls.key: %v", namespace, name, err)
	}
	return issued{secret: &s, leaf: chain[0], chain: chain, key: key}
}

// verify checks the leaf chains to Pebble's root for each name and that the
// key is the leaf's.
func (w *world) verify(is issued, names ...string) {
	w.t.Helper()
	rootPEM, err := w.stack.Pebble.Root(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	for _, c := range is.chain[1:] {
		inter.AddCert(c)
	}
	for _, name := range names {
		if _, err := is.leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
			w.t.Errorf("certificate for %s: %v", name, err)
		}
	}
	if !pki.KeyMatches(is.leaf, is.key) {
		w.t.Error("tls.key does not match the certificate")
	}
}

// challengeRecords lists the _acme-challenge TXT records left in BIND for the names.
func (w *world) challengeRecords(names ...string) []string {
	var left []string
	for _, name := range names {
		for _, rr := range w.txtRecords("_acme-challenge." + strings.TrimPrefix(name, "*.") + ".") {
			left = append(left, rr.String())
		}
	}
	return left
}

// txt lists the values of the TXT records BIND has at fqdn.
func (w *world) txt(fqdn string) []string {
	var values []string
	for _, rr := range w.txtRecords(fqdn) {
		values = append(values, strings.Join(rr.Txt, ""))
	}
	return values
}

func (w *world) txtRecords(fqdn string) []*dns.TXT {
	w.t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(fqdn, dns.TypeTXT)
	resp, _, err := new(dns.Client).Exchange(q, w.stack.BIND.Addr)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*dns.TXT
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, txt)
		}
	}
	return out
}

// workflowClosed waits until the workflow's latest run is no longer running.
func (w *world) workflowClosed(id string, timeout time.Duration) string {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		desc, err := w.temporal.DescribeWorkflowExecution(w.ctx, id, "")
		if err == nil && desc.WorkflowExecutionInfo.Status.String() != "Running" {
			return desc.WorkflowExecutionInfo.Status.String()
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("workflow %s still running after %s (describe: %v)", id, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *world) gone(obj client.Object, timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := w.kube.Get(w.ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%T %s still exists after %s (finalizers %v)", obj, obj.GetName(), timeout, obj.GetFinalizers())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// keepLog copies a log into $CERTFLOW_TEST_LOGS, when set, as
// <test>-<file>: the test's folder is removed when it ends.
func keepLog(t *testing.T, path string) {
	dir := os.Getenv("CERTFLOW_TEST_LOGS")
	if dir == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(path)), data, 0o644)
	}
	if err != nil {
		t.Logf("keeping %s: %v", path, err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
