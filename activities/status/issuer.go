package status

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// UpdateIssuerStatus sets the Ready condition of an Issuer or ClusterIssuer
// (observedGeneration: the generation the workflow worked for) and, when an
// account is known, status.acme (uri, lastRegisteredEmail,
// lastPrivateKeyHash); a failure without an account leaves status.acme as it
// was. A workflow for an older generation than the issuer's (Generation set
// and lower) writes nothing: the newer generation's workflow reports. Then it records the Event, if one
// is given.
func (a *Activities) UpdateIssuerStatus(ctx context.Context, in activities.IssuerStatus) (activities.UpdateIssuerStatusResult, error) {
	var (
		obj    client.Object
		status *certflowv1.IssuerStatus
		key    = types.NamespacedName{Name: in.Issuer.Name}
	)
	switch in.Issuer.Kind {
	case certflowv1.ClusterIssuerKind:
		ci := &certflowv1.ClusterIssuer{}
		obj, status = ci, &ci.Status
	case certflowv1.IssuerKind, "":
		is := &certflowv1.Issuer{}
		obj, status, key.Namespace = is, &is.Status, in.Issuer.Namespace
	default:
		return activities.UpdateIssuerStatusResult{}, fmt.Errorf("writing status of %s: unknown issuer kind %q", in.Issuer, in.Issuer.Kind)
	}

	stale := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := a.Kube.Get(ctx, key, obj); err != nil {
			return err
		}
		if stale = in.Generation != 0 && in.Generation < obj.GetGeneration(); stale {
			return nil
		}
		ready := in.Ready
		if ready.Type == "" {
			ready.Type = certflowv1.ConditionReady
		}
		meta.SetStatusCondition(&status.Conditions, condition(ready, in.Generation))
		if in.AccountURL != "" {
			status.ACME = &certflowv1.ACMEIssuerStatus{
				URI: in.AccountURL, LastRegisteredEmail: in.Email, LastPrivateKeyHash: in.KeySHA256,
			}
		}
		return a.Kube.Status().Update(ctx, obj)
	})
	if apierrors.IsNotFound(err) || stale {
		return activities.UpdateIssuerStatusResult{}, nil
	}
	if err != nil {
		return activities.UpdateIssuerStatusResult{}, fmt.Errorf("writing status of %s: %w", in.Issuer, err)
	}
	a.record(obj, in.Event)
	return activities.UpdateIssuerStatusResult{}, nil
}
