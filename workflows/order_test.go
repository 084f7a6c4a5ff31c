package workflows

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/certflow/certflow/activities"
)

// TestAnOrderWritesItsStatusOnceAndItsStepsCarryTheirProgress runs a DNS-01
// Order: it makes its key before it orders, writes its first step itself,
// every later step's progress rides along with the step's input (written by
// the worker if the step takes a while), and the responses are removed
// once, as soon as the CA has validated them.
func TestAnOrderWritesItsStatusOnceAndItsStepsCarryTheirProgress(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	var (
		mu    sync.Mutex
		steps []string
		calls []string
	)
	step := func(name string, in activities.InProgress) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, name)
		if in != nil {
			p := in.Progress()
			if p.Certificate != cert {
				t.Errorf("%s reports progress of %v, want %v", name, p.Certificate, cert)
			}
			steps = append(steps, p.Step)
		}
	}
	authz := activities.Authorization{URL: "https://ca/authz/1", Identifier: "web.certflow.test", Status: "pending",
		Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v"}}
	valid := authz
	valid.Status = "valid"
	presented := []activities.Presented{{Identifier: authz.Identifier, Challenge: authz.Challenge}}
	var finalizing activities.FinalizeInput
	on(env, activities.BeginOrder, mock.Anything).Return(
		func(_ context.Context, in activities.BeginOrderInput) (activities.BeginOrderResult, error) {
			step("order", in)
			return activities.BeginOrderResult{OrderURL: "https://ca/order/1", NewOrder: true, Authorizations: []activities.Authorization{authz}}, nil
		}).Once()
	on(env, activities.Present, mock.Anything).Return(
		func(_ context.Context, in activities.PresentInput) (activities.PresentResult, error) {
			step("present", in)
			return activities.PresentResult{Presented: presented}, nil
		}).Once()
	on(env, activities.WaitPropagation, mock.Anything).Return(
		func(_ context.Context, in activities.WaitPropagationInput) (activities.WaitPropagationResult, error) {
			step("propagate", in)
			return activities.WaitPropagationResult{Checks: 1, Visible: true}, nil
		}).Once()
	on(env, activities.Validate, mock.Anything).Return(
		func(_ context.Context, in activities.ValidateInput) (activities.ValidateResult, error) {
			step("validate", in)
			return activities.ValidateResult{Authorizations: []activities.Authorization{valid}}, nil
		}).Once()
	on(env, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: cert, Issuer: issuer, Presented: presented}).Return(
		func(context.Context, activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
			step("clean up", nil)
			return activities.CleanUpChallengesResult{}, nil
		}).Once()
	on(env, activities.Finalize, mock.Anything).Return(
		func(_ context.Context, in activities.FinalizeInput) (activities.FinalizeResult, error) {
			step("finalize", in)
			finalizing = in
			return activities.FinalizeResult{ChainPEM: "chain"}, nil
		}).After(time.Minute).Once() // the CA takes a minute: time for the responses to go
	on(env, activities.StoreSecret, mock.Anything).Return(
		func(_ context.Context, in activities.StoreSecretInput) (activities.StoreSecretResult, error) {
			step("store", in)
			return activities.StoreSecretResult{ResourceVersion: "rv"}, nil
		}).Once()

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(*written) != 1 || (*written)[0].Step != activities.StepOrdering {
		t.Fatalf("statuses written by the workflow %+v, want the ordering step's only", *written)
	}
	want := []string{activities.StepOrdering, activities.StepPresenting, activities.StepPropagating,
		activities.StepValidating, activities.StepFinalizing, activities.StepStoring}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps carried %v, want %v", steps, want)
	}
	if string(finalizing.CSR) != string(pendingKey.CSR) {
		t.Fatalf("finalized with CSR %q, want the pending key's", finalizing.CSR)
	}
	if i := slices.Index(calls, "clean up"); i < 0 || i > slices.Index(calls, "store") {
		t.Fatalf("activities ran %v: want the responses removed while the order is finalized", calls)
	}
}

// TestDNSNotVisibleAtOnceIsWaitedForInTheActivity: the quick look (a local
// activity) does not see the record, so the heartbeating activity waits for
// it, and the order goes on.
func TestDNSNotVisibleAtOnceIsWaitedForInTheActivity(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	on(env, activities.WaitPropagation, mock.MatchedBy(func(in activities.WaitPropagationInput) bool { return in.LookFor > 0 })).
		Return(activities.WaitPropagationResult{Checks: 4, Visible: false}, nil).Once()
	issuance(env, "01", issuer) // its WaitPropagation is the wait after the look
	var looks, waits []activities.WaitPropagationInput
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, args []any) {
		if in, ok := args[0].(activities.WaitPropagationInput); ok && info.ActivityType.Name == activities.WaitPropagation.Name() {
			looks = append(looks, in)
		}
	})
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var in activities.WaitPropagationInput
		if info.ActivityType.Name == activities.WaitPropagation.Name() && args.Get(&in) == nil {
			waits = append(waits, in)
		}
	})
	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(looks) != 1 || looks[0].LookFor != quickLook || len(waits) != 1 || waits[0].LookFor != 0 ||
		len(waits[0].Presented) != 1 || waits[0].Certificate != cert {
		t.Fatalf("looks %+v and waits %+v: want one quick look, then one wait for the record", looks, waits)
	}
}

// TestAResumedOrderRemovesTheResponsesOfValidatedAuthorizations: the
// issuance runs again after a lost workflow task, and BeginOrder finds the
// order begun before, whose authorizations the CA has validated since (one
// with the challenge it was validated with, one reused from another order,
// with none). Nothing is presented, and the response the lost attempt may
// have left is removed.
func TestAResumedOrderRemovesTheResponsesOfValidatedAuthorizations(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	validated := activities.Authorization{URL: "https://ca/authz/1", Identifier: "web.certflow.test", Status: "valid",
		Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v", Solver: 1}}
	reused := activities.Authorization{URL: "https://ca/authz/2", Identifier: "api.certflow.test", Status: "valid"}
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{
		OrderURL: "https://ca/order/1", Status: "valid", Authorizations: []activities.Authorization{validated, reused},
	}, nil).Once()
	var removed []activities.Presented
	on(env, activities.CleanUpChallenges, mock.Anything).Return(
		func(_ context.Context, in activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
			removed = append(removed, in.Presented...)
			return activities.CleanUpChallengesResult{}, nil
		}).Once()
	finalizesAndStores(env)

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []activities.Presented{{Identifier: validated.Identifier, Challenge: validated.Challenge}}
	if !slices.Equal(removed, want) {
		t.Fatalf("responses removed %+v, want %+v", removed, want)
	}
}
