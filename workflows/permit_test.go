package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
)

// These tests run the Order workflow alone, with the permits activities
// mocked and the limiter's answer delivered as the permit signal.

// budgetUsedUp is the Reason of a grant that a budget moved to later.
const budgetUsedUp = "the account's order budget (300 per 3h) is used up"

func orderInput() OrderInput {
	st := activities.CertificateStatus{Certificate: cert}
	setCondition(&st, condIssuing, condTrue, reasonIssuing, "issuing a new certificate")
	return OrderInput{Certificate: cert, Issuer: issuer, Request: spec1.Request, Revision: 1, Attempt: 1, Status: st}
}

// quickOrder mocks an order whose authorizations are valid already, and
// returns when BeginOrder ran (zero while it has not).
func quickOrder(env *testsuite.TestWorkflowEnvironment) *time.Time {
	began, _ := quickOrderFinalizing(env)
	return began
}

// quickOrderFinalizing is quickOrder that also returns where Finalize's input
// is recorded.
func quickOrderFinalizing(env *testsuite.TestWorkflowEnvironment) (*time.Time, *activities.FinalizeInput) {
	var (
		began     time.Time
		finalized activities.FinalizeInput
	)
	on(env, activities.BeginOrder, mock.Anything).Return(
		func(context.Context, activities.BeginOrderInput) (activities.BeginOrderResult, error) {
			began = env.Now()
			return activities.BeginOrderResult{OrderURL: "https://ca/order/1", Status: "ready", NewOrder: true}, nil
		}).Once()
	on(env, activities.Finalize, mock.Anything).Return(
		func(_ context.Context, in activities.FinalizeInput) (activities.FinalizeResult, error) {
			finalized = in
			return activities.FinalizeResult{ChainPEM: "chain"}, nil
		}).Once()
	on(env, activities.StoreSecret, mock.Anything).Return(activities.StoreSecretResult{ResourceVersion: "rv"}, nil).Once()
	return &began, &finalized
}

// finalizesAndStores mocks the last two steps of an order, once each.
func finalizesAndStores(env *testsuite.TestWorkflowEnvironment) {
	on(env, activities.Finalize, mock.Anything).Return(activities.FinalizeResult{ChainPEM: "chain"}, nil).Once()
	on(env, activities.StoreSecret, mock.Anything).Return(activities.StoreSecretResult{ResourceVersion: "rv"}, nil).Once()
}

func TestOrderWaitsForItsPermitAndShowsTheWait(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	start := env.Now()
	var asked []activities.RequestPermitInput
	on(env, activities.RequestPermit, mock.Anything).Return(
		func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
			asked = append(asked, in)
			return activities.RequestPermitResult{LimiterWorkflowID: activities.LimiterWorkflowID("test", in.Issuer)}, nil
		}).Once()
	at := start.Add(2 * time.Hour).Truncate(time.Second)
	grant := activities.PermitGrant{At: at, Reason: budgetUsedUp}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(activities.SignalPermit, grant) }, time.Second)
	began := quickOrder(env)

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0].Issuer != issuer || asked[0].RequesterWorkflowID == "" || asked[0].Replaces ||
		strings.Join(asked[0].Names, ",") != "*.web.certflow.test,web.certflow.test" {
		t.Fatalf("permit requests %+v", asked)
	}
	if began.Before(at) {
		t.Fatalf("the order began at %s, before its permit at %s", began, at)
	}
	want := "waiting for the account's order budget, next permit at " + at.UTC().Format(time.RFC3339) + ": " + grant.Reason
	var waiting *activities.CertificateStatus
	for i := range *written {
		if c := lastCondition((*written)[i:i+1], condIssuing); c.Message == want && c.Status == condTrue && c.Reason == reasonIssuing {
			waiting = &(*written)[i]
		}
	}
	if waiting == nil || !waiting.NextAttemptTime.Equal(at) || waiting.Step != activities.StepOrdering {
		t.Fatalf("no status says %q with nextAttemptTime %s; written: %+v", want, at, *written)
	}
	// Once the permit holds, the status no longer shows the wait.
	after := (*written)[len(*written)-1]
	if lastCondition([]activities.CertificateStatus{after}, condIssuing).Message != "issuing a new certificate" || !after.NextAttemptTime.IsZero() {
		t.Fatalf("the status after the wait still shows it: %+v", after)
	}
}

