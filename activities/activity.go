package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
)

// Activity is a registered activity: its name with its input and result
// types. Workflows call it, workers register its implementation and tests
// mock it through the same value, so the compiler sees that a PresentInput
// goes to Present and comes back as a PresentResult. The name is API:
// recorded histories refer to it, so it never changes.
type Activity[In, Out any] struct{ name string }

// Name is the activity's registered name.
func (a Activity[In, Out]) Name() string { return a.name }

// Bind pairs the activity with its implementation, for Register.
func (a Activity[In, Out]) Bind(fn func(context.Context, In) (Out, error)) Binding {
	return Binding{name: a.name, fn: fn}
}

// Unimplemented binds the activity to a function that fails: a stand-in for
// environments that mock activities, or run only some of them.
func (a Activity[In, Out]) Unimplemented() Binding {
	return a.Bind(func(context.Context, In) (Out, error) {
		var zero Out
		return zero, fmt.Errorf("activity %s is not implemented here", a.name)
	})
}

// Binding is an activity with its implementation.
type Binding struct {
	name string
	fn   any
}

// Name is the bound activity's registered name.
func (b Binding) Name() string { return b.name }

// Registry takes activity implementations: a Temporal worker, or a test
// environment.
type Registry interface {
	RegisterActivityWithOptions(fn any, options activity.RegisterOptions)
}

// Register registers each binding under its activity's name.
func Register(r Registry, bindings ...Binding) {
	for _, b := range bindings {
		r.RegisterActivityWithOptions(b.fn, activity.RegisterOptions{Name: b.name})
	}
}

// declared is every activity certflow defines, for Unimplemented.
var declared []interface{ Unimplemented() Binding }

func declare[In, Out any](name string) Activity[In, Out] {
	a := Activity[In, Out]{name: name}
	declared = append(declared, a)
	return a
}

// Unimplemented binds every activity to a function that fails: what a
// workflow test registers before it mocks the activities its case calls.
func Unimplemented() []Binding {
	out := make([]Binding, len(declared))
	for i, a := range declared {
		out[i] = a.Unimplemented()
	}
	return out
}
