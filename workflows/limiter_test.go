package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// These tests run the AccountLimiter as the workflow under test, send it
// requests and reports at chosen times, and read its answers from the
// permit signals it sends (mocked: the requesters do not exist here).

// registerPermits registers the permits activities as a limiter that grants
// every request at once: the default of the Certificate and Order tests
// (newEnv); a test that mocks RequestPermit decides otherwise.
func registerPermits(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
		if err := env.SignalWorkflowByID(in.RequesterWorkflowID, activities.SignalPermit, activities.PermitGrant{At: env.Now()}); err != nil {
			return activities.RequestPermitResult{}, err
		}
		return activities.RequestPermitResult{LimiterWorkflowID: activities.LimiterWorkflowID("test", in.Issuer)}, nil
	}, activity.RegisterOptions{Name: activities.RequestPermit.Name()})
	env.RegisterActivityWithOptions(func(context.Context, activities.ReportRateLimitInput) (activities.ReportRateLimitResult, error) {
		return activities.ReportRateLimitResult{}, nil
	}, activity.RegisterOptions{Name: activities.ReportRateLimit.Name()})
	env.RegisterActivityWithOptions(func(context.Context, activities.ReportPermitOutcomeInput) (activities.ReportPermitOutcomeResult, error) {
		return activities.ReportPermitOutcomeResult{}, nil
	}, activity.RegisterOptions{Name: activities.ReportPermitOutcome.Name()})
}

// limiterEvent is a signal to the limiter at a time after the start: a
// request, a report, or a burst of requests that arrive together (buffered
// before the limiter runs).
type limiterEvent struct {
	after   time.Duration
	request *activities.PermitRequest
	report  *activities.RateLimitReport
	outcome *activities.PermitOutcome
	burst   []limiterEvent
}

// answer is a permit the limiter sent.
type answer struct {
	requester string
	grant     activities.PermitGrant
}

// testStart is the limiter tests' clock at the start.
var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// runLimiter runs a limiter from in, starting at testStart, sends the events,
// and cancels it a second after the last one (it never ends on its own, but
// continues as new).
func runLimiter(t *testing.T, in activities.LimiterInput, events []limiterEvent) (*testsuite.TestWorkflowEnvironment, []answer) {
	t.Helper()
	return runLimiterIn(t, &testsuite.WorkflowTestSuite{}, in, events)
}

// runLimiterIn is runLimiter in suite (one with a metrics handler).
func runLimiterIn(t *testing.T, suite *testsuite.WorkflowTestSuite, in activities.LimiterInput, events []limiterEvent) (*testsuite.TestWorkflowEnvironment, []answer) {
	t.Helper()
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	env.RegisterWorkflowWithOptions(AccountLimiter, workflow.RegisterOptions{Name: activities.LimiterWorkflowName})
	var (
		mu      sync.Mutex
		answers []answer
	)
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, activities.SignalPermit, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			mu.Lock()
			defer mu.Unlock()
			answers = append(answers, answer{workflowID, arg.(activities.PermitGrant)})
			return nil
		}).Maybe()
	last := time.Duration(0)
	for _, e := range events {
		env.RegisterDelayedCallback(func() {
			for _, b := range e.burst {
				env.SignalWorkflowSkippingWorkflowTask(activities.SignalPermitRequest, *b.request)
			}
			switch {
			case e.request != nil:
				env.SignalWorkflow(activities.SignalPermitRequest, *e.request)
			case e.report != nil:
				env.SignalWorkflow(activities.SignalRateLimited, *e.report)
			case e.outcome != nil:
				env.SignalWorkflow(activities.SignalPermitOutcome, *e.outcome)
			}
		}, e.after)
		last = max(last, e.after)
	}
	env.RegisterDelayedCallback(env.CancelWorkflow, last+time.Second)
	env.ExecuteWorkflow(AccountLimiter, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("the limiter did not end")
	}
	if err := env.GetWorkflowError(); err != nil && !temporal.IsCanceledError(err) && !errors.As(err, new(*workflow.ContinueAsNewError)) {
		t.Fatalf("the limiter failed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return env, answers
}

var (
	hourly = activities.RateLimit{Limit: 3, Period: time.Hour}
	// lots does not limit in these tests.
	lots = activities.RateLimit{Limit: 1000, Period: time.Hour}
)

func ask(after time.Duration, requester string, limits activities.RateLimits, names ...string) limiterEvent {
	domains := map[string]bool{}
	var ds []string
	for _, n := range names {
		d := n[len(n)-len("example.com"):] // the tests' names end in example.com or example.org
		if !domains[d] {
			domains[d] = true
			ds = append(ds, d)
		}
	}
	return limiterEvent{after: after, request: &activities.PermitRequest{
		RequesterWorkflowID: requester, RequesterRunID: "run-" + requester, Names: names, Domains: ds, Limits: limits,
	}}
}

// retry is e sent after, for the given attempt.
func retry(after time.Duration, e limiterEvent, attempt int) limiterEvent {
	e.after, e.request.Attempt = after, attempt
	return e
}

// grantedAfter gives each requester's answers as durations after start.
func grantedAfter(start time.Time, answers []answer) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for _, a := range answers {
		out[a.requester] = append(out[a.requester], a.grant.At.Sub(start))
	}
	return out
}

