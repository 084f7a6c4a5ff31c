package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// These tests run the workflows in Temporal's test environment with the
// activities replaced by mocks, and time skipped: a 90-day lifetime passes in
// milliseconds.

var (
	cert   = activities.CertificateRef{Namespace: "default", Name: "web"}
	issuer = activities.IssuerRef{Kind: "ClusterIssuer", Name: "pebble"}
	spec1  = activities.CertificateSpec{Generation: 1, Issuer: issuer, Request: activities.Request{
		DNSNames: []string{"*.web.certflow.test", "web.certflow.test"}, SecretName: "web-tls",
	}}
	day = 24 * time.Hour
)

// newEnv registers the workflows and every activity, unimplemented, so that
// the mocks below can stand in for them.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	return newEnvOf(t, &testsuite.WorkflowTestSuite{})
}

// newEnvOf is newEnv in suite (one with a metrics handler).
func newEnvOf(t *testing.T, suite *testsuite.WorkflowTestSuite) *testsuite.TestWorkflowEnvironment {
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Certificate, workflow.RegisterOptions{Name: CertificateWorkflowName})
	env.RegisterWorkflowWithOptions(Order, workflow.RegisterOptions{Name: OrderWorkflowName})
	env.RegisterWorkflowWithOptions(Issuer, workflow.RegisterOptions{Name: IssuerWorkflowName})
	activities.Register(env, activities.Unimplemented()...)
	registerPermits(env) // limiter_test.go: every permit at once, unless a test mocks them
	on(env, activities.EnsurePendingKey, mock.Anything).Return(pendingKey, nil).Maybe()
	t.Cleanup(func() { env.AssertExpectations(t) })
	return env
}

// pendingKey is what EnsurePendingKey returns for every issuance in these
// tests.
var pendingKey = activities.EnsurePendingKeyResult{
	Secret: "web-certflow-pending-key", PublicKeySHA256: "00ff", CSR: []byte("csr"), IssuerType: activities.IssuerTypeACME,
}

// inspectReturns mocks one InspectSecret that reads spec and finds res.
func inspectReturns(env *testsuite.TestWorkflowEnvironment, spec activities.CertificateSpec, res activities.InspectSecretResult) *testsuite.MockCallWrapper {
	res.Spec = &spec
	return on(env, activities.InspectSecret, mock.Anything).Return(res, nil).Once()
}

// on mocks activity a for inputs that match in (mock.Anything for any).
func on[In, Out any](env *testsuite.TestWorkflowEnvironment, a activities.Activity[In, Out], in any) *testsuite.MockCallWrapper {
	return env.OnActivity(a.Name(), mock.Anything, in)
}

// statuses records every status the workflow writes.
func statuses(env *testsuite.TestWorkflowEnvironment) *[]activities.CertificateStatus {
	var written []activities.CertificateStatus
	on(env, activities.UpdateCertificateStatus, mock.Anything).Return(
		func(_ context.Context, st activities.CertificateStatus) (activities.UpdateCertificateStatusResult, error) {
			written = append(written, st)
			return activities.UpdateCertificateStatusResult{}, nil
		}).Maybe()
	return &written
}

