package dns01_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/challenges"
	certflowdns "github.com/certflow/certflow/activities/dns"
	"github.com/certflow/certflow/activities/dns/rfc2136"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

func TestPresentWaitAndCleanUpOnBIND(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-flow", bind.TSIGSecret)
	ref := clusterIssuer(t, "flow", rfc2136Solver("tsig-flow", false))
	e := env(newActivities())
	www, api := "_acme-challenge.www.certflow.test.", "_acme-challenge.api.certflow.test."
	done := dnsAuthorization("done.certflow.test", "already-valid", 0)
	done.Status = "valid"
	in := present(t, ref,
		dnsAuthorization("www.certflow.test", "www-token", 0),
		dnsAuthorization("api.certflow.test", "api-token", 0),
		done,
	)

	res, err := execute(t, e, activities.Present, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []activities.Presented{
		{Identifier: "www.certflow.test", Challenge: in.Authorizations[0].Challenge, Zone: "certflow.test."},
		{Identifier: "api.certflow.test", Challenge: in.Authorizations[1].Challenge, Zone: "certflow.test."},
	}
	if len(res.Presented) != 2 || res.Presented[0] != want[0] || res.Presented[1] != want[1] {
		t.Fatalf("presented = %+v, want %+v (the valid authorization skipped)", res.Presented, want)
	}
	// A retried Present finds its records: still one value per name.
	if _, err := execute(t, e, activities.Present, in); err != nil {
		t.Fatalf("presenting again: %v", err)
	}
	for fqdn, value := range map[string]string{www: "www-token", api: "api-token"} {
		if got := txtValues(t, fqdn); len(got) != 1 || got[0] != value {
			t.Fatalf("TXT %s after presenting twice = %v, want [%s]", fqdn, got, value)
		}
	}
	if got := txtValues(t, "_acme-challenge.done.certflow.test."); len(got) != 0 {
		t.Fatalf("a valid authorization's record was presented: %v", got)
	}

	waited, err := execute(t, e, activities.WaitPropagation, activities.WaitPropagationInput{Certificate: in.Certificate, Issuer: ref, Presented: res.Presented})
	if err != nil {
		t.Fatal(err)
	}
	if waited.Checks != 1 {
		t.Fatalf("checks = %d, want 1: the records were on BIND already", waited.Checks)
	}

	cleanUp := activities.CleanUpChallengesInput{Certificate: in.Certificate, Issuer: ref, Presented: res.Presented}
	for range 2 { // the second finds nothing to remove, which is fine
		if _, err := execute(t, e, activities.CleanUpChallenges, cleanUp); err != nil {
			t.Fatal(err)
		}
	}
	for _, fqdn := range []string{www, api} {
		if got := txtValues(t, fqdn); len(got) != 0 {
			t.Fatalf("TXT %s after clean-up = %v", fqdn, got)
		}
	}
}

func TestAnIssuerReadsItsTSIGSecretFromItsOwnNamespace(t *testing.T) {
	tsigSecret(t, "team-a", "tsig", bind.TSIGSecret)
	is := &certflowv1.Issuer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "dns"},
		Spec:       acmeSpec(rfc2136Solver("tsig", false)),
	}
	if err := kube.Create(context.Background(), is); err != nil {
		t.Fatal(err)
	}
	ref := activities.IssuerRef{Kind: "Issuer", Namespace: "team-a", Name: "dns"}
	e := env(newActivities())
	in := present(t, ref, dnsAuthorization("team-a.certflow.test", "team-a-token", 0))
	res, err := execute(t, e, activities.Present, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := txtValues(t, "_acme-challenge.team-a.certflow.test."); len(got) != 1 {
		t.Fatalf("TXT = %v, want the team's record", got)
	}
	if _, err := execute(t, e, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: in.Certificate, Issuer: ref, Presented: res.Presented}); err != nil {
		t.Fatal(err)
	}
}

