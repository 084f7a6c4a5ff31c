// Package activitytest runs activities as a worker would, for the
// activities' own tests: in Temporal's test activity environment, so that
// heartbeats, error conversion and the encoding of inputs and results are
// Temporal's.
package activitytest

import (
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/certflow/certflow/activities"
)

// Run registers the bindings and runs activity a with in.
func Run[In, Out any](t testing.TB, bindings []activities.Binding, a activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	return RunIn(t, Env(bindings), a, in)
}

// Env is a test activity environment with the bindings registered, for a
// test that sets more of it up (heartbeat details, a context) itself.
func Env(bindings []activities.Binding) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	activities.Register(env, bindings...)
	return env
}

// RunIn runs activity a with in, in env.
func RunIn[In, Out any](t testing.TB, env *testsuite.TestActivityEnvironment, a activities.Activity[In, Out], in In) (Out, error) {
	t.Helper()
	var out Out
	val, err := env.ExecuteActivity(a.Name(), in)
	if err != nil {
		return out, err
	}
	if err := val.Get(&out); err != nil {
		t.Fatalf("decoding the result of %s: %v", a.Name(), err)
	}
	return out, nil
}