// issuance mocks a successful DNS-01 order from issuer by whose certificate
// lives 90 days from the test clock's now. It returns where BeginOrder's
// input is recorded.
func issuance(env *testsuite.TestWorkflowEnvironment, serial string, by activities.IssuerRef) *activities.BeginOrderInput {
	authz := activities.Authorization{URL: "https://ca/authz/1", Identifier: "web.certflow.test", Status: "pending",
		Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v"}}
	var began activities.BeginOrderInput
	on(env, activities.BeginOrder, mock.MatchedBy(func(in activities.BeginOrderInput) bool { return in.Issuer == by })).Return(
		func(_ context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
			began = in
			return activities.BeginOrderResult{
				OrderURL: "https://ca/order/" + serial, Status: "pending", NewOrder: true,
				Authorizations: []activities.Authorization{authz},
			}, nil
		}).Once()
	presented := []activities.Presented{{Identifier: authz.Identifier, Challenge: authz.Challenge, Zone: "certflow.test."}}
	on(env, activities.Present, mock.Anything).Return(activities.PresentResult{Presented: presented}, nil).Once()
	on(env, activities.WaitPropagation, mock.Anything).Return(activities.WaitPropagationResult{Checks: 1, Visible: true}, nil).Once()
	valid := authz
	valid.Status = "valid"
	on(env, activities.Validate, mock.Anything).Return(activities.ValidateResult{Authorizations: []activities.Authorization{valid}}, nil).Once()
	on(env, activities.Finalize, mock.Anything).Return(
		func(context.Context, activities.FinalizeInput) (activities.FinalizeResult, error) {
			now := env.Now()
			return activities.FinalizeResult{ChainPEM: "chain-" + serial, Issued: activities.Issued{
				NotBefore: now, NotAfter: now.Add(90 * day), Serial: serial, ARICertID: "aki." + serial,
			}}, nil
		}).Once()
	on(env, activities.StoreSecret, mock.Anything).Return(activities.StoreSecretResult{ResourceVersion: "rv-" + serial}, nil).Once()
	on(env, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: cert, Issuer: by, Presented: presented}).Return(activities.CleanUpChallengesResult{}, nil).Once()
	return &began
}

func continuedWith(t *testing.T, env *testsuite.TestWorkflowEnvironment) CertificateInput {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next CertificateInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	return next
}

func lastCondition(written []activities.CertificateStatus, typ string) activities.Condition {
	for i := len(written) - 1; i >= 0; i-- {
		for _, c := range written[i].Conditions {
			if c.Type == typ {
				return c
			}
		}
	}
	return activities.Condition{}
}

func TestFirstIssuanceThenRenewalAfterTwoThirdsOfTheLifetime(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	first := issuance(env, "01", issuer)
	on(env, activities.RenewalInfo, mock.Anything).Return(activities.RenewalInfoResult{}, nil)

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	next := continuedWith(t, env)

	if next.State.Revision != 1 || next.State.Issued == nil || next.State.Issued.Serial != "01" || next.State.SecretVersion != "rv-01" {
		t.Fatalf("state after issuance: %+v", next.State)
	}
	// The run slept until the renewal time: a third of 90 days before expiry,
	// less up to an hour of spread.
	if slept := env.Now().Sub(start); slept < 60*day-time.Hour || slept > 60*day {
		t.Fatalf("renewal came after %s, want about 60 days", slept)
	}
	if c := lastCondition(*written, condReady); c.Status != condTrue || c.Reason != reasonIssued {
		t.Fatalf("Ready condition %+v", c)
	}
	// A quick attempt writes only its result. Each step carries the
	// attempt's status, for the worker to write if the step takes a while.
	if len(*written) != 1 {
		t.Fatalf("statuses written %+v, want the result's only", *written)
	}
	if st := first.Progress(); st == nil || st.Step != activities.StepOrdering {
		t.Fatalf("BeginOrder carried status %+v, want step ordering", st)
	} else if c := lastCondition([]activities.CertificateStatus{*st}, condIssuing); c.Status != condTrue || !c.LastTransitionTime.Equal(start) {
		t.Fatalf("BeginOrder carried condition Issuing %+v, want True since the attempt began at %s", c, start)
	}

	// The next run finds the stored certificate due and renews it, naming it in
	// the order (ARI "replaces").
	env2 := newEnv(t)
	written2 := statuses(env2)
	inspectReturns(env2, spec1, activities.InspectSecretResult{
		State: activities.SecretCurrent, ResourceVersion: "rv-01", Issued: next.State.Issued,
	})
	env2.SetStartTime(env.Now())
	began := issuance(env2, "02", issuer)
	env2.OnActivity(activities.RenewalInfo.Name(), mock.Anything, mock.Anything).Return(activities.RenewalInfoResult{}, nil)
	env2.ExecuteWorkflow(Certificate, next)
	if after := continuedWith(t, env2); after.State.Revision != 2 || after.State.Issued.Serial != "02" {
		t.Fatalf("state after renewal: %+v", after.State)
	}
	if began.ReplacesCertID != "aki.01" || began.Revision != 2 {
		t.Fatalf("renewal order: replaces %q revision %d, want aki.01 and 2", began.ReplacesCertID, began.Revision)
	}
	// Ready stayed True through the renewal: it keeps the time it became True.
	readySince := lastCondition(*written, condReady).LastTransitionTime
	if c := lastCondition(*written2, condReady); c.Status != condTrue || readySince.IsZero() || !c.LastTransitionTime.Equal(readySince) {
		t.Fatalf("Ready after the renewal %+v, want True since %s", c, readySince)
	}
}

