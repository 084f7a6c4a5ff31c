package tests

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/sandbox"
)

// world is the whole stack with certflow running on it as a separate process
// (so a test can kill it), a ClusterIssuer "pebble" whose DNS-01 solver
// updates BIND, and clients to look at everything.
type world struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	stack    *sandbox.Stack
	proxy    *sandbox.ACMEProxy
	kube     client.Client
	temporal tclient.Client
	certflow *exec.Cmd
	logPath  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := testContext(t, 10*time.Minute)
	dir := t.TempDir()
	stack, err := sandbox.Start(ctx, sandbox.Options{Dir: dir})
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
	w := &world{t: t, ctx: ctx, dir: dir, stack: stack, proxy: proxy, kube: kube, temporal: tc, logPath: filepath.Join(dir, "certflow.log")}

	w.namespace(sandbox.ClusterResourceNamespace)
	w.create(stack.TSIGSecret())
	w.create(stack.ClusterIssuer("pebble", proxy.DirectoryURL, proxy.CACertPEM, sandbox.TSIGSecretName))
	w.startCertflow()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("certflow log (last 40 lines):\n%s", lastLines(w.logPath, 40))
		}
	})
	return w
}

// startCertflow runs `certflow run` against the stack, logging to a file.
func (w *world) startCertflow() {
	w.t.Helper()
	bin, err := certflowBinary()
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"run", "--health-addr", "0", "--log-level", "debug"}, w.stack.CertflowArgs()...)...)
	logFile, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.certflow = cmd
	w.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	})
}

// killCertflow ends certflow at once, as a crashed node would.
func (w *world) killCertflow() {
	_ = w.certflow.Process.Kill()
	_ = w.certflow.Wait()
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
		fqdn := "_acme-challenge." + strings.TrimPrefix(name, "*.") + "."
		q := new(dns.Msg)
		q.SetQuestion(fqdn, dns.TypeTXT)
		resp, _, err := new(dns.Client).Exchange(q, w.stack.BIND.Addr)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, rr := range resp.Answer {
			left = append(left, rr.String())
		}
	}
	return left
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