func TestLimiterGrants(t *testing.T) {
	w := window(time.Hour) // the hour and its margin
	account := activities.RateLimits{NewOrders: hourly, CertificatesPerRegisteredDomain: lots, DuplicateCertificates: lots}
	perDomain := activities.RateLimits{NewOrders: lots, CertificatesPerRegisteredDomain: activities.RateLimit{Limit: 2, Period: time.Hour}, DuplicateCertificates: lots}
	duplicates := activities.RateLimits{NewOrders: lots, CertificatesPerRegisteredDomain: lots, DuplicateCertificates: activities.RateLimit{Limit: 2, Period: time.Hour}}
	one := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 1, Period: time.Hour}}
	renewal := ask(0, "b", one, "b.example.com")
	renewal.request.Replaces = true
	laterRenewal := ask(time.Minute, "b", one, "b.example.com")
	laterRenewal.request.Replaces = true
	tests := []struct {
		name   string
		events []limiterEvent
		want   map[string][]time.Duration
	}{
		{"five requests at once on 3 per hour: three now, two when the first leave the window", []limiterEvent{
			ask(0, "a", account, "a.example.com"), ask(0, "b", account, "b.example.com"), ask(0, "c", account, "c.example.com"),
			ask(0, "d", account, "d.example.com"), ask(0, "e", account, "e.example.com"),
		}, map[string][]time.Duration{"a": {0}, "b": {0}, "c": {0}, "d": {w}, "e": {w}}},
		{"a request after the window has passed is granted at once", []limiterEvent{
			ask(0, "a", one, "a.example.com"), ask(2*time.Hour, "b", one, "b.example.com"),
		}, map[string][]time.Duration{"a": {0}, "b": {2 * time.Hour}}},
		{"names under one registered domain share its budget, other domains do not", []limiterEvent{
			ask(0, "a", perDomain, "a.example.com"), ask(0, "b", perDomain, "b.example.com"),
			ask(0, "c", perDomain, "c.example.com"), ask(0, "x", perDomain, "x.example.org"),
		}, map[string][]time.Duration{"a": {0}, "b": {0}, "c": {w}, "x": {0}}},
		{"an order naming two registered domains waits for the fuller one", []limiterEvent{
			ask(0, "a", perDomain, "a.example.com"), ask(0, "b", perDomain, "b.example.com"),
			ask(0, "ab", perDomain, "c.example.com", "c.example.org"), ask(0, "x", perDomain, "x.example.org"),
		}, map[string][]time.Duration{"a": {0}, "b": {0}, "ab": {w}, "x": {0}}},
		{"the same set of names has its own budget", []limiterEvent{
			ask(0, "a1", duplicates, "a.example.com"), ask(0, "a2", duplicates, "a.example.com"),
			ask(0, "a3", duplicates, "a.example.com"), ask(0, "b", duplicates, "a.example.com", "b.example.com"),
		}, map[string][]time.Duration{"a1": {0}, "a2": {0}, "a3": {w}, "b": {0}}},
		{"an ARI renewal is granted at once and not counted", []limiterEvent{
			ask(0, "a", one, "a.example.com"), renewal, ask(0, "c", one, "c.example.com"),
		}, map[string][]time.Duration{"a": {0}, "b": {0}, "c": {w}}},
		{"a repeated request gets the same answer and costs nothing", []limiterEvent{
			ask(0, "a", one, "a.example.com"), ask(time.Minute, "a", one, "a.example.com"), ask(time.Minute, "b", one, "b.example.com"),
		}, map[string][]time.Duration{"a": {0, 0}, "b": {w}}},
		{"a requester that did not use its permit gets a new one, and its old one is released", []limiterEvent{
			ask(0, "a", one, "a.example.com"), ask(0, "b", one, "b.example.com"),
			retry(time.Minute, ask(0, "a", one, "a.example.com"), 1), retry(2*time.Minute, ask(0, "a", one, "a.example.com"), 0),
			ask(3*time.Minute, "c", one, "c.example.com"),
		}, map[string][]time.Duration{"a": {0, 2 * w, 2 * w}, "b": {w}, "c": {3 * w}}},
		{"a permit for later is a reservation that later requests see", []limiterEvent{
			ask(0, "a", one, "a.example.com"), ask(0, "b", one, "b.example.com"), ask(time.Minute, "c", one, "c.example.com"),
		}, map[string][]time.Duration{"a": {0}, "b": {w}, "c": {2 * w}}},
		{"a rate limit on the account holds every request until it ends", []limiterEvent{
			{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(2 * time.Hour)}},
			ask(time.Minute, "a", account, "a.example.com"), laterRenewal,
		}, map[string][]time.Duration{"a": {2 * time.Hour}, "b": {2 * time.Hour}}},
		{"a rate limit on a registered domain holds only orders naming it", []limiterEvent{
			{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(2 * time.Hour), Identifier: "example.com"}},
			ask(time.Minute, "a", account, "a.example.com"), ask(time.Minute, "x", account, "x.example.org"),
		}, map[string][]time.Duration{"a": {2 * time.Hour}, "x": {time.Minute}}},
		{"a rate limit on a set of names holds only that set", []limiterEvent{
			{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(2 * time.Hour), Names: []string{"a.example.com"}}},
			ask(time.Minute, "a", account, "a.example.com"), ask(time.Minute, "ab", account, "a.example.com", "b.example.com"),
		}, map[string][]time.Duration{"a": {2 * time.Hour}, "ab": {time.Minute}}},
		{"a rate limit that has passed holds nothing", []limiterEvent{
			{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(time.Hour)}},
			ask(2*time.Hour, "a", account, "a.example.com"),
		}, map[string][]time.Duration{"a": {2 * time.Hour}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, answers := runLimiter(t, activities.LimiterInput{Issuer: issuer}, tc.events)
			if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
				t.Fatalf("the limiter ended with %v, want cancelled by the test", err)
			}
			if got := grantedAfter(testStart, answers); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("permits after the start:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestLimiterSaysWhyAPermitIsForLater(t *testing.T) {
	one := activities.RateLimit{Limit: 1, Period: 168 * time.Hour}
	tests := []struct {
		name   string
		limits activities.RateLimits
		names  []string
		want   string
	}{
		{"the account's budget", activities.RateLimits{NewOrders: activities.RateLimit{Limit: 1, Period: 3 * time.Hour}},
			[]string{"b.example.com"}, "the account's order budget (1 per 3h) is used up"},
		{"a registered domain's budget", activities.RateLimits{CertificatesPerRegisteredDomain: one},
			[]string{"b.example.com"}, "the budget of registered domain example.com (1 certificates per 168h) is used up"},
		{"the duplicates' budget", activities.RateLimits{DuplicateCertificates: one},
			[]string{"a.example.com"}, "the budget for duplicate certificates of these names (1 per 168h) is used up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, answers := runLimiter(t, activities.LimiterInput{Issuer: issuer}, []limiterEvent{
				ask(0, "a", tc.limits, "a.example.com"), ask(0, "b", tc.limits, tc.names...),
			})
			reasons := map[string]string{}
			for _, a := range answers { // in any order: each is sent on its own
				reasons[a.requester] = a.grant.Reason
			}
			if len(answers) != 2 || reasons["a"] != "" || reasons["b"] != tc.want {
				t.Fatalf("answers %+v, want b's saying %q", answers, tc.want)
			}
		})
	}
}

