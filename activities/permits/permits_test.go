package permits_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/permits"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/activitytest"
	"github.com/certflow/certflow/workflows"
)

// call runs one activity as a worker would.
func call[In, Out any](t *testing.T, a *permits.Activities, act activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	return activitytest.Run(t, a.Bindings(), act, in)
}

func TestRequestPermitStartsTheLimiterWithTheRequest(t *testing.T) {
	ctx := testContext(t)
	ref := createIssuer(t, "le", acmeSpec(&certflowv1.RateLimits{NewOrders: limit(50, 20*time.Second)}))
	a := newActivities(unique("no-worker")) // nothing polls: the limiter keeps its signals
	in := activities.RequestPermitInput{Certificate: certificateOf(t, ref), Issuer: ref, RequesterWorkflowID: "certificate/default/web/order/1/1", RequesterRunID: "run-1",
		Names: []string{"Web.Example.COM.", "*.web.example.com", "web.example.com", "192.0.2.7"}}

	var runs []string
	for range 2 { // a retried activity signals again, into the same run
		res, err := call(t, a, activities.RequestPermit, in)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, res.LimiterRunID)
		if res.Unlimited || res.LimiterWorkflowID != "test/limiter/ClusterIssuer//"+ref.Name {
			t.Fatalf("result %+v", res)
		}
	}
	if runs[0] == "" || runs[0] != runs[1] {
		t.Fatalf("limiter runs %v, want one", runs)
	}

	desc, err := temporal.DescribeWorkflowExecution(ctx, activities.LimiterWorkflowID(testCluster, ref), "")
	if err != nil {
		t.Fatal(err)
	}
	if info := desc.WorkflowExecutionInfo; info.Type.GetName() != activities.LimiterWorkflowName ||
		info.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || info.TaskQueue != activities.LimiterTaskQueue(a.TaskQueue) {
		t.Fatalf("limiter %s, %s, on %s", info.Type.GetName(), info.Status, info.TaskQueue)
	}

	var started activities.LimiterInput
	var requests []activities.PermitRequest
	it := temporal.GetWorkflowHistory(ctx, activities.LimiterWorkflowID(testCluster, ref), runs[0], false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		dc := converter.GetDefaultDataConverter()
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			if err := dc.FromPayloads(a.Input, &started); err != nil {
				t.Fatal(err)
			}
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.SignalName == activities.SignalPermitRequest {
			var r activities.PermitRequest
			if err := dc.FromPayloads(a.Input, &r); err != nil {
				t.Fatal(err)
			}
			requests = append(requests, r)
		}
	}
	if started.Issuer != ref || len(requests) != 2 {
		t.Fatalf("started with %+v, %d requests signalled; want the issuer and 2", started, len(requests))
	}
	want := activities.PermitRequest{
		RequesterWorkflowID: in.RequesterWorkflowID, RequesterRunID: in.RequesterRunID,
		Names:   []string{"*.web.example.com", "192.0.2.7", "web.example.com"},
		Domains: []string{"192.0.2.7", "example.com"},
		Limits:  activities.RateLimits{NewOrders: activities.RateLimit{Limit: 50, Period: 20 * time.Second}},
	}
	r := requests[0]
	if r.RequesterWorkflowID != want.RequesterWorkflowID || r.RequesterRunID != want.RequesterRunID ||
		!slices.Equal(r.Names, want.Names) || !slices.Equal(r.Domains, want.Domains) || r.Limits != want.Limits {
		t.Fatalf("request\n got %+v\nwant %+v", r, want)
	}
}