// TestAttemptsRunInTheCertificateWorkflow: a run started or continued by
// this release orders in its own history; a run of v0.1.0 still starts an
// Order child, and continues as new into one that does not.
func TestAttemptsRunInTheCertificateWorkflow(t *testing.T) {
	for _, inline := range []bool{true, false} {
		env := newEnv(t)
		statuses(env)
		inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
		issuance(env, "01", issuer)
		on(env, activities.RenewalInfo, mock.Anything).Return(activities.RenewalInfoResult{}, nil)
		children := 0
		env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) { children++ })

		env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: inline, Certificate: cert, Spec: spec1})
		next := continuedWith(t, env)
		if want := map[bool]int{true: 0, false: 1}[inline]; children != want || next.State.Revision != 1 {
			t.Errorf("InlineOrders %v: %d Order children, revision %d; want %d and 1", inline, children, next.State.Revision, want)
		}
		if !next.InlineOrders {
			t.Errorf("InlineOrders %v: the next run starts with InlineOrders false", inline)
		}
	}
}

func TestRateLimitWaitsExactlyTheRetryAfter(t *testing.T) {
	for _, retryAfter := range []time.Duration{20 * time.Second, 3 * time.Hour} {
		t.Run(retryAfter.String(), func(t *testing.T) {
			env := newEnv(t)
			written := statuses(env)
			inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
			on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
				temporal.NewNonRetryableApplicationError("too many new orders", activities.ErrTypeRateLimited, nil,
					activities.RateLimitDetails{RetryAfterSeconds: int64(retryAfter.Seconds()), Detail: "too many new orders"})).Once()

			start := env.Now()
			env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
			next := continuedWith(t, env)
			waited := env.Now().Sub(start)
			if jitter := min(retryAfter/10, time.Minute); waited < retryAfter || waited > retryAfter+jitter+time.Second {
				t.Fatalf("waited %s after a %s Retry-After, want it plus at most %s of jitter", waited, retryAfter, jitter)
			}
			if next.State.NextAttemptReason != nextAttemptRateLimited || next.State.FailedAttempts != 1 {
				t.Fatalf("state: %+v", next.State)
			}
			if c := lastCondition(*written, condReady); c.Status != condFalse || c.Reason != reasonRateLimited {
				t.Fatalf("Ready condition %+v", c)
			}
		})
	}
}

// A workflow task that handles the refusal late (its worker died) waits only
// what is left of the Retry-After, counted from the CA's refusal. A refusal
// time in the future (a worker's clock ahead) counts from now.
func TestRateLimitWaitCountsFromTheRefusal(t *testing.T) {
	const retryAfter = 20 * time.Second
	for _, tc := range []struct {
		name      string
		refusedAt time.Duration // from the workflow's start
		wantWait  time.Duration
	}{
		{"refused 15 s before the task", -15 * time.Second, 5 * time.Second},
		{"a refusal time an hour ahead", time.Hour, retryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			statuses(env)
			start := env.Now()
			inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
			on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
				temporal.NewNonRetryableApplicationError("too many new orders", activities.ErrTypeRateLimited, nil,
					activities.RateLimitDetails{RetryAfterSeconds: int64(retryAfter.Seconds()), RefusedAt: start.Add(tc.refusedAt)})).Once()

			env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
			next := continuedWith(t, env)
			want, jitter := start.Add(tc.wantWait), retryAfter/10
			if at := next.State.NextAttemptTime; at.Before(want) || at.After(want.Add(jitter+time.Second)) {
				t.Fatalf("next attempt at %s, want %s plus at most %s of jitter", at, want, jitter)
			}
		})
	}
}

