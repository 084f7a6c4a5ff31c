package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Order is one issuance attempt: begin the ACME order (account, pending key,
// order, authorizations), present the DNS-01 records, wait until they are
// visible, let the CA validate, finalize with a CSR from the pending key, and
// store the Secret. The records are removed once the CA has validated them,
// and at the end whatever happened, even when the attempt is cancelled. The
// Certificate's status shows the step (and the authorizations): written when
// the order starts, and then by each step that takes more than a moment (its
// input carries the status: activities.StepProgress).
//
// A new order waits for a permit from the issuer's account limiter first,
// unless it is an ARI renewal (exempt from the CA's limits); a rate limit
// from the CA is reported to the limiter (permit.go).
func Order(ctx workflow.Context, in OrderInput) (_ OrderResult, err error) {
	st := in.Status
	st.Step = stepOrdering
	publish(ctx, &st)
	version := orderVersion(ctx)
	local := version >= orderLocalShortSteps
	localCA := version >= orderLocalCACalls
	// step is the status of the step that starts: written now by Orders of
	// version 1, else by the step itself when it takes a while.
	step := func(name string) activities.StepProgress {
		st.Step = name
		if !local {
			publish(ctx, &st)
			return activities.StepProgress{}
		}
		stamp(ctx, &st)
		progress := st
		return activities.StepProgress{ProgressStatus: &progress}
	}
	if version >= orderAsksLimiter {
		defer func() { reportRateLimit(ctx, in, err) }()
	}
	begin, err := beginOrder(ctx, in, &st, version >= orderAsksLimiter && in.ReplacesCertID == "", version)
	if err != nil {
		return OrderResult{}, err
	}
	st.Authorizations = begin.Authorizations

	// An order begun before (the issuance runs again, after a lost workflow
	// task) names the challenges of the authorizations the CA has validated
	// since: their records, which the lost attempt may have left, go too.
	leftovers := possibleRecords(validAuthorizations(begin.Authorizations))
	records := &challengeRecords{issuer: in.Issuer, local: local, list: leftovers}
	defer func() { records.removed(ctx) }()

	if pending := pendingAuthorizations(begin.Authorizations); len(pending) > 0 {
		var presented activities.PresentResult
		err = runShortStep(ctx, localCA, activities.PresentName, activities.PresentInput{
			Certificate: in.Certificate, Issuer: in.Issuer, Authorizations: pending,
			StepProgress: step(stepPresenting),
		}, &presented)
		if err != nil {
			// A Present that failed part-way (a worker lost, a timeout) may
			// have made records it never reported: remove every record this
			// order could have made.
			records.list = append(leftovers, possibleRecords(pending)...)
			return OrderResult{}, fmt.Errorf("presenting: %w", err)
		}
		records.list = append(leftovers, presented.Records...)

		err = waitPropagation(ctx, version >= orderQuickLook, activities.WaitPropagationInput{
			Issuer: in.Issuer, Records: presented.Records,
			StepProgress: step(stepPropagating),
		})
		if err != nil {
			return OrderResult{}, fmt.Errorf("waiting for DNS propagation: %w", err)
		}

		var validated activities.ValidateResult
		err = runPollingStep(ctx, localCA, activities.ValidateName, activities.ValidateInput{
			Issuer: in.Issuer, Authorizations: pending,
			StepProgress: step(stepValidating),
		}, &validated)
		if err != nil {
			return OrderResult{}, fmt.Errorf("validating: %w", err)
		}
		st.Authorizations = merge(st.Authorizations, validated.Authorizations)
		records.validated = true
		if local {
			records.remove(ctx) // the CA needs them no more: remove them while the order is finalized
		}
	}

	var final activities.FinalizeResult
	err = runPollingStep(ctx, localCA, activities.FinalizeName, activities.FinalizeInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		OrderURL: begin.OrderURL, FinalizeURL: begin.FinalizeURL, CSR: begin.CSR, PendingKeySecret: begin.PendingKeySecret,
		StepProgress: step(stepFinalizing),
	}, &final)
	if err != nil {
		return OrderResult{}, fmt.Errorf("finalizing: %w", err)
	}

	var stored activities.StoreSecretResult
	err = runShortStep(ctx, local, activities.StoreSecretName, activities.StoreSecretInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		StepProgress:     step(stepStoring),
		PendingKeySecret: begin.PendingKeySecret, ChainPEM: final.ChainPEM, CAPEM: final.CAPEM,
		Revision: in.Revision, OrderURL: begin.OrderURL, ExpectResourceVersion: in.SecretVersion,
	}, &stored)
	if err != nil {
		return OrderResult{}, fmt.Errorf("storing Secret %s: %w", in.Request.SecretName, err)
	}
	return OrderResult{Issued: final.Issued, ChainPEM: final.ChainPEM, SecretVersion: stored.ResourceVersion}, nil
}