func TestOrderAsksAgainWhenTheLimiterDoesNotAnswer(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	on(env, activities.RequestPermit, mock.Anything).Return(activities.RequestPermitResult{}, nil).Twice()
	// The limiter was terminated after the first request; the second starts a new one, which answers.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(activities.SignalPermit, activities.PermitGrant{At: env.Now()})
	}, permitPatience+time.Minute)
	began := quickOrder(env)
	start := env.Now()
	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if waited := began.Sub(start); waited < permitPatience+time.Minute {
		t.Fatalf("the order began after %s, before its permit", waited)
	}
}

func TestOrderNeedsNoPermitForAnARIRenewalOrAnIssuerWithoutBudgets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replaces string
		result   activities.RequestPermitResult
		asks     int
	}{
		{"an ARI renewal does not ask", "aki.01", activities.RequestPermitResult{}, 0},
		{"an issuer without budgets answers at once", "", activities.RequestPermitResult{Unlimited: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			statuses(env)
			asks := 0
			on(env, activities.RequestPermit, mock.Anything).Return(
				func(context.Context, activities.RequestPermitInput) (activities.RequestPermitResult, error) {
					asks++
					return tc.result, nil
				}).Maybe()
			began := quickOrder(env)
			start := env.Now()
			in := orderInput()
			in.ReplacesCertID = tc.replaces
			env.ExecuteWorkflow(Order, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if asks != tc.asks || !began.Equal(start) {
				t.Fatalf("asked %d times (want %d), began after %s", asks, tc.asks, began.Sub(start))
			}
		})
	}
}

func TestOrderReportsTheCAsRateLimitToTheLimiter(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	detail := `too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s`
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
		temporal.NewNonRetryableApplicationError("newOrder: 429", activities.ErrTypeRateLimited, nil,
			activities.RateLimitDetails{RetryAfterSeconds: 3600, Detail: detail})).Once()
	var reported []activities.ReportRateLimitInput
	on(env, activities.ReportRateLimit, mock.Anything).Return(
		func(_ context.Context, in activities.ReportRateLimitInput) (activities.ReportRateLimitResult, error) {
			reported = append(reported, in)
			return activities.ReportRateLimitResult{}, nil
		}).Once()
	start := env.Now()
	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "(type: RateLimited") {
		t.Fatalf("the order ended with %v, want the rate limit", err)
	}
	if len(reported) != 1 || !reported[0].Until.Equal(start.Add(time.Hour)) || reported[0].Detail != detail ||
		reported[0].Issuer != issuer || len(reported[0].Names) != 2 {
		t.Fatalf("reports %+v, want one until %s", reported, start.Add(time.Hour))
	}
}

func TestOrderThatWakesTooLateAsksAgain(t *testing.T) {
	env := newEnv(t)
	limits := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 1, Period: 20 * time.Second}} // 2 s of tolerance
	// Writing the first waiting status takes 5 s, 4 s longer than the wait
	// for the permit: too late to use it.
	on(env, activities.UpdateCertificateStatus, mock.MatchedBy(func(st activities.CertificateStatus) bool {
		return strings.HasPrefix(lastCondition([]activities.CertificateStatus{st}, condIssuing).Message, "waiting for the account's order budget")
	})).After(5*time.Second).Return(activities.UpdateCertificateStatusResult{}, nil).Once()
	statuses(env)
	start := env.Now()
	var attempts []int
	on(env, activities.RequestPermit, mock.Anything).Return(
		func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
			attempts = append(attempts, in.Attempt)
			send := func(g activities.PermitGrant) {
				if err := env.SignalWorkflowByID(in.RequesterWorkflowID, activities.SignalPermit, g); err != nil {
					t.Error(err)
				}
			}
			if in.Attempt == 0 {
				send(activities.PermitGrant{At: env.Now().Add(time.Second), Reason: budgetUsedUp})
			} else {
				send(activities.PermitGrant{At: start.Add(time.Second), Reason: budgetUsedUp}) // the first answer again, late: ignored
				send(activities.PermitGrant{At: env.Now().Add(30 * time.Minute), Reason: budgetUsedUp, Attempt: in.Attempt})
			}
			return activities.RequestPermitResult{Limits: limits}, nil
		}).Twice()
	began := quickOrder(env)
	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 2 || attempts[1] != 1 {
		t.Fatalf("permit requests of attempts %v, want 0 and 1", attempts)
	}
	if want := start.Add(5*time.Second + 30*time.Minute); began.Before(want) {
		t.Fatalf("the order began %s after the start, before its second permit at %s", began.Sub(start), want.Sub(start))
	}
}