func TestLimiterContinuesAsNewWithItsState(t *testing.T) {
	w := window(time.Hour)
	one := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 1, Period: time.Hour}}
	// Four requests arrive together at a run that continues after three: the
	// fourth is answered too before the run continues.
	burst := ask(0, "d", one, "d.example.com")
	burst.burst = []limiterEvent{ask(0, "a", one, "a.example.com"), ask(0, "b", one, "b.example.com"), ask(0, "c", one, "c.example.com")}
	env, answers := runLimiter(t, activities.LimiterInput{Issuer: issuer, ContinueAfter: 3}, []limiterEvent{burst})
	if got, want := fmt.Sprint(grantedAfter(testStart, answers)), fmt.Sprint(map[string][]time.Duration{"a": {0}, "b": {w}, "c": {2 * w}, "d": {3 * w}}); got != want {
		t.Fatalf("first run's permits %s, want %s", got, want)
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("the first run ended with %v, want continue-as-new", err)
	}
	var next activities.LimiterInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if len(next.State.Orders) != 4 || len(next.State.Answered) != 4 || next.ContinueAfter != 3 || next.Issuer != issuer {
		t.Fatalf("carried input %+v", next)
	}

	// The next run knows the reservations and the answers.
	_, answers = runLimiter(t, next, []limiterEvent{ask(time.Minute, "e", one, "e.example.com"), ask(time.Minute, "a", one, "a.example.com")})
	if got, want := fmt.Sprint(grantedAfter(testStart, answers)), fmt.Sprint(map[string][]time.Duration{"a": {0}, "e": {4 * w}}); got != want {
		t.Fatalf("second run's permits %s, want %s", got, want)
	}
}

