package challenges

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
)

// Present presents the challenge of every authorization that is not valid
// yet, through the solver the challenge names. It checks the whole input
// first (challenge types, solvers, credentials), so a configuration problem
// fails before anything is made. Solvers are idempotent, so a retried
// Present finds its responses again. When one fails, those made by this call
// are removed before it returns: the workflow cleans up what a result names,
// and, after a failure, what the authorizations name.
func (a *Activities) Present(ctx context.Context, in activities.PresentInput) (activities.PresentResult, error) {
	todo := activities.PresentedOf(slices.DeleteFunc(slices.Clone(in.Authorizations), func(az activities.Authorization) bool {
		return az.Status == "valid"
	}))
	if len(todo) == 0 {
		return activities.PresentResult{}, nil
	}
	set, err := a.solvers(ctx, in.Certificate, in.Issuer, todo)
	if err != nil {
		return activities.PresentResult{}, activities.Wrap(err, "presenting challenges of %s", in.Certificate)
	}
	type plan struct {
		p      activities.Presented
		solver Solver
	}
	plans := make([]plan, 0, len(todo))
	for _, p := range todo {
		sv, err := set.of(ctx, p.Challenge)
		if err != nil {
			return activities.PresentResult{}, activities.Wrap(err, "presenting the %s challenge for %s", p.Type, p.Identifier)
		}
		if p.Value == "" {
			return activities.PresentResult{}, fmt.Errorf("presenting the %s challenge for %s: the authorization carries no response", p.Type, p.Identifier)
		}
		plans = append(plans, plan{p: p, solver: sv})
	}

	var res activities.PresentResult
	for _, pl := range plans {
		done, err := pl.solver.Present(ctx, pl.p)
		if err != nil {
			set.iss.ForgetSecrets()
			a.undo(ctx, set, res.Presented)
			return activities.PresentResult{}, err
		}
		res.Presented = append(res.Presented, done)
		activity.GetLogger(ctx).Info("presented challenge", "type", done.Type, "fqdn", done.FQDN, "zone", done.Zone)
	}
	return res, nil
}

// undo removes what a failed Present made, on a context of its own (the
// activity's may be what failed). Its own failure is only logged: the error
// that matters is the one Present returns.
func (a *Activities) undo(ctx context.Context, set *solvers, made []activities.Presented) {
	if len(made) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, p := range made {
		if err := a.cleanUp(cctx, set, p); err != nil {
			activity.GetLogger(ctx).Warn("removing a challenge response after a failed present", "fqdn", p.FQDN, "zone", p.Zone, "error", err)
		}
	}
}

// CleanUpChallenges removes every presented response (this value only:
// another issuance may have its own at the same name). One that is gone
// already is fine. It tries them all and returns their errors joined:
// retryable when any of them may pass on a retry, non-retryable when all
// need a user.
func (a *Activities) CleanUpChallenges(ctx context.Context, in activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
	if len(in.Presented) == 0 {
		return activities.CleanUpChallengesResult{}, nil
	}
	set, err := a.solvers(ctx, in.Certificate, in.Issuer, in.Presented)
	if err != nil {
		return activities.CleanUpChallengesResult{}, activities.Wrap(err, "removing challenge responses")
	}
	var errs []error
	for _, p := range in.Presented {
		if err := a.cleanUp(ctx, set, p); err != nil {
			errs = append(errs, err)
		}
	}
	return activities.CleanUpChallengesResult{}, joined(errs, len(in.Presented))
}

func (a *Activities) cleanUp(ctx context.Context, set *solvers, p activities.Presented) error {
	sv, err := set.of(ctx, p.Challenge)
	if err == nil {
		err = sv.CleanUp(ctx, p)
	}
	if err != nil {
		set.iss.ForgetSecrets()
		return activities.Wrap(err, "removing the %s challenge for %s", p.Type, p.Identifier)
	}
	return nil
}

// joined classifies the errors of a clean-up once for all of them.
func joined(errs []error, total int) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	permanent := true
	for i, err := range errs {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.NonRetryable() {
			msgs[i] = app.Message()
			continue
		}
		permanent = false
		msgs[i] = err.Error()
	}
	if len(errs) == 1 && permanent {
		return errs[0]
	}
	prefix := fmt.Sprintf("removing %d of %d challenge responses", len(errs), total)
	if permanent {
		return activities.ConfigError("%s: %s", prefix, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s: %w", prefix, errors.Join(errs...))
}