// TestCNAMEStrategyFollowWritesAtTheTarget: the record goes where the
// CNAME chain ends, in the same zone or in another one (a challenge zone
// delegated to certflow), and is found there and removed again.
func TestCNAMEStrategyFollowWritesAtTheTarget(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-follow", bind.TSIGSecret)
	ref := clusterIssuer(t, "follow", rfc2136Solver("tsig-follow", true))
	e := env(newActivities())
	cases := []struct{ name, identifier, target, zone string }{
		{"in the same zone", "alias.certflow.test", "_acme-challenge.delegated.certflow.test.", "certflow.test."},
		{"into another zone", "elsewhere.certflow.test", "_acme-challenge.elsewhere.delegated.test.", "delegated.test."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked := "_acme-challenge." + tc.identifier + "."
			in := present(t, ref, dnsAuthorization(tc.identifier, tc.identifier+"-token", 0))
			res, err := execute(t, e, activities.Present, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Presented) != 1 || res.Presented[0].FQDN != asked || res.Presented[0].Zone != tc.zone {
				t.Fatalf("presented = %+v, want the name the CA asks for, written in zone %s", res.Presented, tc.zone)
			}
			if got := txtValues(t, tc.target); len(got) != 1 || got[0] != tc.identifier+"-token" {
				t.Fatalf("TXT at the CNAME target = %v", got)
			}
			if _, err := execute(t, e, activities.WaitPropagation, activities.WaitPropagationInput{Certificate: in.Certificate, Issuer: ref, Presented: res.Presented}); err != nil {
				t.Fatal(err)
			}
			if _, err := execute(t, e, activities.CleanUpChallenges, activities.CleanUpChallengesInput{Certificate: in.Certificate, Issuer: ref, Presented: res.Presented}); err != nil {
				t.Fatal(err)
			}
			if got := txtValues(t, tc.target); len(got) != 0 {
				t.Fatalf("TXT at the CNAME target after clean-up = %v", got)
			}
		})
	}
}

