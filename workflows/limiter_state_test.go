package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

func TestNameSetKeysStaySmall(t *testing.T) {
	short := []string{"a.example.com", "b.example.com"}
	if got := nameSetKey(short); got != "a.example.com,b.example.com" {
		t.Fatalf("key of a short set %q, want the names joined", got)
	}
	var long []string
	for i := range 100 { // Let's Encrypt's most names per order
		long = append(long, fmt.Sprintf("%s-%d.example.com", strings.Repeat("x", 230), i))
	}
	k := nameSetKey(long)
	if len(k) > maxNameSetKey || k != nameSetKey(long) || k == nameSetKey(long[1:]) {
		t.Fatalf("key of 100 long names %q (%d bytes): want a short key of its own", k, len(k))
	}
}

// TestLimiterStateStaysUnderTheContinueAsNewLimit fills a limiter's state
// as an account at Let's Encrypt's most orders (16,800 a week, each for its
// own set of two long names) would, and checks that what continues as new
// fits Temporal's 2 MB payload limit, keeping the newest permits.
func TestLimiterStateStaysUnderTheContinueAsNewLimit(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var forgot int
	var size int
	newest := ""
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		l := newLimiter(activities.LimiterInput{Issuer: issuer})
		now := workflow.Now(ctx)
		for i := range 16800 {
			names := []string{fmt.Sprintf("service-%05d.team-%03d.%s.example.com", i, i%500, strings.Repeat("k", 40)), fmt.Sprintf("alt-%05d.example.com", i)}
			key := nameSetKey(names)
			at := now.Add(time.Duration(i) * 36 * time.Second)
			l.state.Duplicates[key] = append(l.state.Duplicates[key], at)
			l.state.Domains[fmt.Sprintf("domain-%d.com", i%2000)] = append(l.state.Domains[fmt.Sprintf("domain-%d.com", i%2000)], at)
			newest = key
		}
		forgot = l.bound(ctx)
		b, err := json.Marshal(activities.LimiterInput{Issuer: issuer, State: l.state})
		size = len(b)
		if _, ok := l.state.Duplicates[newest]; !ok {
			return fmt.Errorf("the newest permit was forgotten")
		}
		return err
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if size > maxLimiterState || forgot == 0 {
		t.Fatalf("the state continues as new with %d bytes after forgetting %d series; want under %d", size, forgot, maxLimiterState)
	}
	t.Logf("%d bytes after forgetting %d of 16,800 series", size, forgot)
}
