package status

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// WriteProgress writes the step an issuance is in, and its authorizations
// when the step has them, into the Certificate's status, leaving the rest of
// the status as the workflow last wrote it. The worker calls it for a step
// that takes a while; it is not an activity.
func (a *Activities) WriteProgress(ctx context.Context, p activities.Progress) error {
	if err := a.Writers.Check(ctx, p.Certificate); err != nil {
		return err
	}
	st := map[string]any{"step": p.Step}
	if p.Authorizations != nil {
		st["authorizations"] = authorizations(p.Authorizations)
	}
	patch, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return fmt.Errorf("encoding the progress of Certificate %s: %w", p.Certificate, err)
	}
	cert := certflowv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: p.Certificate.Namespace, Name: p.Certificate.Name}}
	err = a.Kube.Status().Patch(ctx, &cert, client.RawPatch(types.MergePatchType, patch))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing the progress of Certificate %s: %w", p.Certificate, err)
	}
	return nil
}
