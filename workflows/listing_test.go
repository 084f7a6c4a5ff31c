package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

// TestAConfigurationErrorWaitsForTheIssuerToChange: a configuration error
// is not retried on a backoff; a new issuer version from the controller
// ends the wait at once, a repeated one does not.
func TestAConfigurationErrorWaitsForTheIssuerToChange(t *testing.T) {
	env := newEnv(t)
	written := statuses(env)
	inspectReturns(env, spec1, activities.InspectSecretResult{State: activities.SecretMissing})
	on(env, activities.BeginOrder, mock.Anything).Return(activities.BeginOrderResult{},
		activities.ConfigErrorBecause(activities.ReasonDNSZoneNotServed, "the server is not authoritative")).Once()
	on(env, activities.InspectSecret, mock.Anything).Return(activities.InspectSecretResult{State: activities.SecretMissing, Spec: &spec1}, nil).Maybe()
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 1, ConfigVersion: "1/rv-7"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 1, ConfigVersion: "1/rv-7"})
	}, 2*time.Hour)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalSpec, SpecChanged{Generation: 1, ConfigVersion: "1/rv-8"})
	}, 3*time.Hour)

	start := env.Now()
	env.ExecuteWorkflow(Certificate, CertificateInput{InlineOrders: true, Certificate: cert, Spec: spec1, State: CertificateState{ConfigVersion: "1/rv-7"}})
	next := continuedWith(t, env)
	if waited := env.Now().Sub(start); waited < 3*time.Hour || waited > 3*time.Hour+time.Minute {
		t.Fatalf("continued after %s, want 3h: when the issuer version changed, not before nor after", waited)
	}
	if next.State.FailedStep != activities.StepOrdering || next.State.FailureReason != activities.ReasonDNSZoneNotServed {
		t.Errorf("failed in step %q with reason %q, want %q and %q", next.State.FailedStep, next.State.FailureReason, activities.StepOrdering, activities.ReasonDNSZoneNotServed)
	}
	issuing := lastCondition(*written, condIssuing)
	if want := "next attempt when the issuer or a Secret it reads changes, or at " + start.Add(defaultMaxBackoff).UTC().Format(time.RFC3339); !endsWith(issuing.Message, want) {
		t.Errorf("Issuing message %q, want it to end with %q", issuing.Message, want)
	}
	if st := (*written)[len(*written)-1]; st.NextAttemptReason != nextAttemptConfigChange {
		t.Errorf("next attempt reason %q, want %q", st.NextAttemptReason, nextAttemptConfigChange)
	}
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// TestListingSetsOnlyWhatChanged: the search attributes a listing sets are
// the ones that differ from the last, and an emptied one is unset.
func TestListingSetsOnlyWhatChanged(t *testing.T) {
	failing := Listing{Namespace: "default", Name: "web", Issuer: "ClusterIssuer/pebble", Step: "presenting", FailureReason: "DNSZoneNotServed"}
	issued := failing
	issued.Step, issued.FailureReason, issued.Ready = "", "", true
	issued.NotAfter = time.Date(2027, 3, 6, 0, 0, 0, 0, time.UTC)

	names := func(u []temporal.SearchAttributeUpdate) []string {
		sa := temporal.NewSearchAttributes(u...)
		var got []string
		for key := range sa.GetUntypedValues() {
			got = append(got, key.GetName())
		}
		return got
	}
	if got := attributeUpdates(Listing{}, failing); len(got) != 6 {
		t.Errorf("first listing sets %v, want namespace, name, issuer, ready, step and failure reason", names(got))
	}
	updates := attributeUpdates(failing, issued)
	if len(updates) != 4 {
		t.Errorf("issued after failing sets %v (and unsets some), want ready and not after set, step and failure reason unset", names(updates))
	}
	got := temporal.NewSearchAttributes(updates...)
	if len(got.GetUntypedValues()) != 2 {
		t.Errorf("issued after failing sets %v, want ready and not after", names(updates))
	}
	if ready, ok := got.GetBool(attrReady); !ok || !ready {
		t.Errorf("CertflowReady = %v (set: %v), want true", ready, ok)
	}
	if got := attributeUpdates(issued, issued); len(got) != 0 {
		t.Errorf("an unchanged listing sets %v", names(got))
	}
}
