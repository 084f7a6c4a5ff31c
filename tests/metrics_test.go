package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/metrics"
	"github.com/certflow/certflow/internal/sandbox"
)

// TestMetrics scrapes `certflow run`'s /metrics, with cert-manager's names
// on, after one Certificate is issued, another fails and a third is
// rate-limited: each per-certificate and ACME series is there under both
// names, with the values of the Certificates' status and Secret, and the
// ACME requests of the issuance are counted by action; the workflows'
// issuance series count the three attempts (metrics_issuance_test.go); and
// every series the Grafana dashboard queries is served.
func TestMetrics(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	w := newWorldWith(t, worldOptions{certflowArgs: []string{"--metrics-addr", addr, "--metrics-cert-manager-names"}})
	const ns = "metrics"
	w.namespace(ns)
	other := w.stack.ClusterIssuer("other-zone", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	other.Spec.ACME.Solvers[0].Selector = &certflowv1.CertificateDNSNameSelector{DNSZones: []string{"example.org"}}
	w.create(other)
	w.create(certificate(ns, "issued", "issued-tls", "metrics.certflow.test"))
	failing := certificate(ns, "failing", "failing-tls", "failing.certflow.test")
	failing.Spec.IssuerRef.Name = other.Name
	w.create(failing)

	issued := w.waitReady(ns, "issued")
	leaf := w.tlsSecret(ns, "issued-tls").leaf
	failed := w.waitFor(ns, "failing", time.Minute, "Ready False", func(c *certflowv1.Certificate) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionFalse
	})
	limited := rateLimitOneOrder(w, ns)
	caURL, err := url.Parse(w.proxy.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}

	issuedLabels := map[string]string{"namespace": ns, "name": "issued", "issuer_name": "pebble", "issuer_kind": "ClusterIssuer", "issuer_group": ""}
	failingLabels := map[string]string{"namespace": ns, "name": "failing", "issuer_name": "other-zone", "issuer_kind": "ClusterIssuer", "issuer_group": ""}
	with := func(labels map[string]string, name, value string) map[string]string {
		out := map[string]string{name: value}
		for k, v := range labels {
			out[k] = v
		}
		return out
	}
	acme := func(action, status string) map[string]string {
		return map[string]string{"scheme": caURL.Scheme, "host": caURL.Host, "action": action, "method": http.MethodPost, "status": status}
	}
	type check struct {
		name   string // without the prefix
		labels map[string]string
		want   func(float64) bool
		says   string
	}
	equals := func(v float64) (func(float64) bool, string) {
		return func(got float64) bool { return got == v }, fmt.Sprint(v)
	}
	positive := func(got float64) bool { return got > 0 }
	var checks []check
	add := func(name string, labels map[string]string, want func(float64) bool, says string) {
		checks = append(checks, check{name, labels, want, says})
	}
	f, s := equals(float64(leaf.NotAfter.Unix()))
	add(metrics.CertificateExpiration, issuedLabels, f, s)
	add(metrics.CertificateNotAfter, issuedLabels, f, s)
	f, s = equals(float64(leaf.NotBefore.Unix()))
	add(metrics.CertificateNotBefore, issuedLabels, f, s)
	f, s = equals(float64(issued.Status.RenewalTime.Unix()))
	add(metrics.CertificateRenewal, issuedLabels, f, s)
	f, s = equals(1)
	add(metrics.CertificateReady, with(issuedLabels, "condition", "True"), f, s)
	add(metrics.CertificateReady, with(failingLabels, "condition", "False"), f, s)
	f, s = equals(0)
	add(metrics.CertificateReady, with(issuedLabels, "condition", "False"), f, s)
	add(metrics.CertificateReady, with(failingLabels, "condition", "True"), f, s)
	add(metrics.CertificateExpiration, failingLabels, f, s)
	add(metrics.ACMERequestCount, acme(metrics.ActionAuthorizeOrder, "201"), positive, "> 0")
	add(metrics.ACMERequestCount, acme(metrics.ActionCreateOrderCert, "200"), positive, "> 0")
	add(metrics.ACMERequestCount, acme(metrics.ActionAcceptChallenge, "200"), positive, "> 0")

	// The cache may trail the status the test read by a moment.
	var problems []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		families, err := scrape("http://" + addr + "/metrics")
		problems = nil
		if err != nil {
			problems = append(problems, err.Error())
		}
		problems = append(problems, issuanceProblems(families, failed, limited)...)
		problems = append(problems, dashboardProblems(t, families)...)
		for _, prefix := range []string{metrics.Prefix, metrics.CertManagerPrefix} {
			for _, c := range checks {
				got, ok := value(families[prefix+c.name], c.labels)
				switch {
				case !ok:
					problems = append(problems, fmt.Sprintf("no %s%s %v", prefix, c.name, c.labels))
				case !c.want(got):
					problems = append(problems, fmt.Sprintf("%s%s %v = %v, want %s", prefix, c.name, c.labels, got, c.says))
				}
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(problems) > 0 {
		t.Errorf("scraping /metrics:\n%s", strings.Join(problems, "\n"))
	}
}

// scrape reads the metrics served at u with Prometheus's text parser.
func scrape(u string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(u) //nolint:noctx // a test's loopback request
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", u, err)
	}
	return families, nil
}

// value is the value of the series of family whose labels are exactly
// labels: a gauge's, or a counter's.
func value(family *dto.MetricFamily, labels map[string]string) (float64, bool) {
	m, ok := series(family, labels)
	switch {
	case !ok:
		return 0, false
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	}
	return m.GetGauge().GetValue(), true
}

// TestMetricsSplit runs `certflow controller` and `certflow worker` apart,
// each with its own metrics port: each serves what it has, the controller
// the Certificates' series and the worker its ACME requests, and neither
// the other's.
func TestMetricsSplit(t *testing.T) {
	t.Parallel()
	controllerAddr, workerAddr := freeAddr(t), freeAddr(t)
	w := newWorldWith(t, worldOptions{split: true, partArgs: map[string][]string{
		"controller": {"--metrics-addr", controllerAddr},
		"worker":     {"--metrics-addr", workerAddr},
	}})
	const ns = "metrics-split"
	w.namespace(ns)
	w.create(certificate(ns, "issued", "issued-tls", "metrics-split.certflow.test"))
	w.waitReady(ns, "issued")

	ready := metrics.Prefix + metrics.CertificateReady
	requests := metrics.Prefix + metrics.ACMERequestCount
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		families, err := scrape("http://" + controllerAddr + "/metrics")
		if err != nil {
			t.Fatalf("controller: %v", err)
		}
		got, ok := value(families[ready], map[string]string{"namespace": ns, "name": "issued", "condition": "True",
			"issuer_name": "pebble", "issuer_kind": "ClusterIssuer", "issuer_group": ""})
		if ok && got == 1 {
			if families[requests] != nil {
				t.Errorf("the controller serves %s, which is the worker's", requests)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller's %s for %s/issued is %v (there: %t), want 1", ready, ns, got, ok)
		}
	}
	families, err := scrape("http://" + workerAddr + "/metrics")
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	var orders float64
	for _, m := range families[requests].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "action" && l.GetValue() == metrics.ActionAuthorizeOrder {
				orders += m.GetCounter().GetValue()
			}
		}
	}
	if orders == 0 {
		t.Errorf("the worker counted no %s requests in %s", metrics.ActionAuthorizeOrder, requests)
	}
	if families[ready] != nil {
		t.Errorf("the worker serves %s, which is the controller's", ready)
	}
}