func TestRequestPermitForAnIssuerWithoutBudgetsOrNoIssuer(t *testing.T) {
	ctx := testContext(t)
	a := newActivities(unique("no-worker"))
	for name, spec := range map[string]certflowv1.IssuerSpec{
		"a self-signed issuer":                {SelfSigned: &certflowv1.SelfSignedIssuer{}},
		"an ACME CA that publishes no limits": acmeSpec(nil),
	} {
		ref := createIssuer(t, "unlimited", spec)
		res, err := call(t, a, activities.RequestPermit, activities.RequestPermitInput{Certificate: certificateOf(t, ref), Issuer: ref, RequesterWorkflowID: "w", RequesterRunID: "r"})
		if err != nil || !res.Unlimited {
			t.Fatalf("%s: %+v, %v; want unlimited", name, res, err)
		}
		var notFound *serviceerror.NotFound
		if _, err := temporal.DescribeWorkflowExecution(ctx, activities.LimiterWorkflowID(testCluster, ref), ""); !errors.As(err, &notFound) {
			t.Fatalf("describing the limiter of %s: %v, want not found", name, err)
		}
	}

	missing := activities.IssuerRef{Kind: certflowv1.ClusterIssuerKind, Name: unique("missing")}
	_, err := call(t, a, activities.RequestPermit, activities.RequestPermitInput{Certificate: certificateOf(t, missing), Issuer: missing, RequesterWorkflowID: "w", RequesterRunID: "r"})
	var app *sdktemporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeIssuerNotFound || !app.NonRetryable() {
		t.Fatalf("a missing issuer: %v, want a non-retryable %s", err, activities.ErrTypeIssuerNotFound)
	}
}

// requester asks for a permit twice, as a retried activity would, and
// returns both answers.
func requester(ctx workflow.Context, cert activities.CertificateRef, issuer activities.IssuerRef) ([]activities.PermitGrant, error) {
	run := workflow.GetInfo(ctx).WorkflowExecution
	in := activities.RequestPermitInput{Certificate: cert, Issuer: issuer, RequesterWorkflowID: run.ID, RequesterRunID: run.RunID,
		Names: []string{run.ID + ".example.com"}}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	for range 2 {
		if err := workflow.ExecuteActivity(actx, activities.RequestPermit.Name(), in).Get(ctx, nil); err != nil {
			return nil, err
		}
	}
	var grants []activities.PermitGrant
	permits := workflow.GetSignalChannel(ctx, activities.SignalPermit)
	for len(grants) < 2 {
		var g activities.PermitGrant
		permits.Receive(ctx, &g)
		grants = append(grants, g)
	}
	return grants, nil
}

// startWorker runs the permits activities, the requester and attempt on a task queue
// of their own, and the limiter on its limiters' task queue.
func startWorker(t *testing.T) *permits.Activities {
	t.Helper()
	a := newActivities(unique("permits"))
	w := worker.New(temporal, a.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(requester, workflow.RegisterOptions{Name: "Requester"})
	w.RegisterWorkflowWithOptions(attempt, workflow.RegisterOptions{Name: "Attempt"})
	activities.Register(w, a.Bindings()...)
	limiters := worker.New(temporal, activities.LimiterTaskQueue(a.TaskQueue), worker.Options{})
	limiters.RegisterWorkflowWithOptions(workflows.AccountLimiter, workflow.RegisterOptions{Name: activities.LimiterWorkflowName})
	for _, w := range []worker.Worker{w, limiters} {
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	return a
}

func runRequester(t *testing.T, a *permits.Activities, id string, issuer activities.IssuerRef) []activities.PermitGrant {
	t.Helper()
	ctx := testContext(t)
	run, err := temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: a.TaskQueue}, "Requester", certificateOf(t, issuer), issuer)
	if err != nil {
		t.Fatal(err)
	}
	var grants []activities.PermitGrant
	if err := run.Get(ctx, &grants); err != nil {
		t.Fatalf("requester %s: %v", id, err)
	}
	return grants
}

func TestTheLimiterAnswersEachRequestOnceAndKeepsTheBudget(t *testing.T) {
	a := startWorker(t)
	ref := createIssuer(t, "one-per-hour", acmeSpec(&certflowv1.RateLimits{NewOrders: limit(1, time.Hour)}))
	first := runRequester(t, a, unique("first"), ref)
	second := runRequester(t, a, unique("second"), ref)
	if len(first) != 2 || !first[0].At.Equal(first[1].At) || time.Since(first[0].At) > time.Minute {
		t.Fatalf("first requester's answers %+v, want the same permit now, twice", first)
	}
	// The first request's repeat did not take the second's place: the budget
	// of one per hour gives the second a permit an hour (and its minute of
	// margin) later.
	if d := second[0].At.Sub(first[0].At); len(second) != 2 || !second[0].At.Equal(second[1].At) || d != time.Hour+time.Minute {
		t.Fatalf("second requester's answers %+v, %s after the first's; want one hour and a minute", second, d)
	}
	if second[0].Reason != "the account's order budget (1 per 1h) is used up" {
		t.Fatalf("reason %q", second[0].Reason)
	}
}

