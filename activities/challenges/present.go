package challenges

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/certflow/certflow/activities"
	certflowdns "github.com/certflow/certflow/activities/dns"
)

// Present publishes the DNS-01 TXT record of every authorization that is not
// valid yet, through the provider of the solver the authorization names. It
// checks the whole input first (challenge types, solvers, credentials), so a
// configuration problem fails before any record is made. Providers' Present
// is idempotent, so a retried Present finds its records again. When one
// record fails, those made by this call are removed before returning: the
// workflow learns only of records in a result, and cleans up only those.
func (a *Activities) Present(ctx context.Context, in activities.PresentInput) (activities.PresentResult, error) {
	var todo []activities.Authorization
	for _, az := range in.Authorizations {
		if az.Status == "valid" {
			continue
		}
		switch az.Challenge.Type {
		case "dns-01":
			todo = append(todo, az)
		case "http-01":
			return activities.PresentResult{}, configError("%s: authorization for %s: http01 solver not supported yet", in.Certificate, az.Identifier)
		default:
			return activities.PresentResult{}, configError("%s: authorization for %s: challenge type %q is not supported", in.Certificate, az.Identifier, az.Challenge.Type)
		}
	}
	if len(todo) == 0 {
		return activities.PresentResult{}, nil
	}
	set, err := a.solvers(ctx, in.Issuer)
	if err != nil {
		return activities.PresentResult{}, wrap(err, "presenting challenges of %s", in.Certificate)
	}

	type plan struct {
		rec    activities.PresentedRecord
		solver *solver
	}
	var plans []plan
	seen := map[[2]string]bool{}
	for _, az := range todo {
		sv, err := set.get(ctx, az.Challenge.Solver)
		if err != nil {
			return activities.PresentResult{}, wrap(err, "presenting the challenge for %s", az.Identifier)
		}
		rec := activities.PresentedRecord{FQDN: challengeFQDN(az), Value: az.Challenge.Value, Solver: sv.index}
		if rec.Value == "" {
			return activities.PresentResult{}, fmt.Errorf("presenting the challenge for %s: the authorization carries no record value", az.Identifier)
		}
		if key := [2]string{rec.FQDN, rec.Value}; !seen[key] {
			seen[key] = true
			plans = append(plans, plan{rec: rec, solver: sv})
		}
	}

	var res activities.PresentResult
	for _, p := range plans {
		zone, err := a.present(ctx, p.solver, p.rec)
		if err != nil {
			a.undo(ctx, set, res.Records)
			return activities.PresentResult{}, err
		}
		p.rec.Zone = zone
		res.Records = append(res.Records, p.rec)
		activity.GetLogger(ctx).Info("presented TXT record", "fqdn", p.rec.FQDN, "zone", zone)
	}
	return res, nil
}

func (a *Activities) present(ctx context.Context, sv *solver, rec activities.PresentedRecord) (string, error) {
	target, err := a.target(ctx, sv, rec.FQDN)
	if err != nil {
		return "", wrap(err, "presenting TXT for %s", rec.FQDN)
	}
	zone, err := sv.provider.Present(ctx, certflowdns.TXT{FQDN: target, Value: rec.Value})
	if err != nil {
		return "", fmt.Errorf("presenting TXT for %s: %w", rec.FQDN, err)
	}
	return zone, nil
}

// target is where the record is written: the CA's name, or with cnameStrategy
// Follow the end of its CNAME chain.
func (a *Activities) target(ctx context.Context, sv *solver, fqdn string) (string, error) {
	if !sv.follow {
		return fqdn, nil
	}
	return a.followCNAME(ctx, fqdn)
}

// undo removes the records a failed Present made, on a context of its own
// (the activity's may be what failed). Its own failure is only logged: the
// error that matters is the one Present returns.
func (a *Activities) undo(ctx context.Context, set *solvers, records []activities.PresentedRecord) {
	if len(records) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, rec := range records {
		if err := a.cleanUp(cctx, set, rec); err != nil {
			activity.GetLogger(ctx).Warn("removing a record after a failed present", "fqdn", rec.FQDN, "zone", rec.Zone, "error", err)
		}
	}
}

// CleanUpChallenges removes every record (this value only: another issuance
// may have its own value at the same name). A record that is gone already is
// fine. It tries all records and returns their errors joined: retryable when
// any of them may pass on a retry, non-retryable when all need a user.
func (a *Activities) CleanUpChallenges(ctx context.Context, in activities.CleanUpChallengesInput) (activities.CleanUpChallengesResult, error) {
	if len(in.Records) == 0 {
		return activities.CleanUpChallengesResult{}, nil
	}
	set, err := a.solvers(ctx, in.Issuer)
	if err != nil {
		return activities.CleanUpChallengesResult{}, wrap(err, "removing challenge records")
	}
	var errs []error
	for _, rec := range in.Records {
		if err := a.cleanUp(ctx, set, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return activities.CleanUpChallengesResult{}, joined(errs, len(in.Records))
}

func (a *Activities) cleanUp(ctx context.Context, set *solvers, rec activities.PresentedRecord) error {
	sv, err := set.get(ctx, rec.Solver)
	if err != nil {
		return wrap(err, "removing TXT for %s", rec.FQDN)
	}
	target, err := a.target(ctx, sv, rec.FQDN)
	if err != nil {
		return wrap(err, "removing TXT for %s", rec.FQDN)
	}
	if err := sv.provider.CleanUp(ctx, certflowdns.TXT{FQDN: target, Value: rec.Value}); err != nil {
		return fmt.Errorf("removing TXT for %s: %w", rec.FQDN, err)
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
	prefix := fmt.Sprintf("removing %d of %d challenge records", len(errs), total)
	if permanent {
		return temporal.NewNonRetryableApplicationError(prefix+": "+strings.Join(msgs, "; "), activities.ErrTypeConfig, nil)
	}
	return fmt.Errorf("%s: %w", prefix, errors.Join(errs...))
}

// challengeFQDN is the name the CA looks up, with the trailing dot.
func challengeFQDN(az activities.Authorization) string {
	if az.Challenge.FQDN != "" {
		return dns.Fqdn(az.Challenge.FQDN)
	}
	return "_acme-challenge." + dns.Fqdn(az.Identifier)
}