// TestLimiterAnswersABurstInOneTask: requests that arrive together
// are answered in one workflow task, quickly (the budgets are pruned once per
// task, not once per request), well inside the SDK's one second without
// yielding.
func TestLimiterAnswersABurstInOneTask(t *testing.T) {
	limits := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 400, Period: time.Minute}}
	last := ask(0, "last", limits, "last.example.com")
	for i := range 299 {
		name := fmt.Sprintf("c%d", i)
		last.burst = append(last.burst, ask(0, name, limits, name+".example.com"))
	}
	_, answers := runLimiter(t, activities.LimiterInput{Issuer: issuer, ContinueAfter: 2000}, []limiterEvent{last})
	if len(answers) != 300 {
		t.Fatalf("%d answers, want 300", len(answers))
	}
	later := 0
	for _, a := range answers {
		if a.grant.At.After(testStart) {
			later++
		}
	}
	if later != 0 {
		t.Fatalf("%d permits for later, want none (400 per minute)", later)
	}
}

// outcome is what the request of e used of the permit it got at granted.
func outcome(after time.Duration, e limiterEvent, granted time.Duration, orderSent, issued bool, failed ...string) limiterEvent {
	r := e.request
	return limiterEvent{after: after, outcome: &activities.PermitOutcome{
		RequesterWorkflowID: r.RequesterWorkflowID, RequesterRunID: r.RequesterRunID, Attempt: r.Attempt,
		At: testStart.Add(granted), Names: r.Names, Domains: r.Domains,
		OrderSent: orderSent, Issued: issued, FailedValidations: failed,
	}}
}