// BeginOrder got to its permit too late to send the order (it sent none):
// the Order asks for another permit, with the next attempt, and begins
// again by that permit's time plus its validity.
func TestOrderAsksForAnotherPermitWhenOneRanOutBeforeTheOrderWasSent(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	limits := activities.RateLimits{NewOrders: activities.RateLimit{Limit: 50, Period: 20 * time.Second}} // 4 s of validity
	var (
		attempts []int
		grants   []time.Time
		sendBys  []time.Time
	)
	on(env, activities.RequestPermit, mock.Anything).Return(
		func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
			attempts = append(attempts, in.Attempt)
			grants = append(grants, env.Now())
			if err := env.SignalWorkflowByID(in.RequesterWorkflowID, activities.SignalPermit, activities.PermitGrant{At: env.Now(), Attempt: in.Attempt}); err != nil {
				t.Error(err)
			}
			return activities.RequestPermitResult{Limits: limits}, nil
		}).Twice()
	on(env, activities.BeginOrder, mock.Anything).Return(
		func(_ context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
			sendBys = append(sendBys, in.SendBy)
			if len(sendBys) == 1 {
				return activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError("the permit ran out", activities.ErrTypePermitExpired, nil)
			}
			return activities.BeginOrderResult{OrderURL: "https://ca/order/1", Status: "ready", NewOrder: true}, nil
		}).Twice()
	finalizesAndStores(env)

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 2 || attempts[0] != 0 || attempts[1] != 1 {
		t.Fatalf("permit requests of attempts %v, want 0 and 1", attempts)
	}
	if len(sendBys) != 2 {
		t.Fatalf("BeginOrder ran %d times, want twice", len(sendBys))
	}
	for i, sendBy := range sendBys {
		if want := grants[i].Add(4 * time.Second); !sendBy.Equal(want) {
			t.Errorf("BeginOrder %d: send by %s, want its permit's time plus 4 s (%s)", i+1, sendBy, want)
		}
	}
}

func TestPermitValidityIsTheMarginOfTheShortestBudget(t *testing.T) {
	budget := func(limit int, period time.Duration) activities.RateLimit {
		return activities.RateLimit{Limit: limit, Period: period}
	}
	for _, tc := range []struct {
		name   string
		limits activities.RateLimits
		want   time.Duration
	}{
		{"Let's Encrypt's: a minute on 3 hours", activities.RateLimits{NewOrders: budget(300, 3*time.Hour), CertificatesPerRegisteredDomain: budget(50, 168*time.Hour)}, time.Minute},
		{"a tenth of a 1-minute budget", activities.RateLimits{NewOrders: budget(400, time.Minute), DuplicateCertificates: budget(5, time.Hour)}, 6 * time.Second},
		{"at least 4 s on 20 s", activities.RateLimits{NewOrders: budget(50, 20*time.Second)}, 4 * time.Second},
		{"at least 4 s on a budget of a second", activities.RateLimits{NewOrders: budget(1_000_000, time.Second)}, 4 * time.Second},
		{"no budget", activities.RateLimits{}, 2 * time.Minute},
	} {
		if got := permitValidity(tc.limits); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestOrderTellsTheLimiterWhatItsPermitWasUsedFor: a failed validation gives
// the certificate budgets back and counts the failure; a resumed order gives
// the new order back; an issued new order tells nothing.
func TestOrderTellsTheLimiterWhatItsPermitWasUsedFor(t *testing.T) {
	authz := activities.Authorization{URL: "https://ca/authz/1", Identifier: "web.certflow.test", Wildcard: true, Status: "pending",
		Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v"}}
	invalid := authz
	invalid.Status = "invalid"
	cases := []struct {
		name string
		mock func(env *testsuite.TestWorkflowEnvironment)
		want []activities.ReportPermitOutcomeInput
	}{
		{"a validation the CA refused", func(env *testsuite.TestWorkflowEnvironment) {
			on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{
				OrderURL: "https://ca/order/1", NewOrder: true, Authorizations: []activities.Authorization{authz}}, nil).Once()
			on(env, activities.Present, mock.Anything).Return(activities.PresentResult{}, nil).Once()
			on(env, activities.WaitPropagation, mock.Anything).Return(activities.WaitPropagationResult{Visible: true}, nil).Once()
			on(env, activities.Validate, mock.Anything).Return(activities.ValidateResult{}, temporal.NewNonRetryableApplicationError(
				"acme: validating dns-01 for *.web.certflow.test: unauthorized", activities.ErrTypeACMEPermanent, nil,
				activities.ValidateResult{Authorizations: []activities.Authorization{invalid}})).Once()
		}, []activities.ReportPermitOutcomeInput{{OrderSent: true, FailedValidations: []string{"*.web.certflow.test"}}}},
		{"an order made before (the attempt runs again)", func(env *testsuite.TestWorkflowEnvironment) {
			on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{OrderURL: "https://ca/order/1", Status: "ready"}, nil).Once()
			finalizesAndStores(env)
		}, []activities.ReportPermitOutcomeInput{{Issued: true}}},
		{"a new order that issued", func(env *testsuite.TestWorkflowEnvironment) {
			quickOrder(env)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			statuses(env)
			tc.mock(env)
			var told []activities.ReportPermitOutcomeInput
			on(env, activities.ReportPermitOutcome, mock.Anything).Return(
				func(_ context.Context, in activities.ReportPermitOutcomeInput) (activities.ReportPermitOutcomeResult, error) {
					told = append(told, in)
					return activities.ReportPermitOutcomeResult{}, nil
				}).Maybe()
			env.ExecuteWorkflow(Order, orderInput())
			for i := range told {
				if told[i].Issuer != issuer || len(told[i].Names) != 2 {
					t.Fatalf("told %+v, want the order's issuer and names", told[i])
				}
				told[i] = activities.ReportPermitOutcomeInput{OrderSent: told[i].OrderSent, Issued: told[i].Issued, FailedValidations: told[i].FailedValidations}
			}
			if fmt.Sprint(told) != fmt.Sprint(tc.want) {
				t.Fatalf("told the limiter %+v, want %+v", told, tc.want)
			}
		})
	}
}

// TestRenewWhileWaitingForAPermitAsksForAForcedOne: an Order waiting a week
// for a used-up budget is renewed by its user: it asks again, forced, and
// orders as soon as that permit comes.
func TestRenewWhileWaitingForAPermitAsksForAForcedOne(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	var asked []activities.RequestPermitInput
	on(env, activities.RequestPermit, mock.Anything).Return(
		func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
			asked = append(asked, in)
			grant := activities.PermitGrant{At: start.Add(168 * time.Hour), Attempt: in.Attempt,
				Reason: "the budget for duplicate certificates of these names (5 per 168h) is used up"}
			if in.Forced {
				grant = activities.PermitGrant{At: env.Now(), Attempt: in.Attempt}
			}
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(activities.SignalPermit, grant) }, time.Millisecond)
			return activities.RequestPermitResult{LimiterWorkflowID: activities.LimiterWorkflowID("test", in.Issuer)}, nil
		})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRenew, nil) }, time.Hour)
	began := quickOrder(env)

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0].Forced || !asked[1].Forced || asked[1].Attempt != asked[0].Attempt+1 {
		t.Fatalf("permit requests %+v; want one, then a forced one for the next attempt", asked)
	}
	if d := began.Sub(start); d < time.Hour || d > time.Hour+time.Minute {
		t.Fatalf("ordered %s after the start, want just after the renew an hour in", d)
	}
}

