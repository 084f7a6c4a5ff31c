// Command histories records the workflow histories that the replay tests
// (workflows/replay_test.go) replay: it brings up the local stack, runs
// `certflow run` on it, issues a wildcard certificate and its apex, renews
// it (an ARI renewal), and writes the histories of every workflow that ran
// into workflows/testdata/histories, as `temporal workflow show -o json`
// would. Recorded histories are never recorded again to make a change pass
// (DESIGN.md, Versions): run it for a new release's shapes, into new files.
//
// Usage: go run ./hack/histories [-prefix v0.1.0-] (make histories)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	tclient "go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

func main() {
	prefix := flag.String("prefix", "", "prefix of the files written (a release: v0.1.0-)")
	flag.Parse()
	if err := run(*prefix); err != nil {
		fmt.Fprintln(os.Stderr, "histories:", err)
		os.Exit(1)
	}
}

func run(prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := sandbox.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "certflow-histories-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stack, err := sandbox.Start(ctx, sandbox.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer stack.Stop()

	args := append([]string{"run", "--health-addr", "0"}, stack.CertflowArgs()...)
	certflow := exec.CommandContext(ctx, filepath.Join(root, "bin", "certflow"), args...)
	logFile, err := os.Create(filepath.Join(dir, "certflow.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	certflow.Stdout, certflow.Stderr = logFile, logFile
	certflow.Cancel = func() error { return certflow.Process.Signal(syscall.SIGTERM) }
	certflow.SysProcAttr = sandbox.ChildAttrs()
	if err := certflow.Start(); err != nil {
		return fmt.Errorf("starting certflow: %w", err)
	}
	defer func() { cancel(); _ = certflow.Wait() }()

	kube, err := stack.Kubernetes.Client()
	if err != nil {
		return err
	}
	tc, err := stack.Temporal.Dial(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()

	zone := stack.BIND.Zone
	cert := &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "demo"},
		Spec: certflowv1.CertificateSpec{
			SecretName: "demo-tls", DNSNames: []string{"*.demo." + zone, "demo." + zone},
			IssuerRef: certflowv1.ObjectReference{Kind: certflowv1.ClusterIssuerKind, Name: "pebble"},
		},
	}
	// Pebble publishes no limits: a budget of Let's Encrypt's size makes the
	// order ask the account limiter for its permit, so that both are recorded.
	issuer := stack.ClusterIssuer("pebble", stack.Pebble.DirectoryURL, stack.Pebble.CACertPEM, sandbox.TSIGSecretName)
	issuer.Spec.ACME.RateLimits = &certflowv1.RateLimits{
		NewOrders: &certflowv1.RateLimit{Limit: 300, Period: metav1.Duration{Duration: 3 * time.Hour}},
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sandbox.ClusterResourceNamespace}},
		stack.TSIGSecret(),
		issuer,
		cert,
	} {
		if err := kube.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	if err := waitRevision(ctx, kube, cert, 1); err != nil {
		return err
	}
	desc, err := describeCertificate(ctx, kube, cert)
	if err != nil {
		return err
	}
	if err := tc.SignalWorkflow(ctx, desc, "", "renew", nil); err != nil {
		return fmt.Errorf("signalling renew: %w", err)
	}
	if err := waitRevision(ctx, kube, cert, 2); err != nil {
		return err
	}
	dir = filepath.Join(root, "workflows", "testdata", "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return write(ctx, tc, dir, prefix, desc)
}

// waitRevision waits until the Certificate is Ready with the revision.
func waitRevision(ctx context.Context, kube client.Client, cert *certflowv1.Certificate, revision int) error {
	for {
		var c certflowv1.Certificate
		err := kube.Get(ctx, types.NamespacedName{Namespace: cert.Namespace, Name: cert.Name}, &c)
		if err == nil && meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady) &&
			c.Status.Revision != nil && *c.Status.Revision >= revision {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for revision %d of %s: %w (status %+v)", revision, cert.Name, ctx.Err(), c.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describeCertificate is the Certificate's workflow ID, from its status.
func describeCertificate(ctx context.Context, kube client.Client, cert *certflowv1.Certificate) (string, error) {
	var c certflowv1.Certificate
	if err := kube.Get(ctx, types.NamespacedName{Namespace: cert.Namespace, Name: cert.Name}, &c); err != nil {
		return "", err
	}
	return c.Status.WorkflowID, nil
}

// write saves the history of every workflow run as <prefix><kind>-<n>.json,
// named by what it did: the Certificate's runs, its Orders, the Issuer's
// account registration, the account limiter.
func write(ctx context.Context, tc tclient.Client, dir, prefix, certificateID string) error {
	resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{})
	if err != nil {
		return err
	}
	executions := resp.Executions
	slices.SortFunc(executions, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return a.StartTime.AsTime().Compare(b.StartTime.AsTime())
	})
	names := map[string]int{}
	for _, ex := range executions {
		id := ex.Execution.WorkflowId
		var name string
		switch {
		case id == certificateID:
			name = "certificate"
		case strings.HasPrefix(id, certificateID+"/order/1/"):
			name = "order-dns01-with-permit"
		case strings.HasPrefix(id, certificateID+"/order/2/"):
			name = "order-ari-renewal"
		case strings.HasPrefix(id, sandbox.ClusterName+"/issuer/"):
			name = "issuer-registered"
		case strings.HasPrefix(id, sandbox.ClusterName+"/limiter/"):
			name = "limiter-one-permit"
		default:
			return fmt.Errorf("a workflow no history is named for: %s", id)
		}
		if name == "certificate" {
			names[name]++
			name = fmt.Sprintf("%s-run%d", name, names[name])
		}
		var events []*historypb.HistoryEvent
		it := tc.GetWorkflowHistory(ctx, id, ex.Execution.RunId, false, 0)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return err
			}
			events = append(events, ev)
		}
		data, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: events})
		if err != nil {
			return err
		}
		path := filepath.Join(dir, prefix+name+".json")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %s, %d events\n", path, id, len(events))
	}
	return nil
}
