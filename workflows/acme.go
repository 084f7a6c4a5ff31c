package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// signByACME has an ACME CA sign the key's CSR: with a permit from the
// issuer's account limiter (permit.go; an ARI renewal needs none), begin the
// order, present the challenges of the pending authorizations, wait until
// they are reachable, let the CA validate, and finalize. The responses are
// removed once the CA has validated them, and at the end whatever happened,
// even when the attempt is cancelled. The limiter hears what the permit was
// used for, and of a rate limit from the CA.
func signByACME(ctx workflow.Context, in OrderInput, key activities.EnsurePendingKeyResult, st *activities.CertificateStatus) (_ signed, err error) {
	defer func() { reportRateLimit(ctx, in, err) }()
	begin, p, err := beginOrder(ctx, in, st, in.ReplacesCertID == "")
	defer func() { settle(ctx, in, p, begin, err) }()
	if err != nil {
		return signed{}, err
	}

	// An order begun before (the issuance runs again, after a lost workflow
	// task) names the challenges of the authorizations the CA has validated
	// since: their responses, which the lost attempt may have left, go too.
	leftovers := activities.PresentedOf(validAuthorizations(begin.Authorizations))
	responses := &responses{certificate: in.Certificate, issuer: in.Issuer, list: leftovers}
	defer func() { responses.removeAndWait(ctx) }()

	if pending := pendingAuthorizations(begin.Authorizations); len(pending) > 0 {
		presented, err := executeLocal(localStep(ctx), activities.Present, activities.PresentInput{
			Certificate: in.Certificate, Issuer: in.Issuer, Authorizations: pending, Status: shown(st),
		})
		if err != nil {
			// A Present that failed part-way (a worker lost, a timeout) may
			// have made responses it never reported: remove every one this
			// order could have made.
			responses.list = append(leftovers, activities.PresentedOf(pending)...)
			return signed{}, failedIn(ctx, activities.StepPresenting, "presenting", err)
		}
		responses.list = append(leftovers, presented.Presented...)

		err = waitPropagation(ctx, activities.WaitPropagationInput{
			Certificate: in.Certificate, Issuer: in.Issuer, Presented: presented.Presented, Status: shown(st),
		})
		if err != nil {
			return signed{}, failedIn(ctx, activities.StepPropagating, "waiting for the challenge responses to propagate", err)
		}

		_, err = executeLocal(localPollingStep(ctx), activities.Validate, activities.ValidateInput{
			Certificate: in.Certificate, Issuer: in.Issuer, Authorizations: pending, Status: shown(st),
		})
		if err != nil {
			return signed{}, failedIn(ctx, activities.StepValidating, "validating", err)
		}
		responses.validated = true
		responses.remove(ctx) // the CA needs them no more: remove them while the order is finalized
	}

	final, err := executeLocal(localPollingStep(ctx), activities.Finalize, activities.FinalizeInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		OrderURL: begin.OrderURL, FinalizeURL: begin.FinalizeURL, CSR: key.CSR, Status: shown(st),
	})
	if err != nil {
		return signed{}, failedIn(ctx, activities.StepFinalizing, "finalizing", err)
	}
	return signed{ChainPEM: final.ChainPEM, CAPEM: final.CAPEM, Issued: final.Issued, OrderURL: begin.OrderURL}, nil
}

// waitPropagation waits until the responses are reachable: it looks first in
// a local activity, and runs the heartbeating activity (which may wait
// minutes) only when the look did not see every one; a look that fails for
// any reason leaves the decision to the activity too.
func waitPropagation(ctx workflow.Context, in activities.WaitPropagationInput) error {
	look := in
	look.LookFor = quickLook
	seen, err := executeLocal(quickLookStep(ctx), activities.WaitPropagation, look)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil && seen.Visible {
		return nil
	}
	_, err = execute(pollingStep(ctx), activities.WaitPropagation, in)
	return err
}

// responses are the challenge responses an Order presented. They are
// removed once: as soon as the CA needs them no more (remove), or when the
// Order ends (removeAndWait, which also waits for a removal started before).
type responses struct {
	certificate activities.CertificateRef
	issuer      activities.IssuerRef
	list        []activities.Presented
	// validated: the CA has used them, and their removal keeps trying (cleanUpStep).
	validated bool
	removal   workflow.Future
}

// remove starts removing the responses on a context that survives the
// attempt's cancellation, without waiting.
func (r *responses) remove(ctx workflow.Context) {
	if r.removal != nil || len(r.list) == 0 {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.removal = startLocal(cleanUpStep(dctx, r.validated), activities.CleanUpChallenges, activities.CleanUpChallengesInput{
		Certificate: r.certificate, Issuer: r.issuer, Presented: r.list,
	})
}

// removeAndWait removes the responses, or waits for the removal started
// before. A failure is logged: the responses are harmless leftovers, and a
// failed clean-up must not fail a stored certificate.
func (r *responses) removeAndWait(ctx workflow.Context) {
	r.remove(ctx)
	if r.removal == nil {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := r.removal.Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("removing challenge responses", "responses", len(r.list), "error", err)
	}
}

func pendingAuthorizations(authzs []activities.Authorization) []activities.Authorization {
	return slices.DeleteFunc(slices.Clone(authzs), isValid)
}

func validAuthorizations(authzs []activities.Authorization) []activities.Authorization {
	return slices.DeleteFunc(slices.Clone(authzs), func(a activities.Authorization) bool { return !isValid(a) })
}

func isValid(a activities.Authorization) bool { return a.Status == "valid" }
