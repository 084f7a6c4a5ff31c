package permits_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
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

func TestRequestPermitStartsTheLimiterAndReturnsItsAnswer(t *testing.T) {
	a := startWorker(t)
	ref := createIssuer(t, "le", acmeSpec(&certflowv1.RateLimits{NewOrders: limit(50, 20*time.Second)}))
	in := activities.RequestPermitInput{Certificate: certificateOf(t, ref), Issuer: ref, RequesterWorkflowID: "certificate/default/web/order/1/1", RequesterRunID: "run-1",
		Names: []string{"Web.Example.COM.", "*.web.example.com", "web.example.com", "192.0.2.7"}}

	var results []activities.RequestPermitResult
	for range 2 { // a retried activity asks again, of the same run
		res, err := call(t, a, activities.RequestPermit, in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Unlimited || res.Grant == nil || res.LimiterWorkflowID != "test/limiter/ClusterIssuer//"+ref.Name || res.LimiterRunID == "" {
			t.Fatalf("result %+v, want the grant of limiter %s", res, ref.Name)
		}
		results = append(results, res)
	}
	if results[0].LimiterRunID != results[1].LimiterRunID || !results[0].Grant.At.Equal(results[1].Grant.At) || time.Since(results[0].Grant.At) > time.Minute {
		t.Fatalf("answers %+v and %+v, want the same permit, now, from one limiter run", *results[0].Grant, *results[1].Grant)
	}

	started, requests := limiterHistory(t, ref, results[0].LimiterRunID)
	if started.Issuer != ref || len(requests) != 2 {
		t.Fatalf("started with %+v, %d requests; want the issuer and 2", started, len(requests))
	}
	want := activities.PermitRequest{
		RequesterWorkflowID: in.RequesterWorkflowID, RequesterRunID: in.RequesterRunID,
		Names:   []string{"*.web.example.com", "192.0.2.7", "web.example.com"},
		Domains: []string{"192.0.2.7", "example.com"},
		Limits:  activities.RateLimits{NewOrders: activities.RateLimit{Limit: 50, Period: 20 * time.Second}},
	}
	r := requests[0][0]
	if r.RequesterWorkflowID != want.RequesterWorkflowID || r.RequesterRunID != want.RequesterRunID ||
		!slices.Equal(r.Names, want.Names) || !slices.Equal(r.Domains, want.Domains) || r.Limits != want.Limits {
		t.Fatalf("request\n got %+v\nwant %+v", r, want)
	}
}

// TestConcurrentRequestsShareUpdates: the requests a process makes at once
// reach the limiter in a few updates, each answered.
func TestConcurrentRequestsShareUpdates(t *testing.T) {
	a := startWorker(t)
	ref := createIssuer(t, "burst", acmeSpec(&certflowv1.RateLimits{NewOrders: limit(1000, time.Hour)}))
	const n = 40
	cert := certificateOf(t, ref)
	results := make([]activities.RequestPermitResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = call(t, a, activities.RequestPermit, activities.RequestPermitInput{
				Certificate: cert, Issuer: ref, RequesterWorkflowID: fmt.Sprintf("certificate/burst/%d", i), RequesterRunID: "run",
				Names: []string{fmt.Sprintf("%d.example.com", i)},
			})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].Grant == nil {
			t.Fatalf("request %d: %+v, %v; want a grant", i, results[i], errs[i])
		}
	}
	_, updates := limiterHistory(t, ref, results[0].LimiterRunID)
	asked := 0
	for _, u := range updates {
		asked += len(u)
	}
	if asked != n || len(updates) > n/4 {
		t.Fatalf("%d requests in %d updates, want %d requests in at most %d updates", asked, len(updates), n, n/4)
	}
}

// TestRequestPermitAsksBySignalWhenTheLimiterHasNoUpdate: a limiter run by a
// worker from before the update refuses it; the request then goes by signal,
// and the answer comes by signal.
func TestRequestPermitAsksBySignalWhenTheLimiterHasNoUpdate(t *testing.T) {
	ctx := testContext(t)
	a := newActivities(unique("signal-only"))
	limiters := worker.New(temporal, activities.LimiterTaskQueue(a.TaskQueue), worker.Options{})
	limiters.RegisterWorkflowWithOptions(signalOnlyLimiter, workflow.RegisterOptions{Name: activities.LimiterWorkflowName})
	if err := limiters.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(limiters.Stop)
	ref := createIssuer(t, "old", acmeSpec(&certflowv1.RateLimits{NewOrders: limit(50, time.Hour)}))
	res, err := call(t, a, activities.RequestPermit, activities.RequestPermitInput{
		Certificate: certificateOf(t, ref), Issuer: ref, RequesterWorkflowID: "certificate/old/1", RequesterRunID: "run", Names: []string{"old.example.com"},
	})
	if err != nil || res.Grant != nil || res.LimiterRunID == "" {
		t.Fatalf("result %+v, %v; want no grant: the answer comes by signal", res, err)
	}
	it := temporal.GetWorkflowHistory(ctx, activities.LimiterWorkflowID(testCluster, ref), res.LimiterRunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.SignalName == activities.SignalPermitRequest {
			return
		}
	}
	t.Fatal("the limiter got no signalled request")
}

// signalOnlyLimiter is a limiter as workers before the update ran it: it
// takes requests by signal only.
func signalOnlyLimiter(ctx workflow.Context, _ activities.LimiterInput) error {
	requests := workflow.GetSignalChannel(ctx, activities.SignalPermitRequest)
	for {
		var r activities.PermitRequest
		requests.Receive(ctx, &r)
	}
}

// limiterHistory reads a limiter run: its input and the requests of each
// update, in order.
func limiterHistory(t *testing.T, ref activities.IssuerRef, runID string) (activities.LimiterInput, [][]activities.PermitRequest) {
	t.Helper()
	ctx := testContext(t)
	var started activities.LimiterInput
	var updates [][]activities.PermitRequest
	dc := converter.GetDefaultDataConverter()
	it := temporal.GetWorkflowHistory(ctx, activities.LimiterWorkflowID(testCluster, ref), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			if err := dc.FromPayloads(a.Input, &started); err != nil {
				t.Fatal(err)
			}
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil && a.GetAcceptedRequest().GetInput().GetName() == activities.UpdateRequestPermits {
			var rs []activities.PermitRequest
			if err := dc.FromPayloads(a.GetAcceptedRequest().GetInput().GetArgs(), &rs); err != nil {
				t.Fatal(err)
			}
			updates = append(updates, rs)
		}
	}
	return started, updates
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
	var grants []activities.PermitGrant
	for range 2 {
		g, err := askPermit(ctx, actx, in)
		if err != nil {
			return nil, err
		}
		grants = append(grants, g)
	}
	return grants, nil
}

// askPermit runs RequestPermit and returns its answer: the grant in its
// result, or the limiter's signal when it answers so.
func askPermit(ctx, actx workflow.Context, in activities.RequestPermitInput) (activities.PermitGrant, error) {
	var res activities.RequestPermitResult
	if err := workflow.ExecuteActivity(actx, activities.RequestPermit.Name(), in).Get(ctx, &res); err != nil {
		return activities.PermitGrant{}, err
	}
	if res.Grant != nil {
		return *res.Grant, nil
	}
	var g activities.PermitGrant
	workflow.GetSignalChannel(ctx, activities.SignalPermit).Receive(ctx, &g)
	return g, nil
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
	grant, err := askPermit(ctx, actx, in)
	if err != nil {
		return activities.PermitGrant{}, err
	}
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
