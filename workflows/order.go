package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Order is one issuance attempt: begin the ACME order (account, pending key,
// order, authorizations), present the DNS-01 records, wait until they are
// visible, let the CA validate, finalize with a CSR from the pending key, and
// store the Secret. The records are removed at the end whatever happened,
// even when the attempt is cancelled. Each step writes the Certificate's
// status (step, authorizations) as it starts.
//
// A new order waits for a permit from the issuer's account limiter first,
// unless it is an ARI renewal (exempt from the CA's limits); a rate limit
// from the CA is reported to the limiter (permit.go).
func Order(ctx workflow.Context, in OrderInput) (_ OrderResult, err error) {
	st := in.Status
	step := func(name string) {
		st.Step = name
		publish(ctx, &st)
	}

	step(stepOrdering)
	if workflow.GetVersion(ctx, changeAccountLimiter, workflow.DefaultVersion, 1) >= 1 {
		defer func() { reportRateLimit(ctx, in, err) }()
		if in.ReplacesCertID == "" {
			if err := awaitPermit(ctx, in, &st); err != nil {
				return OrderResult{}, fmt.Errorf("waiting for an order permit: %w", err)
			}
		}
	}
	var begin activities.BeginOrderResult
	err = workflow.ExecuteActivity(shortStep(ctx), activities.BeginOrderName, activities.BeginOrderInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		Revision: in.Revision, ReplacesCertID: in.ReplacesCertID,
	}).Get(ctx, &begin)
	if err != nil {
		return OrderResult{}, fmt.Errorf("ordering: %w", err)
	}
	st.Authorizations = begin.Authorizations

	if pending := pendingAuthorizations(begin.Authorizations); len(pending) > 0 {
		var presented activities.PresentResult
		defer func() { cleanUp(ctx, in.Issuer, presented.Records) }()

		step(stepPresenting)
		err = workflow.ExecuteActivity(shortStep(ctx), activities.PresentName, activities.PresentInput{
			Certificate: in.Certificate, Issuer: in.Issuer, Authorizations: pending,
		}).Get(ctx, &presented)
		if err != nil {
			// A Present that failed part-way (a worker lost, a timeout) may
			// have made records it never reported: remove every record this
			// order could have made.
			presented.Records = possibleRecords(pending)
			return OrderResult{}, fmt.Errorf("presenting: %w", err)
		}

		step(stepPropagating)
		err = workflow.ExecuteActivity(pollingStep(ctx), activities.WaitPropagationName, activities.WaitPropagationInput{
			Issuer: in.Issuer, Records: presented.Records,
		}).Get(ctx, nil)
		if err != nil {
			return OrderResult{}, fmt.Errorf("waiting for DNS propagation: %w", err)
		}

		step(stepValidating)
		var validated activities.ValidateResult
		err = workflow.ExecuteActivity(pollingStep(ctx), activities.ValidateName, activities.ValidateInput{
			Issuer: in.Issuer, Authorizations: pending,
		}).Get(ctx, &validated)
		if err != nil {
			return OrderResult{}, fmt.Errorf("validating: %w", err)
		}
		st.Authorizations = merge(st.Authorizations, validated.Authorizations)
	}

	step(stepFinalizing)
	var final activities.FinalizeResult
	err = workflow.ExecuteActivity(pollingStep(ctx), activities.FinalizeName, activities.FinalizeInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		OrderURL: begin.OrderURL, FinalizeURL: begin.FinalizeURL, PendingKeySecret: begin.PendingKeySecret,
	}).Get(ctx, &final)
	if err != nil {
		return OrderResult{}, fmt.Errorf("finalizing: %w", err)
	}

	step(stepStoring)
	var stored activities.StoreSecretResult
	err = workflow.ExecuteActivity(shortStep(ctx), activities.StoreSecretName, activities.StoreSecretInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		PendingKeySecret: begin.PendingKeySecret, ChainPEM: final.ChainPEM, CAPEM: final.CAPEM,
		Revision: in.Revision, ExpectResourceVersion: in.SecretVersion,
	}).Get(ctx, &stored)
	if err != nil {
		return OrderResult{}, fmt.Errorf("storing Secret %s: %w", in.Request.SecretName, err)
	}
	return OrderResult{Issued: final.Issued, ChainPEM: final.ChainPEM, SecretVersion: stored.ResourceVersion}, nil
}

// cleanUp removes the presented records on a context that survives the
// attempt's cancellation. A failure is logged: the records are harmless
// leftovers, and a failed clean-up must not fail a stored certificate.
func cleanUp(ctx workflow.Context, issuer activities.IssuerRef, records []activities.PresentedRecord) {
	if len(records) == 0 {
		return
	}
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	err := workflow.ExecuteActivity(withActivity(dctx, time.Minute, 0), activities.CleanUpChallengesName,
		activities.CleanUpChallengesInput{Issuer: issuer, Records: records}).Get(dctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("removing challenge records", "records", len(records), "error", err)
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
	var pending []activities.Authorization
	for _, a := range authzs {
		if a.Status != "valid" {
			pending = append(pending, a)
		}
	}
	return pending
}

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