// TestLimiterCountsWhatTheCACounts: attempts that issued nothing give their
// certificates back, an attempt that made no order gives the order back,
// and failed validations hold the name, as Let's Encrypt counts them.
func TestLimiterCountsWhatTheCACounts(t *testing.T) {
	dup := activities.RateLimits{NewOrders: lots, DuplicateCertificates: activities.RateLimit{Limit: 2, Period: 168 * time.Hour}}
	orders := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 2, Period: time.Hour}}
	failures := activities.RateLimits{NewOrders: lots, FailedValidations: activities.RateLimit{Limit: 2, Period: time.Hour}}
	a1, a2, a3 := ask(0, "a1", dup, "web.example.com"), ask(time.Minute, "a2", dup, "web.example.com"), ask(2*time.Minute, "a3", dup, "web.example.com")
	b1, b2, b3 := ask(0, "b1", orders, "b.example.com"), ask(time.Minute, "b2", orders, "b.example.com"), ask(2*time.Minute, "b3", orders, "b.example.org")
	c1, c2, c3 := ask(0, "c1", failures, "c.example.com"), ask(time.Minute, "c2", failures, "c.example.com"), ask(2*time.Minute, "c3", failures, "c.example.com")
	w := window(time.Hour)
	cases := []struct {
		name   string
		events []limiterEvent
		want   map[string][]time.Duration
	}{
		{"attempts that issued nothing do not count as duplicates: a third attempt gets a permit at once",
			[]limiterEvent{a1, outcome(30*time.Second, a1, 0, true, false), a2, outcome(90*time.Second, a2, time.Minute, true, false), a3},
			map[string][]time.Duration{"a1": {0}, "a2": {time.Minute}, "a3": {2 * time.Minute}}},
		{"without the outcomes the duplicates budget would hold the third for a week",
			[]limiterEvent{a1, a2, a3},
			map[string][]time.Duration{"a1": {0}, "a2": {time.Minute}, "a3": {window(168 * time.Hour)}}},
		{"an attempt that made no order gives the new order back",
			[]limiterEvent{b1, outcome(30*time.Second, b1, 0, false, true), b2, b3},
			map[string][]time.Duration{"b1": {0}, "b2": {time.Minute}, "b3": {2 * time.Minute}}},
		{"an attempt that made its order keeps the new order counted",
			[]limiterEvent{b1, outcome(30*time.Second, b1, 0, true, false), b2, b3},
			map[string][]time.Duration{"b1": {0}, "b2": {time.Minute}, "b3": {w}}},
		{"two failed validations of a name hold it until the first leaves the window",
			[]limiterEvent{c1, outcome(30*time.Second, c1, 0, true, false, "c.example.com"), c2,
				outcome(90*time.Second, c2, time.Minute, true, false, "c.example.com"), c3},
			map[string][]time.Duration{"c1": {0}, "c2": {time.Minute}, "c3": {30*time.Second + w}}},
		{"an outcome of a permit the limiter did not grant gives nothing back",
			[]limiterEvent{b1, outcome(30*time.Second, ask(0, "someone", orders, "b.example.com"), 0, false, false), b2, b3},
			map[string][]time.Duration{"b1": {0}, "b2": {time.Minute}, "b3": {w}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, answers := runLimiter(t, activities.LimiterInput{Issuer: activities.IssuerRef{Kind: "ClusterIssuer", Name: "le"}}, tc.events)
			if got := grantedAfter(testStart, answers); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("granted %v, want %v", got, tc.want)
			}
		})
	}
}

// forced is e as a user's renew sends it.
func forced(e limiterEvent) limiterEvent {
	e.request.Forced = true
	return e
}

// TestLimiterForcedRequestsWaitOnlyForTheCA: a renew asked for by a user is
// not held by certflow's budgets, its guess of the CA's counts, nor by a
// block whose scope certflow guessed; the CA's own blocks hold it. Its
// permit counts.
func TestLimiterForcedRequestsWaitOnlyForTheCA(t *testing.T) {
	dup := activities.RateLimits{DuplicateCertificates: activities.RateLimit{Limit: 1, Period: 168 * time.Hour}}
	until := 2 * time.Hour
	cases := []struct {
		name   string
		events []limiterEvent
		want   map[string][]time.Duration
	}{
		{"a used-up budget holds a request but not a forced one, which counts",
			[]limiterEvent{ask(0, "a", dup, "a.example.com"), ask(time.Minute, "b", dup, "a.example.com"),
				forced(ask(2*time.Minute, "c", dup, "a.example.com")), ask(3*time.Minute, "d", dup, "a.example.com")},
			map[string][]time.Duration{"a": {0}, "b": {window(168 * time.Hour)}, "c": {2 * time.Minute}, "d": {2 * window(168*time.Hour)}}},
		{"a block certflow guessed the scope of holds a request but not a forced one",
			[]limiterEvent{{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(until), Guessed: true}},
				ask(time.Minute, "a", lots1(), "a.example.com"), forced(ask(time.Minute, "b", lots1(), "b.example.com"))},
			map[string][]time.Duration{"a": {until}, "b": {time.Minute}}},
		{"the CA's block on the account holds a forced request too",
			[]limiterEvent{{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(until)}},
				forced(ask(time.Minute, "a", lots1(), "a.example.com"))},
			map[string][]time.Duration{"a": {until}}},
		{"the CA's block on the names holds a forced request too",
			[]limiterEvent{{after: 0, report: &activities.RateLimitReport{Until: testStart.Add(until), Identifier: "example.com"}},
				forced(ask(time.Minute, "a", lots1(), "a.example.com"))},
			map[string][]time.Duration{"a": {until}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, answers := runLimiter(t, activities.LimiterInput{Issuer: issuer}, tc.events)
			if got := grantedAfter(testStart, answers); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("granted %v, want %v", got, tc.want)
			}
		})
	}
}

func lots1() activities.RateLimits { return activities.RateLimits{NewOrders: lots} }
