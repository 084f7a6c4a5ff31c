package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/sandbox"
)

// The fault tests stop a part in the middle of issuances and start it again;
// these check that a restarted part is the same part: same address, same
// credentials, same data.

func TestBINDKeepsDynamicRecordsAcrossARestart(t *testing.T) {
	t.Parallel()
	b := startBIND(t)
	fqdn := "_acme-challenge.kept." + b.Zone + "."
	addTXT(t, b, fqdn, "added before the stop")

	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	msg := new(dns.Msg)
	msg.SetQuestion(fqdn, dns.TypeTXT)
	if _, _, err := (&dns.Client{Timeout: time.Second}).Exchange(msg, b.Addr); err == nil {
		t.Fatal("a stopped BIND answered")
	}
	if err := b.Start(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if !hasTXT(query(t, b.Addr, fqdn, dns.TypeTXT), "added before the stop") {
		t.Fatal("the record added by dynamic update before the stop is gone after the restart")
	}
	addTXT(t, b, fqdn, "added after the restart") // the same key still signs updates
}

func TestTemporalRestartKeepsWorkflowsWhenPersistent(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tmp, err := sandbox.StartTemporal(ctx, sandbox.TemporalOptions{Dir: t.TempDir(), Persistent: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Stop() })
	c, err := tmp.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// No worker: the workflow stays Running, which is what the restart must keep.
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "kept", TaskQueue: "nobody"}, "Anything"); err != nil {
		t.Fatal(err)
	}

	tmp.Kill()
	if err := tmp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The client made before the crash reconnects on its own.
	desc, err := c.DescribeWorkflowExecution(ctx, "kept", "")
	if err != nil {
		t.Fatalf("describing the workflow after the restart: %v", err)
	}
	if status := desc.WorkflowExecutionInfo.Status.String(); status != "Running" {
		t.Fatalf("after the restart the workflow is %s, want Running", status)
	}
}

func TestKubernetesAPIServerRestartKeepsObjectsAndClients(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	k, err := sandbox.StartKubernetes(ctx, sandbox.KubernetesOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Stop() })
	kube, err := k.Client()
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kept"}, Data: map[string]string{"a": "b"}}
	if err := kube.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}

	t.Run("through the proxy, requests pass, and a delayed route waits", func(t *testing.T) {
		proxy, err := sandbox.StartKubeProxy(k, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = proxy.Stop() })
		viaProxy := clientFor(t, proxy.Kubeconfig)
		const delay = time.Second
		proxy.Delay(http.MethodGet, "/api/v1/namespaces/*/configmaps/kep*", delay)
		for _, tc := range []struct {
			name    string
			delayed bool
		}{{"kept", true}, {"kube-root-ca.crt", false}} {
			start := time.Now()
			var got corev1.ConfigMap
			err := viaProxy.Get(ctx, ctrlclient.ObjectKey{Namespace: "default", Name: tc.name}, &got)
			if err != nil && tc.name == "kept" {
				t.Fatalf("getting ConfigMap %s through the proxy: %v", tc.name, err)
			}
			if took := time.Since(start); (took >= delay) != tc.delayed {
				t.Errorf("getting ConfigMap %s took %s; delayed: %v, want %v", tc.name, took, took >= delay, tc.delayed)
			}
		}
	})

	// A watch open, as every controller has: the stop must not wait for it.
	watchCtx, endWatch := context.WithCancel(ctx)
	defer endWatch()
	watcher, err := ctrlclient.NewWithWatch(k.Config, ctrlclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := watcher.Watch(watchCtx, &corev1.ConfigMapList{}, ctrlclient.InNamespace("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	if err := k.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := kube.Get(ctx, ctrlclient.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err == nil {
		t.Fatal("a stopped API server answered")
	}
	if err := k.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	// The client made before the stop trusts the server and is trusted by it.
	var got corev1.ConfigMap
	if err := kube.Get(ctx, ctrlclient.ObjectKeyFromObject(cm), &got); err != nil {
		t.Fatalf("reading the ConfigMap after the restart: %v", err)
	}
	if got.Data["a"] != "b" {
		t.Fatalf("after the restart the ConfigMap holds %v", got.Data)
	}
	if _, err := connect.KubernetesConfig(connect.Kubernetes{Kubeconfig: k.Kubeconfig, Timeout: 10 * time.Second}); err != nil {
		t.Fatalf("the kubeconfig written at start does not reach the restarted server: %v", err)
	}
}

// addTXT adds a TXT record by a dynamic update signed with BIND's key.
func addTXT(t *testing.T, b *sandbox.BIND, fqdn, value string) {
	t.Helper()
	if err := sendTXT(b, fqdn, value); err != nil {
		t.Fatal(err)
	}
}

func sendTXT(b *sandbox.BIND, fqdn, value string) error {
	rr, err := dns.NewRR(fqdn + ` 60 IN TXT "` + value + `"`)
	if err != nil {
		return err
	}
	update := new(dns.Msg)
	update.SetUpdate(b.Zone + ".")
	update.Insert([]dns.RR{rr})
	update.SetTsig(b.TSIGKeyFQDN(), dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{b.TSIGKeyFQDN(): b.TSIGSecret}}
	resp, _, err := c.Exchange(update, b.Addr)
	if err != nil {
		return fmt.Errorf("adding TXT %s: %w", fqdn, err)
	}
	if resp.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("adding TXT %s: %s", fqdn, dns.RcodeToString[resp.Rcode])
	}
	return nil
}

func clientFor(t *testing.T, kubeconfig string) ctrlclient.Client {
	t.Helper()
	cfg, err := connect.KubernetesConfig(connect.Kubernetes{Kubeconfig: kubeconfig, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := connect.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ctrlclient.New(rest.CopyConfig(cfg), ctrlclient.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