// waitPropagation waits until the records are visible. With quick, it looks
// first in a local activity, and runs the heartbeating activity (which may
// wait minutes) only when the look did not see every record; a look that
// fails for any reason leaves the decision to the activity too.
func waitPropagation(ctx workflow.Context, quick bool, in activities.WaitPropagationInput) error {
	if quick {
		look := in
		look.LookFor = quickLook
		var seen activities.WaitPropagationResult
		err := workflow.ExecuteLocalActivity(withQuickLook(ctx), activities.WaitPropagationName, look).Get(ctx, &seen)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && seen.Visible {
			return nil
		}
	}
	return workflow.ExecuteActivity(pollingStep(ctx), activities.WaitPropagationName, in).Get(ctx, nil)
}

// challengeRecords are the DNS-01 records an Order presented. They are
// removed once: as soon as the CA needs them no more (remove), or when the
// Order ends (removed, which also waits for a removal started before).
type challengeRecords struct {
	issuer activities.IssuerRef
	list   []activities.PresentedRecord
	local  bool // remove them in a local activity (a few DNS updates)
	// validated: the CA has used them, and their removal keeps trying (withCleanUp).
	validated bool
	removal   workflow.Future
}

// remove starts removing the records on a context that survives the
// attempt's cancellation, without waiting.
func (r *challengeRecords) remove(ctx workflow.Context) {
	if r.removal != nil || len(r.list) == 0 {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	in := activities.CleanUpChallengesInput{Issuer: r.issuer, Records: r.list}
	if r.local {
		r.removal = workflow.ExecuteLocalActivity(withLocalCleanUp(dctx, r.validated), activities.CleanUpChallengesName, in)
		return
	}
	r.removal = workflow.ExecuteActivity(withCleanUp(dctx, r.validated), activities.CleanUpChallengesName, in)
}

// removed removes the records, or waits for the removal started before. A
// failure is logged: the records are harmless leftovers, and a failed
// clean-up must not fail a stored certificate.
func (r *challengeRecords) removed(ctx workflow.Context) {
	r.remove(ctx)
	if r.removal == nil {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := r.removal.Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("removing challenge records", "records", len(r.list), "error", err)
	}
}

// possibleRecords are the DNS-01 records a Present of these authorizations makes.
func possibleRecords(authzs []activities.Authorization) []activities.PresentedRecord {
	var records []activities.PresentedRecord
	for _, a := range authzs {
		if c := a.Challenge; c.Type == "dns-01" && c.FQDN != "" {
			records = append(records, activities.PresentedRecord{FQDN: c.FQDN, Value: c.Value, Solver: c.Solver})
		}
	}
	return records
}

func pendingAuthorizations(authzs []activities.Authorization) []activities.Authorization {
	return slices.DeleteFunc(slices.Clone(authzs), isValid)
}

func validAuthorizations(authzs []activities.Authorization) []activities.Authorization {
	return slices.DeleteFunc(slices.Clone(authzs), func(a activities.Authorization) bool { return !isValid(a) })
}

func isValid(a activities.Authorization) bool { return a.Status == "valid" }

// merge replaces authorizations by URL with their newer state.
func merge(all, updated []activities.Authorization) []activities.Authorization {
	out := append([]activities.Authorization(nil), all...)
	for _, u := range updated {
		for i := range out {
			if out[i].URL == u.URL {
				out[i] = u
			}
		}
	}
	return out
}