func TestWaitPropagationHeartbeatsUntilTheRecordAppears(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-late", bind.TSIGSecret)
	ref := clusterIssuer(t, "late", rfc2136Solver("tsig-late", false))
	fqdn := "_acme-challenge.late.certflow.test."
	rec := presented("late.certflow.test", "late-token")

	provider, err := rfc2136.New(rfc2136.Config{Nameserver: bind.Addr, TSIGKeyName: bind.TSIGKeyName, TSIGSecret: bind.TSIGSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = provider.CleanUp(context.Background(), certflowdns.TXT{FQDN: fqdn, Value: rec.Value}) })

	// The record appears once the first heartbeat has said it is missing.
	var (
		mu    sync.Mutex
		beats []challenges.Progress
	)
	e := env(newActivities())
	e.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p challenges.Progress
		if err := details.Get(&p); err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if beats = append(beats, p); len(beats) == 1 {
			go func() {
				time.Sleep(300 * time.Millisecond)
				_, _ = provider.Present(context.Background(), certflowdns.TXT{FQDN: fqdn, Value: rec.Value})
			}()
		}
	})

	// Without heartbeats the record appears anyway, later, and the test fails below.
	fallback := time.AfterFunc(10*time.Second, func() {
		_, _ = provider.Present(context.Background(), certflowdns.TXT{FQDN: fqdn, Value: rec.Value})
	})
	defer fallback.Stop()

	res, err := execute(t, e, activities.WaitPropagation, activities.WaitPropagationInput{Issuer: ref, Presented: []activities.Presented{rec}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checks < 3 || res.Elapsed < 300*time.Millisecond {
		t.Fatalf("result %+v: want several checks, 100ms apart, while the record was missing", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(beats) == 0 {
		t.Fatal("no heartbeat while the record was missing")
	}
	first := beats[0]
	if len(first.Pending) != 1 || first.Pending[0].Name != fqdn || !strings.HasPrefix(first.Pending[0].Missing, "not at "+bind.Addr+" answered ") {
		t.Fatalf("heartbeat %+v: want %s missing at %s, with what it answered", first, fqdn, bind.Addr)
	}
}

func TestAQuickLookSaysWhetherTheRecordIsVisible(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-look", bind.TSIGSecret)
	ref := clusterIssuer(t, "look", rfc2136Solver("tsig-look", false))
	fqdn := "_acme-challenge.look.certflow.test."
	rec := presented("look.certflow.test", "look-token")
	look := activities.WaitPropagationInput{Issuer: ref, Presented: []activities.Presented{rec}, LookFor: 400 * time.Millisecond}
	e := env(newActivities())

	res, err := execute(t, e, activities.WaitPropagation, look)
	if err != nil || res.Visible || res.Checks < 2 {
		t.Fatalf("look at a missing record = %+v, %v; want not visible after several checks, and no error", res, err)
	}

	provider, err := rfc2136.New(rfc2136.Config{Nameserver: bind.Addr, TSIGKeyName: bind.TSIGKeyName, TSIGSecret: bind.TSIGSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Present(context.Background(), certflowdns.TXT{FQDN: fqdn, Value: rec.Value}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = provider.CleanUp(context.Background(), certflowdns.TXT{FQDN: fqdn, Value: rec.Value}) })
	res, err = execute(t, e, activities.WaitPropagation, look)
	if err != nil || !res.Visible || res.Checks != 1 {
		t.Fatalf("look at a present record = %+v, %v; want visible at the first check", res, err)
	}
}

// presented is the dns-01 response for a name as Present returns it.
func presented(name, value string) activities.Presented {
	az := dnsAuthorization(name, value, 0)
	return activities.Presented{Identifier: name, Challenge: az.Challenge, Zone: "certflow.test."}
}

// TestTheSelfCheckGivesUpAtItsTimeoutSayingWhatTheServerAnswered: a record
// that never appears fails the attempt after the solver's selfCheckTimeout,
// naming the server that lacks it and its answer, with no retry.
func TestTheSelfCheckGivesUpAtItsTimeoutSayingWhatTheServerAnswered(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-never", bind.TSIGSecret)
	solver := rfc2136Solver("tsig-never", false)
	solver.SelfCheckTimeout = &metav1.Duration{Duration: time.Second}
	ref := clusterIssuer(t, "never", solver)
	rec := presented("never.certflow.test", "never-token")

	start := time.Now()
	_, err := execute(t, env(newActivities()), activities.WaitPropagation, activities.WaitPropagationInput{Issuer: ref, Presented: []activities.Presented{rec}})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrTypeSelfCheckTimeout || !app.NonRetryable() {
		t.Fatalf("error = %v, want a non-retryable %s", err, activities.ErrTypeSelfCheckTimeout)
	}
	want := "(the solver's selfCheckTimeout): _acme-challenge.never.certflow.test. not at " + bind.Addr + " answered no TXT record" // the zone has a wildcard A record
	if !strings.Contains(app.Message(), want) {
		t.Fatalf("message %q, want it to contain %q", app.Message(), want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("gave up after %s, want about a second", took)
	}
}

// TestWaitInsteadOfSelfCheckAsksNoServer: with waitInsteadOfSelfCheck the
// response counts as reachable after the wait, though no server has it.
func TestWaitInsteadOfSelfCheckAsksNoServer(t *testing.T) {
	tsigSecret(t, clusterNS, "tsig-split", bind.TSIGSecret)
	solver := rfc2136Solver("tsig-split", false)
	solver.WaitInsteadOfSelfCheck = &metav1.Duration{Duration: 500 * time.Millisecond}
	ref := clusterIssuer(t, "split", solver)
	start := time.Now()
	res, err := execute(t, env(newActivities()), activities.WaitPropagation, activities.WaitPropagationInput{
		Issuer: ref, Presented: []activities.Presented{presented("split.certflow.test", "split-token")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); !res.Visible || took < 500*time.Millisecond {
		t.Fatalf("result %+v after %s, want visible after the 500ms wait", res, took)
	}
}