func TestRenewSignalSkipsTheBackoff(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
		temporal.NewNonRetryableApplicationError("no solver for web.certflow.test", activities.ErrTypeConfig, nil)).Once()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRenew, nil) }, 10*time.Second)

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	next := continuedWith(t, env)
	if waited := env.Now().Sub(start); waited > time.Minute {
		t.Fatalf("continued after %s: the renew signal did not cut the 1-minute backoff short", waited)
	}
	if !next.State.ForceRenewal || !next.State.NextAttemptTime.IsZero() {
		t.Fatalf("state after renew: %+v", next.State)
	}
}

func TestSecretConflictIsReportedAndNotRetried(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{
		State: activities.SecretConflict, Reason: "Secret web-tls belongs to Certificate default/other",
	})
	// A day later the user points the Certificate at another Secret: the
	// controller's hint makes the workflow look, and it finds generation 2.
	spec2 := spec1
	spec2.Generation = 2
	spec2.Request.SecretName = "web2-tls"
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 2}) }, day)
	inspectReturns(env, spec2, activities.InspectSecretResult{State: activities.SecretMissing})

	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	next := continuedWith(t, env)
	if next.Spec.Generation != 1 || next.State.Blocked == "" {
		t.Fatalf("after the hint: generation %d, blocked %q; want the run to end and the next to read the new spec", next.Spec.Generation, next.State.Blocked)
	}
	if c := lastCondition(*written, condReady); c.Reason != reasonSecretConflict {
		t.Fatalf("Ready condition %+v", c)
	}
	// BeginOrder was never mocked: any attempt to issue fails the test.
}

func TestCancellationCleansUpPresentedResponses(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	presented := []activities.Presented{{Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v"}}}
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{
		Authorizations: []activities.Authorization{{URL: "a", Status: "pending", Challenge: activities.Challenge{Type: "dns-01"}}},
	}, nil).Once()
	on(env, activities.Present, mock.Anything).Return(activities.PresentResult{Presented: presented}, nil).Once()
	on(env, activities.WaitPropagation, mock.Anything).After(time.Hour).Return(activities.WaitPropagationResult{}, nil).Maybe()
	on(env, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: cert, Issuer: issuer, Presented: presented}).
		Return(activities.CleanUpChallengesResult{}, nil).Once()
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)

	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow ended with %v, want cancelled", err)
	}
}

func TestIssuerReportsItsAccount(t *testing.T) {
	env := newEnv(t)
	ref := activities.IssuerRef{Kind: "ClusterIssuer", Name: "pebble"}
	on(env, activities.EnsureAccount, mock.Anything).Return(activities.EnsureAccountResult{},
		errors.New("acme: connecting to https://127.0.0.1:1/dir: connection refused")).Times(5) // the activity's own retries
	on(env, activities.EnsureAccount, mock.Anything).Return(activities.EnsureAccountResult{
		AccountURL: "https://ca/acct/1", Generation: 3}, nil).Once()
	var written []activities.IssuerStatus
	on(env, activities.UpdateIssuerStatus, mock.Anything).Return(
		func(_ context.Context, st activities.IssuerStatus) (activities.UpdateIssuerStatusResult, error) {
			written = append(written, st)
			return activities.UpdateIssuerStatusResult{}, nil
		})
	env.ExecuteWorkflow(Issuer, IssuerInput{Issuer: ref, Generation: 3})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || written[0].Ready.Status != condFalse || written[1].Ready.Status != condTrue || written[1].AccountURL != "https://ca/acct/1" {
		t.Fatalf("issuer statuses written: %+v", written)
	}
}

func TestAStaleSecretVersionFromTheControllerDoesNotCutTheWaitShort(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	issuance(env, "01", issuer)
	on(env, activities.RenewalInfo, mock.Anything).Return(activities.RenewalInfoResult{}, nil)
	// Sent before the Secret existed, delivered after the store: the look
	// again finds the version the workflow wrote.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 1}) }, time.Hour)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretCurrent, ResourceVersion: "rv-01"})

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	continuedWith(t, env)
	if slept := env.Now().Sub(start); slept < 59*day {
		t.Fatalf("the run ended after %s: the stale signal started a new cycle", slept)
	}
}