// TestOrderTakesThePermitItsActivityReturns: a limiter that answers in
// RequestPermit's result (asked by update) sends no signal; a permit for
// later is waited for on a timer.
func TestOrderTakesThePermitItsActivityReturns(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	start := env.Now()
	at := start.Add(10 * time.Minute)
	began := orderGranted(t, env, activities.PermitGrant{At: at, Reason: budgetUsedUp})
	if !began.Equal(at) {
		t.Fatalf("the order began %s after the start, want %s: at its permit", began.Sub(start), at.Sub(start))
	}
}

func TestOrderGoesAtOnceOnAGrantNoBudgetMoved(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	start := env.Now()
	// The limiter decided at its own clock's now, a little ahead of this
	// workflow's, which lags by the task's trip to the worker.
	began := orderGranted(t, env, activities.PermitGrant{At: start.Add(30 * time.Millisecond)})
	if !began.Equal(start) {
		t.Fatalf("the order began %s after the start, want at once", began.Sub(start))
	}
	for _, st := range *written {
		if st.Event != nil || !st.NextAttemptTime.IsZero() {
			t.Fatalf("a status shows a wait for the permit: %+v", st)
		}
	}
}

// orderGranted runs a quick Order whose RequestPermit returns the grant, and
// returns when BeginOrder ran.
func orderGranted(t *testing.T, env *testsuite.TestWorkflowEnvironment, grant activities.PermitGrant) time.Time {
	t.Helper()
	on(env, activities.RequestPermit, mock.Anything).Return(
		func(_ context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
			grant.Attempt = in.Attempt
			return activities.RequestPermitResult{Grant: &grant, LimiterWorkflowID: activities.LimiterWorkflowID("test", in.Issuer)}, nil
		}).Once()
	began := quickOrder(env)
	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	return *began
}
