// Package challenges holds the DNS-01 activities of an issuance: Present
// publishes the TXT records the CA asks for through the DNS provider of the
// issuer's solver, WaitPropagation polls until every record is visible on its
// zone's authoritative nameservers, and CleanUpChallenges removes them again.
//
// Provider credentials (a TSIG secret, an API token) are read from the
// issuer's Secrets inside the activity and never enter an input, a result, an
// error or a log line. What CleanUpChallenges needs travels through the
// workflow in PresentedRecord, so it can run on any worker.
//
// This package must not import workflows.
package challenges

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/dns/propagation"
	"github.com/certflow/certflow/activities/issuers"
)

// DefaultPollInterval is the pause between two propagation checks. Records
// made by RFC 2136 on the primary are usually visible at once, and every
// second spent here is a second of time-to-issue, so it is short; the checks
// are a handful of small DNS queries.
const DefaultPollInterval = 500 * time.Millisecond

// Activities publishes, watches and removes DNS-01 records.
type Activities struct {
	// Issuers reads the issuer (its solvers) and the Secrets its providers
	// need, from the namespace the issuer may use.
	Issuers *issuers.Loader
	// Checker checks propagation (Resolvers, ResolversOnly, AuthoritativePort
	// come from the worker's flags). Its Resolvers also answer the CNAME
	// lookups of solvers with cnameStrategy Follow.
	Checker *propagation.Checker
	// PollInterval between propagation checks; DefaultPollInterval when 0.
	PollInterval time.Duration
}

// Register registers the activities under their API names.
func (a *Activities) Register(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.RegisterActivityWithOptions(a.Present, activity.RegisterOptions{Name: activities.PresentName})
	r.RegisterActivityWithOptions(a.WaitPropagation, activity.RegisterOptions{Name: activities.WaitPropagationName})
	r.RegisterActivityWithOptions(a.CleanUpChallenges, activity.RegisterOptions{Name: activities.CleanUpChallengesName})
}

func (a *Activities) pollInterval() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return DefaultPollInterval
}

// configError is a problem a user must fix in the issuer: retrying cannot help.
func configError(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), activities.ErrTypeConfig, nil)
}

// wrap adds context to err, once, keeping its classification: Temporal reads
// only the outermost error, so a non-retryable ApplicationError (from
// issuers.Loader, or made here) is rebuilt around the longer message instead
// of being hidden inside a plain wrapped error that would be retried.
func wrap(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		return temporal.NewNonRetryableApplicationError(prefix+": "+app.Message(), app.Type(), app.Unwrap())
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
