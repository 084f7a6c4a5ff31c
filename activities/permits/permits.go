// Package permits holds the activities that talk to an issuer's account
// limiter, the workflow that hands out new-order permits so that a flood of
// Certificates stays inside the CA's limits: RequestPermit asks it for a
// permit and returns its answer, and ReportRateLimit tells it that the CA
// rate-limited the account. Both start the limiter when it does not run, on
// the limiters' own task queue.
//
// Both are idempotent: a retry asks again or sends the same signal again, and
// the limiter answers a repeated request with its first answer. The
// limiter's names, update and signal values are in package activities; this
// package must not import workflows.
package permits

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
)

// Activities asks account limiters for permits.
type Activities struct {
	// Temporal starts and signals the limiter workflows.
	Temporal client.Client
	// TaskQueue is the worker's; limiters start on LimiterTaskQueue(TaskQueue).
	TaskQueue string
	// Cluster is the cluster's name in the limiters' workflow IDs.
	Cluster string
	// Issuers reads an issuer's spec.acme.rateLimits.
	Issuers Issuers
	// Certificates checks that the Certificate asking names the issuer.
	Certificates *certificates.Reader

	batches batches // permit requests waiting for an update to their limiter
}

// Issuers resolves an issuer; a missing one is a non-retryable
// activities.ErrTypeIssuerNotFound. *issuers.Resolver is one.
type Issuers interface {
	Resolve(ctx context.Context, ref activities.IssuerRef) (*issuers.Issuer, error)
}

// Bindings are the activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{
		activities.RequestPermit.Bind(a.RequestPermit),
		activities.ReportPermitOutcome.Bind(a.ReportPermitOutcome),
		activities.ReportRateLimit.Bind(a.ReportRateLimit),
	}
}

// RequestPermit asks the issuer's limiter for a permit to create a new order
// for the names, with the issuer's budgets as they are now, and returns its
// answer: in a batch of this process's requests, by update (batch.go). When
// the update fails (a limiter run by a worker from before the update), it
// asks by signal, and the limiter answers the requester run with a
// SignalPermit. An issuer that is not an ACME issuer needs no permit:
// nothing is asked, and the result says so. Nor does an issuer with no
// budget (a CA whose limits certflow does not know, and the issuer sets
// none), unless its limiter runs: it does once the CA has rate-limited the
// account, and keeps the CA's blocks.
func (a *Activities) RequestPermit(ctx context.Context, in activities.RequestPermitInput) (activities.RequestPermitResult, error) {
	req, unlimited, err := a.permitRequest(ctx, in)
	if err != nil || unlimited {
		return activities.RequestPermitResult{Unlimited: unlimited}, err
	}
	id := activities.LimiterWorkflowID(a.Cluster, in.Issuer)
	grant, runID, err := a.requestByUpdate(ctx, in.Issuer, req)
	if err == nil {
		return activities.RequestPermitResult{Grant: &grant, LimiterWorkflowID: id, LimiterRunID: runID, Limits: req.Limits}, nil
	}
	if ctx.Err() != nil {
		return activities.RequestPermitResult{}, fmt.Errorf("asking the account limiter of %s for a permit: %w", in.Issuer, err)
	}
	activity.GetLogger(ctx).Warn("asking the account limiter by signal: the update failed", "limiter", id, "error", err)
	run, err := a.signalWithStart(ctx, in.Issuer, activities.SignalPermitRequest, req)
	if err != nil {
		return activities.RequestPermitResult{}, fmt.Errorf("asking the account limiter of %s for a permit: %w", in.Issuer, err)
	}
	return activities.RequestPermitResult{LimiterWorkflowID: run.GetID(), LimiterRunID: run.GetRunID(), Limits: req.Limits}, nil
}