// TestAReportedRateLimitHoldsThePermits: the CA's 429 starts the limiter
// of an issuer without budgets, which then keeps the CA's block.
func TestAReportedRateLimitHoldsThePermits(t *testing.T) {
	a := startWorker(t)
	ref := createIssuer(t, "limited", acmeSpec(nil))
	until := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	_, err := call(t, a, activities.ReportRateLimit, activities.ReportRateLimitInput{
		Certificate: certificateOf(t, ref), Issuer: ref, Until: until, Detail: "too many new orders (300) from this account in the last 3h0m0s", Names: []string{"x.example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	grants := runRequester(t, a, unique("held"), ref)
	if !grants[0].At.Equal(until) || grants[0].Reason != "the CA rate-limited the account until "+until.UTC().Format(time.RFC3339) {
		t.Fatalf("permit %+v, want one at %s", grants[0], until)
	}
}

// attempt asks for a permit for the names, waits for it and tells the
// limiter what the attempt used of it, as an Order does.
func attempt(ctx workflow.Context, cert activities.CertificateRef, issuer activities.IssuerRef, outcome activities.ReportPermitOutcomeInput) (activities.PermitGrant, error) {
	run := workflow.GetInfo(ctx).WorkflowExecution
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	in := activities.RequestPermitInput{Certificate: cert, Issuer: issuer, RequesterWorkflowID: run.ID, RequesterRunID: run.RunID, Names: outcome.Names}
	if err := workflow.ExecuteActivity(actx, activities.RequestPermit.Name(), in).Get(ctx, nil); err != nil {
		return activities.PermitGrant{}, err
	}
	var grant activities.PermitGrant
	workflow.GetSignalChannel(ctx, activities.SignalPermit).Receive(ctx, &grant)
	outcome.Certificate, outcome.Issuer, outcome.Grant = cert, issuer, grant
	return grant, workflow.ExecuteActivity(actx, activities.ReportPermitOutcome.Name(), outcome).Get(ctx, nil)
}

func TestWhatAnAttemptDidNotUseGoesBackAndFailedValidationsCount(t *testing.T) {
	a := startWorker(t)
	ref := createIssuer(t, "settled", acmeSpec(&certflowv1.RateLimits{
		NewOrders: limit(2, time.Hour), DuplicateCertificates: limit(1, time.Hour), FailedValidations: limit(1, time.Hour),
	}))
	run := func(outcome activities.ReportPermitOutcomeInput) activities.PermitGrant {
		t.Helper()
		ctx := testContext(t)
		r, err := temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: unique("attempt"), TaskQueue: a.TaskQueue},
			"Attempt", certificateOf(t, ref), ref, outcome)
		if err != nil {
			t.Fatal(err)
		}
		var g activities.PermitGrant
		if err := r.Get(ctx, &g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	now := func(g activities.PermitGrant) bool { return time.Until(g.At) < time.Minute }
	a1, b := []string{"a.example.com"}, []string{"b.example.com"}

	// The first attempt made no order: its new order and its certificate of
	// a.example.com go back, so the second gets the one duplicate an hour.
	// The second's order was made and the CA refused its validation.
	run(activities.ReportPermitOutcomeInput{Names: a1})
	if g := run(activities.ReportPermitOutcomeInput{Names: a1, OrderSent: true, FailedValidations: a1}); !now(g) {
		t.Fatalf("second permit %+v, want one now: the first issued nothing", g)
	}
	// Two new orders an hour: the first gave its back, so a third has room.
	if g := run(activities.ReportPermitOutcomeInput{Names: b}); !now(g) {
		t.Fatalf("third permit %+v, want one now: the first made no order", g)
	}
	// Orders and duplicates have room; a.example.com's one failed
	// validation an hour is used up.
	g := run(activities.ReportPermitOutcomeInput{Names: a1})
	if now(g) || g.Reason != "the budget for failed validations of a.example.com (1 per 1h) is used up" {
		t.Fatalf("fourth permit %+v, want one in an hour, for the failed validation", g)
	}
}
