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

// TestEachStepCarriesItsStatus runs a DNS-01 Order: it writes its first step
// itself, every later step's status rides along with the step's activity
// (written by the worker if the step takes a while), and the records are
// removed once, as soon as the CA has validated them.
func TestEachStepCarriesItsStatus(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	var (
		mu    sync.Mutex
		steps []string
		calls []string
	)
	carried := func(name string, p activities.StepProgress) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, name)
		if p.ProgressStatus != nil {
			steps = append(steps, p.ProgressStatus.Step)
		}
	}
	authz := activities.Authorization{URL: "https://ca/authz/1", Identifier: "web.certflow.test", Status: "pending",
		Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v"}}
	valid := authz
	valid.Status = "valid"
	records := []activities.PresentedRecord{{FQDN: authz.Challenge.FQDN, Value: "v"}}
	var finalizing *activities.CertificateStatus
	env.OnActivity(activities.BeginOrderName, mock.Anything, mock.Anything).Return(activities.BeginOrderResult{
		OrderURL: "https://ca/order/1", PendingKeySecret: "web-pending", Authorizations: []activities.Authorization{authz},
	}, nil).Once()
	env.OnActivity(activities.PresentName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PresentInput) (activities.PresentResult, error) {
			carried("present", in.StepProgress)
			return activities.PresentResult{Records: records}, nil
		}).Once()
	env.OnActivity(activities.WaitPropagationName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.WaitPropagationInput) (activities.WaitPropagationResult, error) {
			carried("propagate", in.StepProgress)
			return activities.WaitPropagationResult{Checks: 1, Visible: true}, nil
		}).Once()
	env.OnActivity(activities.ValidateName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ValidateInput) (activities.ValidateResult, error) {
			carried("validate", in.StepProgress)
			return activities.ValidateResult{Authorizations: []activities.Authorization{valid}}, nil
		}).Once()
	env.OnActivity(activities.CleanUpChallengesName, mock.Anything, activities.CleanUpChallengesInput{Issuer: issuer, Records: records}).Return(
		func(context.Context, activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
			carried("clean up", activities.StepProgress{})
			return activities.CleanUpChallengesResult{}, nil
		}).Once()
	env.OnActivity(activities.FinalizeName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinalizeInput) (activities.FinalizeResult, error) {
			carried("finalize", in.StepProgress)
			finalizing = in.ProgressStatus
			return activities.FinalizeResult{ChainPEM: "chain"}, nil
		}).After(time.Minute).Once() // the CA takes a minute: time for the records to go
	env.OnActivity(activities.StoreSecretName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.StoreSecretInput) (activities.StoreSecretResult, error) {
			carried("store", in.StepProgress)
			return activities.StoreSecretResult{ResourceVersion: "rv"}, nil
		}).Once()

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(*written) != 1 || (*written)[0].Step != stepOrdering {
		t.Fatalf("statuses written by the workflow %+v, want the ordering step's only", *written)
	}
	if want := []string{stepPresenting, stepPropagating, stepValidating, stepFinalizing, stepStoring}; !slices.Equal(steps, want) {
		t.Fatalf("steps carried %v, want %v", steps, want)
	}
	if finalizing == nil || len(finalizing.Authorizations) != 1 || finalizing.Authorizations[0].Status != "valid" {
		t.Fatalf("the finalizing status %+v, want the validated authorization", finalizing)
	}
	if i := slices.Index(calls, "clean up"); i < 0 || i > slices.Index(calls, "store") {
		t.Fatalf("activities ran %v: want the records removed while the order is finalized", calls)
	}
}

// TestDNSNotVisibleAtOnceIsWaitedForInTheActivity: the quick look (a local
// activity) does not see the record, so the heartbeating activity waits for
// it, and the order goes on.
func TestDNSNotVisibleAtOnceIsWaitedForInTheActivity(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	env.OnActivity(activities.WaitPropagationName, mock.Anything, mock.MatchedBy(func(in activities.WaitPropagationInput) bool { return in.LookFor > 0 })).
		Return(activities.WaitPropagationResult{Checks: 4, Visible: false}, nil).Once()
	issuance(env, "01", issuer) // its WaitPropagation is the wait after the look
	var looks, waits []activities.WaitPropagationInput
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, args []any) {
		if in, ok := args[0].(activities.WaitPropagationInput); ok && info.ActivityType.Name == activities.WaitPropagationName {
			looks = append(looks, in)
		}
	})
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var in activities.WaitPropagationInput
		if info.ActivityType.Name == activities.WaitPropagationName && args.Get(&in) == nil {
			waits = append(waits, in)
		}
	})
	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(looks) != 1 || looks[0].LookFor != quickLook || len(waits) != 1 || waits[0].LookFor != 0 ||
		len(waits[0].Records) != 1 || waits[0].ProgressStatus == nil {
		t.Fatalf("looks %+v and waits %+v: want one quick look, then one wait for the record, with its status", looks, waits)
	}
}

// TestAResumedOrderRemovesTheRecordsOfValidatedAuthorizations: the issuance
// runs again after a lost workflow task, and BeginOrder finds the order
// begun before, whose authorizations the CA has validated since (one with
// the challenge it was validated with, one reused from another order, with
// none). Nothing is presented, and the record the lost attempt may have left
// is removed.
func TestAResumedOrderRemovesTheRecordsOfValidatedAuthorizations(t *testing.T) {
	env := newEnv(t)
	statuses(env)
	validated := activities.Authorization{URL: "https://ca/authz/1", Identifier: "web.certflow.test", Status: "valid",
		Challenge: activities.Challenge{Type: "dns-01", FQDN: "_acme-challenge.web.certflow.test.", Value: "v", Solver: 1}}
	reused := activities.Authorization{URL: "https://ca/authz/2", Identifier: "api.certflow.test", Status: "valid"}
	env.OnActivity(activities.BeginOrderName, mock.Anything, mock.Anything).Return(activities.BeginOrderResult{
		OrderURL: "https://ca/order/1", Status: "valid", PendingKeySecret: "web-pending", Authorizations: []activities.Authorization{validated, reused},
	}, nil).Once()
	var removed []activities.PresentedRecord
	env.OnActivity(activities.CleanUpChallengesName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
			removed = append(removed, in.Records...)
			return activities.CleanUpChallengesResult{}, nil
		}).Once()
	finalizesAndStores(env)

	env.ExecuteWorkflow(Order, orderInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []activities.PresentedRecord{{FQDN: validated.Challenge.FQDN, Value: "v", Solver: 1}}
	if !slices.Equal(removed, want) {
		t.Fatalf("records removed %+v, want %+v", removed, want)
	}
}
