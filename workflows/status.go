package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// publish writes the status (and its Event, if any) to the Certificate. A
// condition whose status changed since the last write changed now. A status
// that cannot be written is logged, not fatal: the next step writes again.
func publish(ctx workflow.Context, st *activities.CertificateStatus) {
	stamp(ctx, st)
	showDetails(ctx, st)
	if _, err := executeLocal(statusWrite(ctx), activities.UpdateCertificateStatus, *st); err != nil {
		workflow.GetLogger(ctx).Warn("writing certificate status", "namespace", st.Certificate.Namespace, "name", st.Certificate.Name, "error", err)
	}
	st.Event = nil
}

// shown is a copy of the attempt's status for a step's input, which the
// worker writes if the step takes a while (activities.InProgress, which
// leaves the Event out).
func shown(st *activities.CertificateStatus) *activities.CertificateStatus {
	c := *st
	c.Conditions, c.Authorizations = slices.Clone(st.Conditions), slices.Clone(st.Authorizations)
	return &c
}

// stamp gives the conditions whose status changed since the last write the
// time of now.
func stamp(ctx workflow.Context, st *activities.CertificateStatus) {
	for i := range st.Conditions {
		if st.Conditions[i].LastTransitionTime.IsZero() {
			st.Conditions[i].LastTransitionTime = workflow.Now(ctx)
		}
	}
}

// setCondition replaces the condition of the same type, keeping its
// transition time while its status stays the same (publish stamps a new one).
func setCondition(st *activities.CertificateStatus, typ, status, reason, message string) {
	c := activities.Condition{Type: typ, Status: status, Reason: reason, Message: message}
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			if st.Conditions[i].Status == status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

func event(typ, reason, message string) *activities.Event {
	return &activities.Event{Type: typ, Reason: reason, Message: message}
}

// Condition types and reasons as api/v1alpha1 spells them (the
// workflows do not import the API package: their inputs are their own types).
const (
	condReady   = "Ready"
	condIssuing = "Issuing"
	condTrue    = "True"
	condFalse   = "False"

	reasonIssued         = "Issued"
	reasonIssuing        = "Issuing"
	reasonRenewing       = "Renewing"
	reasonPending        = "Pending"
	reasonFailed         = "Failed"
	reasonRateLimited    = "RateLimited"
	reasonSecretConflict = "SecretConflict"
	reasonIssuerNotFound = "IssuerNotFound"
	reasonFallingBack    = "FallingBack"

	nextAttemptBackoff      = "Backoff"
	nextAttemptRateLimited  = "RateLimited"
	nextAttemptConfigChange = "ConfigurationChange"
)
