package tests

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// The workflows' series in TestMetrics: what an issuance, a failure and a
// rate limit leave in a scrape of `certflow run`.

// metricsRetryAfter is the Retry-After of the 429 in TestMetrics: longer than
// the test, so that the rate-limited Certificate makes one attempt.
const metricsRetryAfter = 10 * time.Minute

// metricsOrderBudget is the new-order budget of the rate-limited
// Certificate's issuer, an hour's.
const metricsOrderBudget = 10

// rateLimitOneOrder makes the CA refuse every new order from now on with a
// 429, creates an issuer with an order budget and a Certificate of it, and
// waits until the Certificate shows the rate limit.
func rateLimitOneOrder(w *world, ns string) *certflowv1.Certificate {
	w.t.Helper()
	budgeted := w.stack.ClusterIssuer("budgeted", w.proxy.DirectoryURL, w.proxy.CACertPEM, sandbox.TSIGSecretName)
	budgeted.Spec.ACME.RateLimits.NewOrders = &certflowv1.RateLimit{Limit: metricsOrderBudget, Period: metav1.Duration{Duration: time.Hour}}
	w.create(budgeted)
	w.proxy.RateLimitAfter(sandbox.ActionNewOrder, 0, metricsRetryAfter)
	limited := certificate(ns, "limited", "limited-tls", "limited.certflow.test")
	limited.Spec.IssuerRef.Name = budgeted.Name
	w.create(limited)
	return w.waitRateLimited(ns, "limited", time.Time{})
}

// issuanceProblems checks the workflows' series after TestMetrics' three
// Certificates: "issued" by pebble, "failing" on other-zone (failed), and
// "limited" on budgeted (limited).
func issuanceProblems(families map[string]*dto.MetricFamily, failed, limited *certflowv1.Certificate) []string {
	reason := ""
	if ready := meta.FindStatusCondition(failed.Status.Conditions, certflowv1.ConditionReady); ready != nil {
		reason = ready.Reason
	}
	issuer := func(name string, kv ...string) map[string]string {
		labels := map[string]string{"issuer_kind": "ClusterIssuer", "issuer_name": name}
		for i := 0; i+1 < len(kv); i += 2 {
			labels[kv[i]] = kv[i+1]
		}
		return labels
	}
	budget := float64(metricsOrderBudget - 1) // the refused order counts: the CA may have seen it
	checks := []struct {
		name   string
		labels map[string]string
		get    func(*dto.Metric) float64
		want   func(float64) bool
		says   string
	}{
		{"certflow_issuance_attempts_total", issuer("pebble", "result", "success"), counter, is(1), "1"},
		{"certflow_issuance_attempts_total", issuer("pebble", "result", "failure"), counter, is(-1), "no series"},
		{"certflow_issuance_duration_seconds", issuer("pebble"), histogramCount, is(1), "1 observation"},
		{"certflow_issuance_duration_seconds", issuer("pebble"), histogramSum, between(0.1, 120), "0.1 s to 2 min"},
		{"certflow_limiter_permits_granted_total", issuer("pebble"), counter, atLeast(1), ">= 1"},
		// The failure is a user's to fix: its reason is the condition's.
		{"certflow_issuance_attempts_total", issuer("other-zone", "result", "failure"), counter, atLeast(1), ">= 1"},
		{"certflow_issuance_failures_total", issuer("other-zone", "reason", reason), counter, atLeast(1), ">= 1 (reason " + reason + ")"},
		{"certflow_issuance_failures_total", issuer("other-zone", "reason", certflowv1.ReasonNoSolver), counter, atLeast(1), ">= 1"},
		{"certflow_issuance_attempts_total", issuer("budgeted", "result", "failure"), counter, is(1), "1"},
		{"certflow_issuance_failures_total", issuer("budgeted", "reason", certflowv1.ReasonRateLimited), counter, is(1), "1"},
		{"certflow_rate_limit_wait_seconds", issuer("budgeted", "cause", "ca"), histogramCount, is(1), "1 wait"},
		// The wait counts from the 429, plus up to a minute of jitter.
		{"certflow_rate_limit_wait_seconds", issuer("budgeted", "cause", "ca"), histogramSum,
			between(metricsRetryAfter.Seconds()-10, metricsRetryAfter.Seconds()+61), fmt.Sprintf("the Retry-After of %s", metricsRetryAfter)},
		{"certflow_limiter_permits_granted_total", issuer("budgeted"), counter, is(1), "1"},
		{"certflow_limiter_order_budget_remaining", issuer("budgeted"), gauge, is(budget), fmt.Sprint(budget)},
	}
	var problems []string
	if n := limited.Status.FailedIssuanceAttempts; n == nil || *n != 1 {
		problems = append(problems, fmt.Sprintf("the rate-limited Certificate's failed attempts are %v, want 1", n))
	}
	for _, c := range checks {
		got := -1.0 // no series
		if m, ok := series(families[c.name], c.labels); ok {
			got = c.get(m)
		}
		if !c.want(got) {
			problems = append(problems, fmt.Sprintf("%s %v = %v, want %s", c.name, c.labels, got, c.says))
		}
	}
	// None of them has a cert-manager name: cert-manager has no such series.
	for name := range families {
		if strings.HasPrefix(name, "certmanager_issuance") || strings.HasPrefix(name, "certmanager_limiter") || strings.HasPrefix(name, "certmanager_rate_limit") {
			problems = append(problems, "served under a cert-manager name cert-manager does not have: "+name)
		}
	}
	// The Temporal SDK's series are served too.
	var tasks float64
	for _, m := range families["temporal_workflow_task_execution_latency_seconds"].GetMetric() {
		tasks += histogramCount(m)
	}
	if tasks == 0 {
		problems = append(problems, "no temporal_workflow_task_execution_latency_seconds observations")
	}
	return problems
}

func counter(m *dto.Metric) float64        { return m.GetCounter().GetValue() }
func gauge(m *dto.Metric) float64          { return m.GetGauge().GetValue() }
func histogramCount(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }
func histogramSum(m *dto.Metric) float64   { return m.GetHistogram().GetSampleSum() }

func is(v float64) func(float64) bool      { return func(got float64) bool { return got == v } }
func atLeast(v float64) func(float64) bool { return func(got float64) bool { return got >= v } }
func between(lo, hi float64) func(float64) bool {
	return func(got float64) bool { return got >= lo && got <= hi }
}

// series is the series of family whose labels are exactly labels.
func series(family *dto.MetricFamily, labels map[string]string) (*dto.Metric, bool) {
	for _, m := range family.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if match {
			return m, true
		}
	}
	return nil, false
}

// dashboardMetric is a metric name in the dashboard's queries.
var dashboardMetric = regexp.MustCompile(`\b(?:certflow|certmanager|temporal)_[a-zA-Z0-9_]+`)

// dashboardProblems lists the series the Grafana dashboard queries that the
// scrape does not serve: after TestMetrics' issuance, failure and rate
// limit, every panel has data.
func dashboardProblems(t *testing.T, families map[string]*dto.MetricFamily) []string {
	raw, err := os.ReadFile("../deploy/grafana/certflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, name := range dashboardMetric.FindAllString(string(raw), -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && families[b] != nil {
				base = b
			}
		}
		if families[base] == nil {
			problems = append(problems, "the dashboard queries "+name+", which is not served")
		}
	}
	return problems
}
