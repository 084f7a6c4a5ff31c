package status

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// UpdateCertificateStatus writes the Certificate's whole status as the
// workflow decided it, in one request: conditions (only those given, with the
// workflow's transition times), times (zero is unset), counts (zero is
// unset), the step, the authorizations, the workflow's ID and UI link. The
// workflow is the status's only writer, so it replaces what is there without
// reading it first. Then it records the Event, if one is given.
func (a *Activities) UpdateCertificateStatus(ctx context.Context, in activities.CertificateStatus) (activities.UpdateCertificateStatusResult, error) {
	if err := a.Writers.Check(ctx, in.Certificate); err != nil {
		return activities.UpdateCertificateStatusResult{}, err
	}
	key := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.Certificate.Name}
	patch, err := json.Marshal([]jsonPatchOp{{Op: "add", Path: "/status", Value: a.certificateStatus(in, time.Now())}})
	if err != nil {
		return activities.UpdateCertificateStatusResult{}, fmt.Errorf("encoding status of Certificate %s: %w", key, err)
	}
	cert := certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	err = a.Kube.Status().Patch(ctx, &cert, client.RawPatch(types.JSONPatchType, patch))
	if apierrors.IsNotFound(err) {
		return activities.UpdateCertificateStatusResult{}, nil
	}
	if err != nil {
		return activities.UpdateCertificateStatusResult{}, fmt.Errorf("writing status of Certificate %s: %w", key, err)
	}
	a.record(&cert, in.Event)
	return activities.UpdateCertificateStatusResult{}, nil
}

// WriteStatus writes the status as UpdateCertificateStatus does, for the
// worker: the status of an attempt's step that takes a while
// (activities.InProgress). It is not an activity.
func (a *Activities) WriteStatus(ctx context.Context, st activities.CertificateStatus) error {
	_, err := a.UpdateCertificateStatus(ctx, st)
	return err
}

// jsonPatchOp is one operation of a JSON patch (RFC 6902). "add" of a member
// that exists replaces it.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func (a *Activities) certificateStatus(in activities.CertificateStatus, now time.Time) certflowv1.CertificateStatus {
	st := certflowv1.CertificateStatus{
		Conditions:             conditions(in.Conditions, in.ObservedGeneration, now),
		NotBefore:              timeOrNil(in.NotBefore),
		NotAfter:               timeOrNil(in.NotAfter),
		RenewalTime:            timeOrNil(in.RenewalTime),
		Revision:               intOrNil(in.Revision),
		LastFailureTime:        timeOrNil(in.LastFailureTime),
		FailedIssuanceAttempts: intOrNil(in.FailedAttempts),
		NextAttemptTime:        timeOrNil(in.NextAttemptTime),
		NextAttemptReason:      in.NextAttemptReason,
		Step:                   certflowv1.IssuanceStep(in.Step),
		WorkflowID:             in.WorkflowID,
		WorkflowURL:            a.workflowURL(in.WorkflowID),
		IssuedBy:               in.IssuedBy,
		ObservedGeneration:     in.ObservedGeneration,
	}
	st.Authorizations = authorizations(in.Authorizations)
	return st
}

// authorizations are the authorizations as status shows them; nil for none.
func authorizations(in []activities.Authorization) []certflowv1.AuthorizationStatus {
	var out []certflowv1.AuthorizationStatus
	for _, az := range in {
		out = append(out, certflowv1.AuthorizationStatus{
			Identifier:    az.Identifier,
			Wildcard:      az.Wildcard,
			State:         az.Status,
			ChallengeType: az.Challenge.Type,
			Message:       truncate(az.Challenge.ValidateError, maxAuthorizationMessage),
		})
	}
	return out
}

// conditions are the given conditions; one without a transition time (from a
// workflow that did not keep them) changed now.
func conditions(in []activities.Condition, generation int64, now time.Time) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range in {
		if c.Type == "" {
			continue
		}
		cond := condition(c, generation)
		cond.LastTransitionTime = metav1.NewTime(c.LastTransitionTime)
		if c.LastTransitionTime.IsZero() {
			cond.LastTransitionTime = metav1.NewTime(now)
		}
		meta.SetStatusCondition(&out, cond)
	}
	return out
}

// condition converts a workflow's condition into one the API accepts.
func condition(c activities.Condition, generation int64) metav1.Condition {
	status := metav1.ConditionStatus(c.Status)
	if status != metav1.ConditionTrue && status != metav1.ConditionFalse {
		status = metav1.ConditionUnknown
	}
	return metav1.Condition{
		Type:               c.Type,
		Status:             status,
		Reason:             validReason(c.Reason),
		Message:            truncate(c.Message, maxConditionMessage),
		ObservedGeneration: generation,
	}
}

func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

func intOrNil(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}
