package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTemporalHandler(t *testing.T) {
	tests := []struct {
		name   string
		record func(h *Temporal)
		want   string // the text exposition of the families in it
		names  []string
	}{
		{"one name with different tag sets is one family labelled with the union of their keys",
			func(h *Temporal) {
				h.WithTags(map[string]string{"operation": "PollWorkflowTaskQueue"}).Counter("temporal_long_request").Inc(2)
				h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "status_code": "NOT_FOUND"}).Counter("temporal_long_request").Inc(1)
			}, `
# HELP temporal_long_request_total Recorded by the Temporal Go SDK; see Temporal's SDK metrics reference.
# TYPE temporal_long_request_total counter
temporal_long_request_total{operation="PollWorkflowTaskQueue",status_code=""} 2
temporal_long_request_total{operation="StartWorkflowExecution",status_code="NOT_FOUND"} 1
`, []string{"temporal_long_request_total"}},
		{"a timer is a histogram in seconds, in task buckets for the SDK's",
			func(h *Temporal) {
				h.WithTags(map[string]string{"workflow_type": "Certificate"}).Timer("temporal_workflow_task_execution_latency").Record(40 * time.Millisecond)
			}, `
# HELP temporal_workflow_task_execution_latency_seconds Recorded by the Temporal Go SDK; see Temporal's SDK metrics reference.
# TYPE temporal_workflow_task_execution_latency_seconds histogram
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.001"} 0
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.0025"} 0
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.005"} 0
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.01"} 0
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.025"} 0
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.05"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.1"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.25"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="0.5"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="1"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="2.5"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="5"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="10"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="30"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="60"} 1
temporal_workflow_task_execution_latency_seconds_bucket{workflow_type="Certificate",le="+Inf"} 1
temporal_workflow_task_execution_latency_seconds_sum{workflow_type="Certificate"} 0.04
temporal_workflow_task_execution_latency_seconds_count{workflow_type="Certificate"} 1
`, []string{"temporal_workflow_task_execution_latency_seconds"}},
		{"certflow's series go without the SDK's tags, and time in issuance buckets past the last",
			func(h *Temporal) {
				wf := h.WithTags(map[string]string{"namespace": "default", "client_name": "temporal_go", "workflow_type": "Certificate", "task_queue": "certflow"})
				wf.WithTags(map[string]string{"issuer_name": "le"}).Timer("certflow_rate_limit_wait").Record(48 * time.Hour)
				wf.WithTags(map[string]string{"issuer_name": "le"}).Gauge("certflow_limiter_order_budget_remaining").Update(9)
			}, `
# HELP certflow_limiter_order_budget_remaining Recorded by certflow's workflows; see the README's Metrics section.
# TYPE certflow_limiter_order_budget_remaining gauge
certflow_limiter_order_budget_remaining{issuer_name="le"} 9
# HELP certflow_rate_limit_wait_seconds Recorded by certflow's workflows; see the README's Metrics section.
# TYPE certflow_rate_limit_wait_seconds histogram
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="1"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="2"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="5"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="10"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="20"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="30"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="60"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="120"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="300"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="600"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="1200"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="1800"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="3600"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="7200"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="14400"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="43200"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="86400"} 0
certflow_rate_limit_wait_seconds_bucket{issuer_name="le",le="+Inf"} 1
certflow_rate_limit_wait_seconds_sum{issuer_name="le"} 172800
certflow_rate_limit_wait_seconds_count{issuer_name="le"} 1
`, []string{"certflow_limiter_order_budget_remaining", "certflow_rate_limit_wait_seconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry() // with the others, so that the names must not clash
			h := NewTemporal()
			reg.MustRegister(h)
			tt.record(h)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want), tt.names...); err != nil {
				t.Error(err)
			}
			if problems, err := testutil.GatherAndLint(reg, tt.names...); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %+v", err, problems)
			}
		})
	}
}

// A counter resolved once counts every later increment, from many
// goroutines, as the SDK's pollers do.
func TestTemporalHandlerConcurrentCounts(t *testing.T) {
	h := NewTemporal()
	c := h.Counter("temporal_poller_start")
	done := make(chan struct{})
	for range 8 {
		go func() {
			for range 1000 {
				c.Inc(1)
			}
			done <- struct{}{}
		}()
	}
	for range 8 {
		<-done
	}
	if got := testutil.ToFloat64(prometheus.Collector(h)); got != 8000 {
		t.Errorf("temporal_poller_start_total = %v, want 8000", got)
	}
}