// permitRequest is what the limiter is asked: the request with the issuer's
// budgets as they are now, or unlimited when the issuer has none.
func (a *Activities) permitRequest(ctx context.Context, in activities.RequestPermitInput) (_ activities.PermitRequest, unlimited bool, _ error) {
	if _, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer}); err != nil {
		return activities.PermitRequest{}, false, err
	}
	iss, err := a.Issuers.Resolve(ctx, in.Issuer)
	if err != nil {
		return activities.PermitRequest{}, false, err
	}
	if iss.Spec.ACME == nil {
		return activities.PermitRequest{}, true, nil
	}
	limits := Limits(iss.Spec.ACME.Server, iss.Spec.ACME.RateLimits)
	if !limits.Limits() {
		if runs, err := a.limiterRuns(ctx, in.Issuer); err != nil || !runs {
			return activities.PermitRequest{}, !runs, err
		}
	}
	names := Names(in.Names)
	return activities.PermitRequest{
		RequesterWorkflowID: in.RequesterWorkflowID, RequesterRunID: in.RequesterRunID,
		Names: names, Domains: RegisteredDomains(names), Replaces: in.Replaces, Forced: in.Forced,
		Limits: limits, Attempt: in.Attempt,
	}, false, nil
}

// ReportPermitOutcome tells the issuer's limiter what the attempt used of its
// permit: it gives back what the CA did not count (a new order that was
// never made; certificates that were not issued) and counts the failed
// validations. A limiter that does not run holds no permit to give back.
func (a *Activities) ReportPermitOutcome(ctx context.Context, in activities.ReportPermitOutcomeInput) (activities.ReportPermitOutcomeResult, error) {
	if _, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer}); err != nil {
		return activities.ReportPermitOutcomeResult{}, err
	}
	names := Names(in.Names)
	info := activity.GetInfo(ctx).WorkflowExecution
	outcome := activities.PermitOutcome{
		RequesterWorkflowID: info.ID, RequesterRunID: info.RunID, Attempt: in.Grant.Attempt, At: in.Grant.At,
		Names: names, Domains: RegisteredDomains(names), OrderSent: in.OrderSent, Issued: in.Issued,
		FailedValidations: Names(in.FailedValidations),
	}
	id := activities.LimiterWorkflowID(a.Cluster, in.Issuer)
	err := a.Temporal.SignalWorkflow(ctx, id, "", activities.SignalPermitOutcome, outcome)
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return activities.ReportPermitOutcomeResult{}, fmt.Errorf("telling the account limiter of %s what a permit was used for: %w", in.Issuer, err)
	}
	return activities.ReportPermitOutcomeResult{}, nil
}

// ReportRateLimit tells the issuer's limiter that the CA refused an order with
// a rate limit until in.Until: it grants no permit for the orders the limit
// is on (Scope) before then.
func (a *Activities) ReportRateLimit(ctx context.Context, in activities.ReportRateLimitInput) (activities.ReportRateLimitResult, error) {
	if _, err := a.Certificates.Check(ctx, certificates.Claim{Certificate: in.Certificate, Issuer: in.Issuer}); err != nil {
		return activities.ReportRateLimitResult{}, err
	}
	report := activities.RateLimitReport{Until: in.Until, Detail: in.Detail}
	report.Identifier, report.Names, report.Guessed = Scope(in.Detail, in.Names)
	_, err := a.signalWithStart(ctx, in.Issuer, activities.SignalRateLimited, report)
	if err != nil {
		return activities.ReportRateLimitResult{}, fmt.Errorf("reporting a rate limit to the account limiter of %s: %w", in.Issuer, err)
	}
	return activities.ReportRateLimitResult{}, nil
}

// limiterRuns says whether the issuer's limiter runs.
func (a *Activities) limiterRuns(ctx context.Context, issuer activities.IssuerRef) (bool, error) {
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, activities.LimiterWorkflowID(a.Cluster, issuer), "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking for the account limiter of %s: %w", issuer, err)
	}
	return desc.WorkflowExecutionInfo.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// signalWithStart signals the issuer's limiter, starting it when it does not
// run (never started, or ended by an operator).
func (a *Activities) signalWithStart(ctx context.Context, issuer activities.IssuerRef, signal string, value any) (client.WorkflowRun, error) {
	id := activities.LimiterWorkflowID(a.Cluster, issuer)
	return a.Temporal.SignalWithStartWorkflow(ctx, id, signal, value, a.limiterOptions(id),
		activities.LimiterWorkflowName, activities.LimiterInput{Issuer: issuer})
}

// limiterOptions start the limiter, or find the one that runs.
func (a *Activities) limiterOptions(id string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: id, TaskQueue: activities.LimiterTaskQueue(a.TaskQueue),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
}
