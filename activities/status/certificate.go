package status

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// UpdateCertificateStatus writes the Certificate's whole status as the
// workflow decided it: conditions (only those given; each keeps its
// lastTransitionTime while its status is unchanged), times (zero is unset),
// counts (zero is unset), the step, the authorizations, the workflow's ID and
// UI link. It writes at the resourceVersion it read and reads again on a
// conflict. Then it records the Event, if one is given.
func (a *Activities) UpdateCertificateStatus(ctx context.Context, in activities.CertificateStatus) (activities.UpdateCertificateStatusResult, error) {
	key := types.NamespacedName{Namespace: in.Certificate.Namespace, Name: in.Certificate.Name}
	var cert certflowv1.Certificate
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := a.Kube.Get(ctx, key, &cert); err != nil {
			return err
		}
		cert.Status = a.certificateStatus(cert.Status.Conditions, in)
		return a.Kube.Status().Update(ctx, &cert)
	})
	if apierrors.IsNotFound(err) {
		return activities.UpdateCertificateStatusResult{}, nil
	}
	if err != nil {
		return activities.UpdateCertificateStatusResult{}, fmt.Errorf("writing status of Certificate %s: %w", key, err)
	}
	a.record(&cert, in.Event)
	return activities.UpdateCertificateStatusResult{}, nil
}

func (a *Activities) certificateStatus(old []metav1.Condition, in activities.CertificateStatus) certflowv1.CertificateStatus {
	st := certflowv1.CertificateStatus{
		Conditions:             conditions(old, in.Conditions, in.ObservedGeneration),
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
	for _, az := range in.Authorizations {
		st.Authorizations = append(st.Authorizations, certflowv1.AuthorizationStatus{
			Identifier:    az.Identifier,
			Wildcard:      az.Wildcard,
			State:         az.Status,
			ChallengeType: az.Challenge.Type,
			Message:       truncate(az.Challenge.ValidateError, maxConditionMessage),
		})
	}
	return st
}

// conditions are the given conditions, each carrying over the
// lastTransitionTime of the stored one of its type when its status is the
// same. Types not given are dropped: the input is the whole status.
func conditions(old []metav1.Condition, in []activities.Condition, generation int64) []metav1.Condition {
	var out []metav1.Condition
	for _, c := range in {
		if c.Type == "" {
			continue
		}
		if prev := meta.FindStatusCondition(old, c.Type); prev != nil {
			out = append(out, *prev)
		}
		meta.SetStatusCondition(&out, condition(c, generation))
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
