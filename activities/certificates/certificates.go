// Package certificates reads Certificates for the activities: the spec, as
// the workflow's own type, and whether an activity's input matches what the
// API server says. Temporal is not a trust boundary: whoever can start or
// signal a workflow can hand an activity any input, so every activity that
// writes a Secret, uses an issuer's account or credentials, or asks a CA,
// checks first that the Certificate it acts for exists, names that issuer
// (as its issuerRef or a fallback) and asks for exactly that request. A
// signal is a hint to look again, never an order. It must not import
// workflows.
package certificates

import (
	"context"
	"fmt"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Reader reads Certificates.
type Reader struct {
	// Kube reads from the API server.
	Kube client.Reader
	// Cache, when set, is read first: the worker's cache of certflow's
	// kinds. A Certificate it does not have, or whose spec does not match,
	// is read again from Kube before anything is refused.
	Cache client.Reader
	// Recorder records the Warning Event of a refusal; nil records none.
	Recorder EventRecorder
}

// EventRecorder records an Event about an object (client-go's
// record.EventRecorder is one).
type EventRecorder interface {
	Event(object runtime.Object, eventtype, reason, message string)
}

// Read reads the Certificate, of generation at least generation, from the
// cache when it has that, else from the API server; nil when it does not
// exist.
func (r *Reader) Read(ctx context.Context, ref activities.CertificateRef, generation int64) (*certflowv1.Certificate, error) {
	if r.Cache != nil {
		if cert, err := r.get(ctx, r.Cache, ref); err == nil && cert != nil && cert.Generation >= generation {
			return cert, nil
		}
	}
	return r.get(ctx, r.Kube, ref)
}

func (r *Reader) get(ctx context.Context, from client.Reader, ref activities.CertificateRef) (*certflowv1.Certificate, error) {
	var cert certflowv1.Certificate
	err := from.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &cert)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Certificate %s: %w", ref, err)
	}
	return &cert, nil
}

// Claim is what an activity says it does for a Certificate.
type Claim struct {
	Certificate activities.CertificateRef
	// Issuer is the issuer whose account or credentials it uses.
	Issuer activities.IssuerRef
	// Request, when set, is the certificate it works towards.
	Request *activities.Request
	// Identifiers, when set, are names it acts on (a challenge's), each of
	// which the Certificate must ask for; a wildcard starts with "*.".
	Identifiers []string
}

// Check returns the Certificate when the claim matches it, and refuses it
// (non-retryable ErrTypeMismatch, with a Warning Event on the Certificate)
// when it does not: the Certificate does not exist, does not name the
// issuer, or asks for another request or other names. The workflow of a
// Certificate whose spec changed meanwhile hears of the change and looks
// again.
func (r *Reader) Check(ctx context.Context, c Claim) (*certflowv1.Certificate, error) {
	var cert *certflowv1.Certificate
	var why string
	var err error
	for _, from := range r.readers() {
		if cert, err = r.get(ctx, from, c.Certificate); err != nil {
			return nil, err
		}
		if why = mismatch(cert, c); why == "" {
			return cert, nil
		}
	}
	return nil, r.refuse(ctx, c.Certificate, cert, why)
}

// refuse logs why an activity's input was refused, records it as a Warning
// Event on the Certificate when there is one, and returns the error.
func (r *Reader) refuse(ctx context.Context, ref activities.CertificateRef, cert *certflowv1.Certificate, why string) error {
	msg := fmt.Sprintf("refused: %s; nothing was done", why)
	workflowID := activity.GetInfo(ctx).WorkflowExecution.ID
	activity.GetLogger(ctx).Warn("refused an activity's input that does not match the API server",
		"namespace", ref.Namespace, "name", ref.Name, "workflowID", workflowID, "why", why)
	if cert != nil && r.Recorder != nil {
		r.Recorder.Event(cert, corev1.EventTypeWarning, "Refused", fmt.Sprintf("%s (workflow %s)", msg, workflowID))
	}
	return temporal.NewNonRetryableApplicationError(msg, activities.ErrTypeMismatch, nil)
}

func (r *Reader) readers() []client.Reader {
	if r.Cache == nil {
		return []client.Reader{r.Kube}
	}
	return []client.Reader{r.Cache, r.Kube}
}

// mismatch says how the claim differs from the Certificate, "" when it does not.
func mismatch(cert *certflowv1.Certificate, c Claim) string {
	if cert == nil {
		return fmt.Sprintf("Certificate %s does not exist", c.Certificate)
	}
	if !slices.Contains(issuersOf(cert), c.Issuer) {
		return fmt.Sprintf("Certificate %s does not name %s as its issuer or a fallback", c.Certificate, c.Issuer)
	}
	want := RequestOf(cert)
	if c.Request != nil && !sameRequest(*c.Request, want) {
		return fmt.Sprintf("Certificate %s asks for another certificate (generation %d)", c.Certificate, cert.Generation)
	}
	names := want.Identifiers()
	for _, id := range c.Identifiers {
		if !slices.Contains(names, id) {
			return fmt.Sprintf("Certificate %s does not ask for %s", c.Certificate, id)
		}
	}
	return ""
}

// issuersOf are the issuers a Certificate may be issued by: its issuerRef
// and its fallbacks.
func issuersOf(cert *certflowv1.Certificate) []activities.IssuerRef {
	var refs []activities.IssuerRef
	for _, r := range append([]certflowv1.ObjectReference{cert.Spec.IssuerRef}, cert.Spec.FallbackIssuerRefs...) {
		if ref, err := resolveRef(cert.Namespace, r); err == nil {
			refs = append(refs, ref)
		}
	}
	return refs
}
