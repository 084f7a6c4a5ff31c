package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// Order is one issuance attempt: make (or find again) the issuance's key,
// have the issuer sign the key's CSR, and store the chain with the key in
// the target Secret. The Certificate workflow runs it in place (attempt);
// it is also registered as a workflow, the child that runs of v0.1.0 start,
// which writes the attempt's status before its first step. How an issuer
// signs depends on its type (an ACME CA: acme.go).
func Order(ctx workflow.Context, in OrderInput) (OrderResult, error) {
	return attempt(ctx, in, true)
}

// attempt runs the attempt's steps. Each step's input carries the attempt's
// status, which the worker writes with the step when the step takes a while
// (activities.InProgress); the status is written too while the attempt
// waits for a permit, and when it starts if writeAtStart or it has an Event
// to record. An attempt whose steps are all quick writes only its result.
func attempt(ctx workflow.Context, in OrderInput, writeAtStart bool) (OrderResult, error) {
	st := in.Status
	st.Step = activities.StepOrdering
	if writeAtStart || st.Event != nil {
		publish(ctx, &st)
	} else {
		stamp(ctx, &st) // what the attempt changes changed at its start, whichever step writes it
	}
	key, err := executeLocal(localPollingStep(ctx), activities.EnsurePendingKey, activities.EnsurePendingKeyInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request, Revision: in.Revision,
		NoTarget: in.SecretVersion == "", FirstAttempt: in.Attempt == 1, Status: shown(&st),
	})
	if err != nil {
		return OrderResult{}, failedIn(ctx, activities.StepOrdering, "checking the request and making the key", err)
	}
	var signed signed
	switch key.IssuerType {
	case activities.IssuerTypeACME:
		signed, err = signByACME(ctx, in, key, &st)
	case activities.IssuerTypeCA, activities.IssuerTypeSelfSigned, activities.IssuerTypeVault:
		signed, err = signInWorker(ctx, in, key)
	default:
		// EnsurePendingKey refuses the types it does not serve.
		err = fmt.Errorf("no steps for issuer type %q", key.IssuerType)
	}
	if err != nil {
		return OrderResult{}, err
	}
	stored, err := executeLocal(localStep(ctx), activities.StoreSecret, activities.StoreSecretInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request,
		PendingKeySecret: key.Secret, ChainPEM: signed.ChainPEM, CAPEM: signed.CAPEM,
		Revision: in.Revision, OrderURL: signed.OrderURL, ExpectResourceVersion: in.SecretVersion, Status: shown(&st),
	})
	if err != nil {
		return OrderResult{}, failedIn(ctx, activities.StepStoring, "storing Secret "+in.Request.SecretName, err)
	}
	return OrderResult{Issued: signed.Issued, ChainPEM: signed.ChainPEM, SecretVersion: stored.ResourceVersion}, nil
}

// signInWorker has a ca, selfSigned or vault issuer sign the key's CSR:
// one step (for Vault: log in and call its sign endpoint), with no order to
// wait for and no budget to keep.
func signInWorker(ctx workflow.Context, in OrderInput, key activities.EnsurePendingKeyResult) (signed, error) {
	res, err := executeLocal(localStep(ctx), activities.SignCertificate, activities.SignInput{
		Certificate: in.Certificate, Issuer: in.Issuer, Request: in.Request, PendingKeySecret: key.Secret, CSR: key.CSR,
	})
	if err != nil {
		return signed{}, failedIn(ctx, activities.StepFinalizing, "signing with "+in.Issuer.String(), err)
	}
	return signed{ChainPEM: res.ChainPEM, CAPEM: res.CAPEM, Issued: res.Issued}, nil
}

// signed is what an issuer returns for a CSR.
type signed struct {
	ChainPEM string
	CAPEM    string
	Issued   activities.Issued
	// OrderURL is the ACME order that issued it, recorded on the Secret.
	OrderURL string
}

// errTypeStepFailed is the type of the error an Order fails with: its
// message says what the Order was doing, its details name the step
// (activities.Step*), which the Certificate lists (Listing.Step).
const errTypeStepFailed = "StepFailed"

// failedIn wraps the error of a step of the Order: its message is what the
// Order was doing and what went wrong, as a person reads it (the Web UI
// shows it as the Order's failure), its cause the whole chain. A
// cancellation stays one, so that the Order ends cancelled.
func failedIn(ctx workflow.Context, step, doing string, err error) error {
	if temporal.IsCanceledError(err) || ctx.Err() != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return temporal.NewApplicationErrorWithOptions(join(doing, explain(err)), errTypeStepFailed,
		temporal.ApplicationErrorOptions{Cause: err, Details: []any{step}})
}
