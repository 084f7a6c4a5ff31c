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
	corev1 "k8s.io/api/core/v1"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/issuers"
	"github.com/certflow/certflow/internal/solver"
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
	if _, err := a.check(ctx, in.Certificate, in.Issuer, todo); err != nil {
		return activities.PresentResult{}, activities.Wrap(err, "presenting challenges of %s", in.Certificate)
	}
	set, err := a.solvers(ctx, in.Certificate, in.Issuer, a.Issuers.ResolveSolvers)
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
//
// An issuer or credential Secret that is gone (its namespace is being
// deleted) is taken from what this worker last read of it (see
// issuers.ResolveForCleanUp). When the worker does not remember it either,
// nothing can remove the response: the error names each response left and
// where, non-retryable, and a Warning Event on the Certificate says the same.
func (a *Activities) CleanUpChallenges(ctx context.Context, in activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
	if len(in.Presented) == 0 {
		return activities.CleanUpChallengesResult{}, nil
	}
	cert, err := a.check(ctx, in.Certificate, in.Issuer, in.Presented)
	if err != nil {
		return activities.CleanUpChallengesResult{}, activities.Wrap(err, "removing challenge responses")
	}
	set, forgotten := a.solvers(ctx, in.Certificate, in.Issuer, a.Issuers.ResolveForCleanUp)
	if forgotten != nil && !errors.Is(forgotten, issuers.ErrForgotten) {
		return activities.CleanUpChallengesResult{}, activities.Wrap(forgotten, "removing challenge responses")
	}
	var errs []error
	var left []string
	for _, p := range in.Presented {
		err := forgotten
		if set != nil {
			err = a.cleanUp(ctx, set, p)
		}
		if errors.Is(err, issuers.ErrForgotten) {
			left = append(left, leftAt(p))
			err = activities.Wrap(err, "leaving %s for a user to remove", leftAt(p))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if set != nil && len(left) < len(in.Presented) {
		if recalled := set.iss.Recalled(); len(recalled) > 0 {
			activity.GetLogger(ctx).Info("removing challenge responses with what this worker last read of what is gone",
				"namespace", in.Certificate.Namespace, "name", in.Certificate.Name, "gone", strings.Join(recalled, ", "))
		}
	}
	if len(left) > 0 && a.Certificates.Recorder != nil {
		a.Certificates.Recorder.Event(cert, corev1.EventTypeWarning, "ChallengeLeft", fmt.Sprintf(
			"the issuer or its credentials are gone and this worker does not remember them: remove by hand %s", strings.Join(left, "; ")))
	}
	return activities.CleanUpChallengesResult{}, joined(errs, len(in.Presented))
}

// leftAt says where a response is, for a user who removes it by hand. The
// value names it exactly: another issuance's at the same name must stay.
func leftAt(p activities.Presented) string {
	switch p.Type {
	case "http-01":
		return fmt.Sprintf("the http-01 objects named %s for %s (the Ingress or HTTPRoute, Service and EndpointSlice in the Certificate's namespace, the ConfigMap in the responder's)",
			solver.Name(p.Token), p.Identifier)
	case "dns-01":
		zone := p.Zone
		if zone == "" {
			zone = "unknown (the record may never have been made)"
		}
		return fmt.Sprintf("TXT record %s with value %q in zone %s", p.FQDN, p.Value, zone)
	}
	return fmt.Sprintf("the %s response for %s", p.Type, p.Identifier)
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