func TestADeletedSecretStartsANewCycle(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	issuance(env, "01", issuer)
	on(env, activities.RenewalInfo, mock.Anything).Return(activities.RenewalInfoResult{}, nil)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 1, SecretResourceVersion: ""})
	}, time.Hour)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	next := continuedWith(t, env)
	if slept := env.Now().Sub(start); slept > 2*time.Hour {
		t.Fatalf("the run waited %s after its Secret was deleted", slept)
	}
	if next.State.SecretVersion != "" {
		t.Fatalf("state keeps the deleted Secret's version %q", next.State.SecretVersion)
	}
}

func TestAPermanentRefusalFallsBackToTheNextIssuer(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	backup := activities.IssuerRef{Kind: "ClusterIssuer", Name: "backup"}
	spec := spec1
	spec.FallbackIssuers = []activities.IssuerRef{backup}
	inspectReturns(env, spec, activities.InspectSecretResult{State: activities.SecretMissing})
	on(env, activities.BeginOrder, mock.MatchedBy(func(in activities.BeginOrderInput) bool { return in.Issuer == issuer })).Return(
		activities.BeginOrderResult{}, temporal.NewNonRetryableApplicationError("rejectedIdentifier: policy forbids", activities.ErrTypeACMEPermanent, nil)).Once()

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec})
	next := continuedWith(t, env)
	if env.Now().Sub(start) > time.Second || next.State.IssuerIndex != 1 || !next.State.NextAttemptTime.IsZero() {
		t.Fatalf("after a permanent refusal: waited %s, state %+v; want the next issuer at once", env.Now().Sub(start), next.State)
	}
	if c := lastCondition(*written, condIssuing); c.Reason != reasonFallingBack {
		t.Fatalf("Issuing condition %+v", c)
	}

	// The next run orders from the backup and records who issued.
	env2 := newEnv(t)
	written2 := statuses(env2)
	inspectReturns(env2, spec, activities.InspectSecretResult{State: activities.SecretMissing})
	issuance(env2, "01", backup)
	env2.OnActivity(activities.RenewalInfo.Name(), mock.Anything, activities.RenewalInfoInput{Issuer: backup, ARICertID: "aki.01"}).Return(activities.RenewalInfoResult{}, nil)
	env2.ExecuteWorkflow(Certificate, next)
	after := continuedWith(t, env2)
	if after.State.IssuedBy != backup || after.State.IssuerIndex != 0 {
		t.Fatalf("state after issuance by the backup: %+v", after.State)
	}
	if got := (*written2)[len(*written2)-1].IssuedBy; got != "ClusterIssuer/backup" {
		t.Fatalf("status issuedBy %q", got)
	}
}

func TestARateLimitFallsBackOnlyWhenItHoldsPastFallbackAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		fallback   bool
	}{
		{"a 10-minute rate limit waits for the same issuer", 10 * time.Minute, false},
		{"a 3-hour rate limit moves to the next issuer", 3 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			statuses(env)
			spec := spec1
			spec.FallbackIssuers = []activities.IssuerRef{{Kind: "ClusterIssuer", Name: "backup"}}
			inspectReturns(env, spec, activities.InspectSecretResult{State: activities.SecretMissing})
			on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
				temporal.NewNonRetryableApplicationError("too many orders", activities.ErrTypeRateLimited, nil,
					activities.RateLimitDetails{RetryAfterSeconds: int64(tc.retryAfter.Seconds())})).Once()
			start := env.Now()
			env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec})
			next := continuedWith(t, env)
			waited := env.Now().Sub(start)
			if fellBack := next.State.IssuerIndex == 1; fellBack != tc.fallback {
				t.Fatalf("fell back = %v, want %v (state %+v)", fellBack, tc.fallback, next.State)
			}
			if !tc.fallback && waited < tc.retryAfter {
				t.Fatalf("waited %s, want the Retry-After %s", waited, tc.retryAfter)
			}
		})
	}
}

func TestRetryBackoffFromTheSpec(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	spec := spec1
	spec.Backoff = activities.Backoff{Initial: 5 * time.Minute, Max: time.Hour}
	inspectReturns(env, spec, activities.InspectSecretResult{State: activities.SecretMissing})
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
		temporal.NewNonRetryableApplicationError("the CA is down", "Unavailable", nil)).Once()
	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec})
	continuedWith(t, env)
	if waited := env.Now().Sub(start); waited < 5*time.Minute || waited > 5*time.Minute+30*time.Second {
		t.Fatalf("waited %s after the first failure, want the spec's 5m (+ up to 10%%)", waited)
	}
}

