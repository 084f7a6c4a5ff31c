package workflows

import (
	"errors"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// explain says what went wrong in a failed attempt as a person reads it:
// the steps that wrapped the error and its cause, each once, without
// Temporal's wrappers (activity and child workflow errors, with their IDs,
// type names and retry flags), which stay in the history and the logs.
func explain(err error) string {
	cause := errors.Unwrap(err)
	switch e := err.(type) {
	case *temporal.ActivityError, *temporal.ChildWorkflowExecutionError:
		if cause != nil {
			return explain(cause)
		}
		return err.Error()
	case *temporal.ApplicationError:
		// An error that crossed an activity or workflow boundary: its
		// message is the whole chain as the sender printed it, and the
		// chain's next error is its cause again. The step it adds is the
		// message without the cause's text, or up to a Temporal wrapper's.
		if cause == nil {
			return e.Message()
		}
		inner := explain(cause)
		step, ok := strings.CutSuffix(e.Message(), inner)
		if !ok {
			step = beforeWrapper(e.Message())
		}
		return join(step, inner)
	}
	if cause == nil {
		return err.Error()
	}
	step, ok := strings.CutSuffix(err.Error(), cause.Error())
	if !ok {
		return err.Error() // a wrapper that prints its cause its own way
	}
	return join(step, explain(cause))
}

// join puts a step before what went wrong in it.
func join(step, inner string) string {
	step = strings.TrimSuffix(strings.TrimSpace(step), ":")
	if step == "" {
		return inner
	}
	return step + ": " + inner
}

// wrapperTexts begin the text Temporal's wrappers print.
var wrapperTexts = []string{"activity error (", "child workflow execution error ("}

// beforeWrapper is msg up to the first text of a Temporal wrapper.
func beforeWrapper(msg string) string {
	cut := len(msg)
	for _, w := range wrapperTexts {
		if i := strings.Index(msg, w); i >= 0 && i < cut {
			cut = i
		}
	}
	return msg[:cut]
}
