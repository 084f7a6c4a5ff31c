package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/internal/metrics"
)

// withMetrics is a test suite whose workflows record into a fresh handler.
func withMetrics() (*testsuite.WorkflowTestSuite, *metrics.Temporal) {
	h := metrics.NewTemporal()
	suite := &testsuite.WorkflowTestSuite{}
	suite.SetMetricsHandler(h)
	return suite, h
}

// sample is one series of h: a counter's or gauge's value, or a histogram's
// count and sum. ok is false when there is no series with exactly labels.
type sample struct {
	value, count, sum float64
	ok                bool
}

func seriesOf(t *testing.T, h *metrics.Temporal, name string, labels map[string]string) sample {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && got[k] == v
			}
			if match {
				return sample{value: m.GetCounter().GetValue() + m.GetGauge().GetValue(),
					count: float64(m.GetHistogram().GetSampleCount()), sum: m.GetHistogram().GetSampleSum(), ok: true}
			}
		}
	}
	return sample{}
}

func issuerLabels(kv ...string) map[string]string {
	return issuerTags(issuer, kv...)
}

// An attempt that waits for its permit and then succeeds.
func TestMetricsOfASuccessfulAttempt(t *testing.T) {
	suite, h := withMetrics()
	env := newEnvOf(t, suite)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	issuance(env, "01", issuer)
	on(env, activities.RenewalInfo, mock.Anything).Return(activities.RenewalInfoResult{}, nil)
	// The limiter grants the permit for ten minutes later: the wait is
	// timed, and the time to issue holds it.
	const wait = 10 * time.Minute
	on(env, activities.RequestPermit, mock.Anything).Return(func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
		grant := activities.PermitGrant{At: env.Now().Add(wait), Reason: budgetUsedUp, Attempt: in.Attempt}
		return activities.RequestPermitResult{}, env.SignalWorkflowByID(in.RequesterWorkflowID, activities.SignalPermit, grant)
	}).Once()

	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	continuedWith(t, env)

	if s := seriesOf(t, h, "certflow_issuance_attempts_total", issuerLabels("result", "success")); s.value != 1 {
		t.Errorf("attempts that succeeded: %+v, want 1", s)
	}
	if s := seriesOf(t, h, "certflow_issuance_attempts_total", issuerLabels("result", "failure")); s.ok {
		t.Errorf("attempts that failed: %+v, want none", s)
	}
	if s := seriesOf(t, h, "certflow_rate_limit_wait_seconds", issuerLabels("cause", "limiter")); s.count != 1 || s.sum != wait.Seconds() {
		t.Errorf("waits for the limiter: %+v, want one of %s", s, wait)
	}
	if s := seriesOf(t, h, "certflow_issuance_duration_seconds", issuerLabels()); s.count != 1 || s.sum < wait.Seconds() || s.sum > wait.Seconds()+5 {
		t.Errorf("time to issue: %+v, want one observation of the wait and a moment", s)
	}
}

func TestMetricsOfARateLimit(t *testing.T) {
	const retryAfter = 20 * time.Minute
	suite, h := withMetrics()
	env := newEnvOf(t, suite)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
		temporal.NewNonRetryableApplicationError("too many new orders", activities.ErrTypeRateLimited, nil,
			activities.RateLimitDetails{RetryAfterSeconds: int64(retryAfter.Seconds())})).Once()

	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	continuedWith(t, env)

	if s := seriesOf(t, h, "certflow_issuance_attempts_total", issuerLabels("result", "failure")); s.value != 1 {
		t.Errorf("attempts that failed: %+v, want 1", s)
	}
	if s := seriesOf(t, h, "certflow_issuance_failures_total", issuerLabels("reason", reasonRateLimited)); s.value != 1 {
		t.Errorf("failures for RateLimited: %+v, want 1", s)
	}
	jitter := min(retryAfter/10, time.Minute)
	if s := seriesOf(t, h, "certflow_rate_limit_wait_seconds", issuerLabels("cause", "ca")); s.count != 1 ||
		s.sum < retryAfter.Seconds() || s.sum > (retryAfter+jitter).Seconds() {
		t.Errorf("waits for the CA: %+v, want one of the Retry-After %s plus at most %s", s, retryAfter, jitter)
	}
	if s := seriesOf(t, h, "certflow_issuance_duration_seconds", issuerLabels()); s.ok {
		t.Errorf("time to issue of a failed attempt: %+v, want none", s)
	}
}

// The limiter counts its grants and says how many orders its budget has
// left: fewer with each permit, more when an attempt sent no order.
func TestMetricsOfTheLimiter(t *testing.T) {
	suite, h := withMetrics()
	limits := activities.RateLimits{NewOrders: hourly}
	a, b := ask(0, "a", limits, "a.example.com"), ask(time.Second, "b", limits, "b.example.com")
	_, answers := runLimiterIn(t, suite, activities.LimiterInput{Issuer: issuer}, []limiterEvent{a, b})
	if len(answers) != 2 {
		t.Fatalf("answers %+v, want 2", answers)
	}
	labels := issuerLabels()
	if s := seriesOf(t, h, "certflow_limiter_permits_granted_total", labels); s.value != 2 {
		t.Errorf("permits granted: %+v, want 2", s)
	}
	if s := seriesOf(t, h, "certflow_limiter_order_budget_remaining", labels); !s.ok || s.value != float64(hourly.Limit-2) {
		t.Errorf("order budget left after two permits: %+v, want %d", s, hourly.Limit-2)
	}

	suite, h = withMetrics()
	unused := limiterEvent{after: 2 * time.Second, outcome: &activities.PermitOutcome{
		RequesterWorkflowID: "a", RequesterRunID: "run-a", At: testStart, Names: []string{"a.example.com"}, Domains: []string{"example.com"},
	}}
	runLimiterIn(t, suite, activities.LimiterInput{Issuer: issuer}, []limiterEvent{a, b, unused})
	if s := seriesOf(t, h, "certflow_limiter_order_budget_remaining", labels); !s.ok || s.value != float64(hourly.Limit-1) {
		t.Errorf("order budget left after a permit that sent no order: %+v, want %d", s, hourly.Limit-1)
	}
}