func TestBackoffDoublesUpToItsMaximum(t *testing.T) {
	b := activities.Backoff{Initial: time.Minute, Max: 10 * time.Minute}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 4: 8 * time.Minute, 5: 10 * time.Minute, 50: 10 * time.Minute} {
		if got := backoff(n, 0, b); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
	if got := backoff(1, 0, activities.Backoff{}); got != defaultInitialBackoff {
		t.Errorf("default first backoff %s", got)
	}
}

func TestAFailedPresentStillCleansUpWhatItMayHaveMade(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	authz := activities.Authorization{URL: "a", Status: "pending", Challenge: activities.Challenge{
		Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v", Solver: 2}}
	on(env, activities.BeginOrder, mock.Anything).Return(
		activities.BeginOrderResult{Authorizations: []activities.Authorization{authz}}, nil).Once()
	on(env, activities.Present, mock.Anything).Return(
		activities.PresentResult{}, errors.New("rfc2136: adding TXT: i/o timeout")).Times(5)
	on(env, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: cert, Issuer: issuer, Presented: []activities.Presented{
		{Challenge: authz.Challenge},
	}}).Return(activities.CleanUpChallengesResult{}, nil).Once()

	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1})
	if next := continuedWith(t, env); next.State.FailedAttempts != 1 {
		t.Fatalf("state %+v, want one failed attempt", next.State)
	}
}

// TestAMadeUpSpecSignalChangesNothing: a spec signal is a hint to look, so
// one with a generation far ahead (anyone who reaches Temporal can send it)
// neither makes the workflow act nor freezes it: a real change later is
// acted on.
func TestAMadeUpSpecSignalChangesNothing(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	issuance(env, "01", issuer)
	on(env, activities.RenewalInfo, mock.Anything).Return(activities.RenewalInfoResult{}, nil)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 1 << 60}) }, time.Hour)
	// The look finds what the workflow knows: nothing changed.
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretCurrent, ResourceVersion: "rv-01"})
	spec2 := spec1
	spec2.Generation = 2
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 2}) }, 2*day)
	inspectReturns(env, spec2, activities.InspectSecretResult{State: activities.SecretCurrent, ResourceVersion: "rv-01"})

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{Certificate: cert})
	next := continuedWith(t, env)
	if waited := env.Now().Sub(start); waited < 2*day || waited > 2*day+time.Hour {
		t.Fatalf("the run ended %s after its start: want the real change, two days in, to end it and not the made-up one", waited)
	}
	if next.Spec.Generation != 1 {
		t.Fatalf("carried generation %d: the next run reads the spec again", next.Spec.Generation)
	}
}

// TestAWorkflowWhoseCertificateIsGoneEnds: a workflow started by hand for a
// Certificate that does not exist (or one left behind) ends at its first look.
func TestAWorkflowWhoseCertificateIsGoneEnds(t *testing.T) {
	env := newEnv(t)
	on(env, activities.InspectSecret, mock.Anything).Return(activities.InspectSecretResult{}, nil).Once()
	env.ExecuteWorkflow(Certificate, CertificateInput{Certificate: activities.CertificateRef{Namespace: "other", Name: "made-up"}})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow completed %v with %v, want it ended without error", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
}

// TestTheHintAStartCarriesIsHeard: the hint an eager start carries in its
// input counts as the spec signal: the look asks for the generation it
// names.
func TestTheHintAStartCarriesIsHeard(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	var looked activities.InspectSecretInput
	on(env, activities.InspectSecret, mock.Anything).Return(
		func(_ context.Context, in activities.InspectSecretInput) (activities.InspectSecretResult, error) {
			looked = in
			return activities.InspectSecretResult{}, nil // the Certificate is gone: the run ends
		}).Once()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Heard: &SpecChanged{Generation: 7}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if looked.Generation != 7 {
		t.Fatalf("InspectSecret asked for generation %d, want the hint's 7", looked.Generation)
	}
}
