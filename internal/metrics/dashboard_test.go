package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/certflow/certflow/workflows"
)

// dashboard is the Grafana dashboard shipped in deploy/; the real-stack
// TestMetrics checks that a scrape serves every series it names.
const dashboardFile = "../../deploy/grafana/certflow.json"

// sdkFamilies are the Temporal SDK's series the dashboard may query, as the
// handler names them.
var sdkFamilies = []string{
	"temporal_workflow_task_execution_latency_seconds",
	"temporal_workflow_task_schedule_to_start_latency_seconds",
	"temporal_activity_execution_latency_seconds",
	"temporal_local_activity_execution_latency_seconds",
	"temporal_sticky_cache_size",
	"temporal_num_pollers",
	"temporal_worker_task_slots_available",
	"temporal_request_total",
	"temporal_long_request_total",
}

// metricName finds the metric names in a PromQL expression: certflow's,
// cert-manager's and Temporal's prefixes; label names never start so.
var metricName = regexp.MustCompile(`\b(?:certflow|certmanager|temporal)_[a-zA-Z0-9_]+`)

// Kinds of family whose series have suffixes.
const (
	histogram = "histogram" // _bucket, _sum, _count
	summary   = "summary"   // _sum, _count
)

// exported are the families certflow serves (with cert-manager's names on),
// by name, with their kind ("" for a counter or gauge).
func exported(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range prefixes(true) {
		for _, n := range []string{CertificateExpiration, CertificateNotBefore, CertificateNotAfter, CertificateRenewal, CertificateReady, ACMERequestCount} {
			out[p+n] = ""
		}
		out[p+ACMERequestDuration] = summary
	}
	// The workflows' series, through the handler that names them.
	h := NewTemporal()
	for _, n := range []string{workflows.MetricIssuanceAttempts, workflows.MetricIssuanceFailures, workflows.MetricLimiterPermits} {
		h.Counter(n).Inc(1)
	}
	for _, n := range []string{workflows.MetricIssuanceDuration, workflows.MetricRateLimitWait} {
		h.Timer(n).Record(time.Second)
	}
	h.Gauge(workflows.MetricLimiterOrderBudget).Update(1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if out[f.GetName()] = ""; f.GetType() == dto.MetricType_HISTOGRAM {
			out[f.GetName()] = histogram
		}
	}
	for _, n := range sdkFamilies {
		if out[n] = ""; strings.HasSuffix(n, "_seconds") {
			out[n] = histogram
		}
	}
	return out
}

// The dashboard is valid JSON, and each of its queries names only series
// certflow serves: a renamed series fails here, not on a blank panel.
func TestDashboardNamesOnlyExportedSeries(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("%s has %d queries; want the dashboard's panels", dashboardFile, len(exprs))
	}
	known := exported(t)
	for _, expr := range exprs {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("query %q names no certflow, cert-manager or Temporal series", expr)
		}
		for _, n := range names {
			if _, ok := familyOf(n, known); !ok {
				t.Errorf("query %q names %s, which certflow does not serve", expr, n)
			}
		}
	}
}

// familyOf is the family a series name belongs to: itself, or a histogram's
// or summary's for its _bucket, _sum and _count.
func familyOf(series string, known map[string]string) (string, bool) {
	if _, ok := known[series]; ok {
		return series, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(series, suffix)
		kind := known[base]
		if found && (kind == histogram || kind == summary && suffix != "_bucket") {
			return base, true
		}
	}
	return "", false
}

// alertsFile is the chart's PrometheusRule template.
const alertsFile = "../../deploy/charts/certflow/templates/monitoring.yaml"

// The chart's alerts name only series certflow serves, like the dashboard.
func TestAlertsNameOnlyExportedSeries(t *testing.T) {
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	exprs := regexp.MustCompile(`(?m)^\s*expr: (.+)$`).FindAllStringSubmatch(string(raw), -1)
	if len(exprs) < 4 {
		t.Fatalf("%s has %d alert expressions; want the chart's alerts", alertsFile, len(exprs))
	}
	known := exported(t)
	for _, expr := range exprs {
		for _, n := range metricName.FindAllString(expr[1], -1) {
			if _, ok := familyOf(n, known); !ok {
				t.Errorf("alert %q names %s, which certflow does not serve", expr[1], n)
			}
		}
	}
}
