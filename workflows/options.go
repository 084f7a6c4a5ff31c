package workflows

import (
	"cmp"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Retry policy of every activity. An activity retries a transient fault (a
// 5xx, a timeout, a refused connection) a few times, quickly; when it still
// fails, the attempt fails and the Certificate workflow records the error in
// status and backs off on a durable timer (backoff below). Problems a user
// must fix, and the CA's refusals, are non-retryable at the source.
var activityRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
	MaximumAttempts:    5, // 1+2+4+8 s between them: about 15 s before the attempt fails
	NonRetryableErrorTypes: []string{
		activities.ErrTypeRateLimited, activities.ErrTypeACMEPermanent, activities.ErrTypeConfig,
		activities.ErrTypeSecretConflict, activities.ErrTypeIssuerNotFound,
	},
}

// orderPriority is the task priority of the Order workflows and their
// activities: 1, the highest of Temporal's five, where the Certificate
// workflows keep the default 3. When many Certificates start at once, the
// tasks of the issuances under way run before the first tasks of the next
// Certificates, so each certificate is done sooner and fewer orders are in
// flight at once. A server without task priority runs tasks in arrival order.
var orderPriority = temporal.Priority{PriorityKey: 1}

// Options of the steps: how long one attempt may take, and where it runs.
// Most steps are local activities, run in the workflow task with no round
// trip of their own through the server (DESIGN.md section 8): an issuance
// whose records are visible at once makes no activity at all. The steps
// that may wait long (DNS propagation) and the issuer's account
// registration are activities, which any worker may pick up.

// shortStep is an activity of a few calls (to the CA, the API server).
func shortStep(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: activityRetry})
}

// pollingStep is an activity that polls until something is done: it
// heartbeats, so a dead worker is noticed in heartbeat seconds and the step
// resumes on another.
func pollingStep(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 20 * time.Second, RetryPolicy: activityRetry,
	})
}

// localStep is a local activity of a few calls.
func localStep(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: activityRetry})
}

// localPollingStep is a local activity that may wait: for the CA to
// validate or finalize (it normally answers within seconds), or its turn to
// make a key in a burst of issuances. The workflow task stays open meanwhile
// (the worker heartbeats it); a worker lost meanwhile is noticed when the
// task times out, and the step runs again on another.
func localPollingStep(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Minute, RetryPolicy: activityRetry})
}

// quickLook is how long the first propagation check may look before the
// heartbeating wait takes over: records on a nearby primary are visible at
// once, and then the issuance goes on in the same workflow task.
const quickLook = 2 * time.Second

// quickLookStep runs that look as a local activity, once: whatever goes
// wrong, the heartbeating wait decides.
func quickLookStep(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: quickLook + 5*time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
}

// Removing challenge responses the CA has validated retries longer than the
// other steps: nothing else removes a response its clean-up leaves (an
// issued certificate is not ordered again for months), so it keeps trying
// through a DNS outage (a restart, a failover) instead of giving up after
// about 15 s: every 10 s at most, for up to cleanUpFor. The responses of an
// attempt that failed before validation are removed with the usual retries:
// a solver that cannot present cannot remove either, and its clean-up must
// not hold back the failure (the next attempt presents and removes them again).
const cleanUpFor = 15 * time.Minute

var cleanUpRetry = &temporal.RetryPolicy{
	InitialInterval:        time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        10 * time.Second,
	NonRetryableErrorTypes: activityRetry.NonRetryableErrorTypes,
}

func cleanUpStep(ctx workflow.Context, validated bool) workflow.Context {
	if !validated {
		return localStep(ctx)
	}
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: cleanUpFor, RetryPolicy: cleanUpRetry,
	})
}

// statusWrite is a status write: a local activity, retried briefly (the
// next step writes again anyway).
func statusWrite(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second, MaximumAttempts: 5},
	})
}

// Failure backoff between issuance attempts, unless the Certificate or its
// issuer sets its own: 1 minute doubling to 24 hours, with up to 10% jitter.
// cert-manager waits 1h doubling to 32h.
const (
	defaultInitialBackoff = time.Minute
	defaultMaxBackoff     = 24 * time.Hour
	// defaultFallbackAfter is how long a rate limit may hold an issuance
	// before the next fallback issuer is tried.
	defaultFallbackAfter = time.Hour
)

// backoff is the wait after the n-th failure in a row (n >= 1). jitter in
// [0, 1) comes from the workflow ID, so replays decide the same.
func backoff(n int, jitter float64, b activities.Backoff) time.Duration {
	initial, limit := cmp.Or(b.Initial, defaultInitialBackoff), cmp.Or(b.Max, defaultMaxBackoff)
	d := min(initial, limit)
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d + time.Duration(jitter*0.1*float64(d))
}
