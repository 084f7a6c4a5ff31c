package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// newStatusCommand builds `status`: why one Certificate is or is not ready,
// on one screen. Kubernetes says what was last written; the workflow's status
// query says what is happening now. When Temporal cannot be reached, the
// Kubernetes half still prints, with the reason the other half is missing.
func newStatusCommand(opts *options) *cobra.Command {
	var l lookup
	cmd := &cobra.Command{
		Use:   "status [-n NAMESPACE] CERT",
		Short: "Show why a Certificate is or is not ready: conditions, issuer, Secret and live workflow state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := l.checkOutput(); err != nil {
				return err
			}
			report, err := opts.certificateStatus(cmd.Context(), l.resolveNamespace(opts.kubeconfig), args[0])
			if err != nil {
				return err
			}
			if l.output != "" {
				return writeStructured(cmd.OutOrStdout(), l.output, report)
			}
			return report.write(cmd.OutOrStdout(), time.Now())
		},
	}
	l.bindNamespace(cmd, false)
	l.bindOutput(cmd)
	return cmd
}

// statusReport is what `status -o json` prints: stable field names.
type statusReport struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	SecretName  string            `json:"secretName"`
	Conditions  []conditionReport `json:"conditions"`
	NotBefore   *time.Time        `json:"notBefore,omitempty"`
	NotAfter    *time.Time        `json:"notAfter,omitempty"`
	RenewalTime *time.Time        `json:"renewalTime,omitempty"`
	Revision    int               `json:"revision,omitempty"`
	IssuedBy    string            `json:"issuedBy,omitempty"`
	Issuer      issuerReport      `json:"issuer"`
	Secret      storedReport      `json:"secret"`
	Workflow    workflowReport    `json:"workflow"`
}

type conditionReport struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

type issuerReport struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Found   bool   `json:"found"`
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// storedReport is the certificate in the Certificate's Secret.
type storedReport struct {
	Found bool `json:"found"`
	// Problem says why the Secret does not serve the Certificate: missing,
	// unreadable, key not the leaf's, expired, other names.
	Problem string      `json:"problem,omitempty"`
	Leaf    *certReport `json:"leaf,omitempty"`
}

// workflowReport is the workflow's live state, from its status query.
type workflowReport struct {
	ID  string `json:"id"`
	URL string `json:"url,omitempty"`
	// Available is false when the state could not be read; Unavailable says why.
	Available         bool                  `json:"available"`
	Unavailable       string                `json:"unavailable,omitempty"`
	Execution         string                `json:"execution,omitempty"`
	Step              string                `json:"step,omitempty"`
	Revision          int                   `json:"revision,omitempty"`
	Authorizations    []authorizationReport `json:"authorizations,omitempty"`
	LastFailureTime   *time.Time            `json:"lastFailureTime,omitempty"`
	LastFailure       string                `json:"lastFailure,omitempty"`
	FailedAttempts    int                   `json:"failedAttempts,omitempty"`
	NextAttemptTime   *time.Time            `json:"nextAttemptTime,omitempty"`
	NextAttemptReason string                `json:"nextAttemptReason,omitempty"`
}

type authorizationReport struct {
	Identifier string `json:"identifier"`
	Wildcard   bool   `json:"wildcard,omitempty"`
	State      string `json:"state"`
	Challenge  string `json:"challenge,omitempty"`
	FQDN       string `json:"fqdn,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (o *options) certificateStatus(ctx context.Context, namespace, name string) (*statusReport, error) {
	kube, cfg, err := o.kubeClient()
	if err != nil {
		return nil, err
	}
	cert, err := getCertificate(ctx, kube, namespace, name)
	if err != nil {
		return nil, err
	}
	st := cert.Status
	r := &statusReport{Namespace: cert.Namespace, Name: cert.Name, SecretName: cert.Spec.SecretName, IssuedBy: st.IssuedBy,
		NotBefore: timeOf(st.NotBefore), NotAfter: timeOf(st.NotAfter), RenewalTime: timeOf(st.RenewalTime)}
	if st.Revision != nil {
		r.Revision = *st.Revision
	}
	for _, c := range st.Conditions {
		r.Conditions = append(r.Conditions, conditionReport{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime.UTC()})
	}
	r.Issuer = issuerOf(ctx, kube, cert)
	r.Secret = storedOf(ctx, kube, cert, time.Now())
	r.Workflow = o.workflowOf(ctx, cfg, cert)
	return r, nil
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := t.UTC()
	return &v
}

func issuerOf(ctx context.Context, kube client.Client, cert *certflowv1.Certificate) issuerReport {
	ref, err := certificates.IssuerOf(cert)
	if err != nil {
		return issuerReport{Kind: cert.Spec.IssuerRef.Kind, Name: cert.Spec.IssuerRef.Name, Message: err.Error()}
	}
	r := issuerReport{Kind: ref.Kind, Name: ref.Name}
	obj, err := certflowv1.NewIssuerObject(ref.Kind)
	if err != nil {
		r.Message = err.Error()
		return r
	}
	err = kube.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		r.Message = fmt.Sprintf("%s %q does not exist: create it or fix spec.issuerRef", ref.Kind, ref.Name)
		return r
	case err != nil:
		r.Message = fmt.Sprintf("getting %s: %v", ref, err)
		return r
	}
	r.Found = true
	if c := meta.FindStatusCondition(obj.IssuerStatus().Conditions, certflowv1.ConditionReady); c != nil {
		r.Ready, r.Reason, r.Message = c.Status == "True", c.Reason, c.Message
	} else {
		r.Message = "no Ready condition yet: is certflow running?"
	}
	return r
}

// storedOf reads the Certificate's Secret and says whether it serves the
// Certificate: readable, the key is the leaf's, not expired, the names asked.
func storedOf(ctx context.Context, kube client.Client, cert *certflowv1.Certificate, now time.Time) storedReport {
	var s corev1.Secret
	err := kube.Get(ctx, client.ObjectKey{Namespace: cert.Namespace, Name: cert.Spec.SecretName}, &s)
	if apierrors.IsNotFound(err) {
		return storedReport{Problem: fmt.Sprintf("Secret %s does not exist yet: it is written when the first issuance succeeds", cert.Spec.SecretName)}
	}
	if err != nil {
		return storedReport{Problem: fmt.Sprintf("getting Secret %s: %v", cert.Spec.SecretName, err)}
	}
	d := decodeSecret(&s)
	r := storedReport{Found: true, Problem: d.Problem}
	if len(d.Certificates) == 0 {
		return r
	}
	r.Leaf = &d.Certificates[0]
	if r.Problem == "" {
		r.Problem = d.KeyProblem
	}
	if r.Problem == "" {
		r.Problem = leafMismatch(*r.Leaf, certificates.RequestOf(cert), now)
	}
	return r
}

// leafMismatch says how the stored leaf differs from what the Certificate
// asks, in the terms the workflow uses: expired, other DNS names or IPs.
func leafMismatch(leaf certReport, req activities.Request, now time.Time) string {
	if !now.Before(leaf.NotAfter) {
		return "the certificate expired at " + leaf.NotAfter.Format(time.RFC3339)
	}
	want := normalNames(append(append([]string{req.CommonName}, req.DNSNames...), req.IPAddresses...))
	have := normalNames(append(append([]string{req.CommonName}, leaf.DNSNames...), leaf.IPAddresses...))
	if strings.Join(want, " ") != strings.Join(have, " ") {
		return fmt.Sprintf("the certificate's names are [%s], the Certificate asks for [%s]", strings.Join(have, " "), strings.Join(want, " "))
	}
	return ""
}

func (o *options) workflowOf(ctx context.Context, cfg *rest.Config, cert *certflowv1.Certificate) workflowReport {
	r := workflowReport{URL: cert.Status.WorkflowURL}
	id, err := o.workflowIDOf(ctx, cfg, cert)
	if err != nil {
		r.Unavailable = err.Error()
		return r
	}
	r.ID = id
	if o.temporalUIURL != "" {
		r.URL = strings.TrimRight(o.temporalUIURL, "/") + "/namespaces/" + url.PathEscape(o.temporal.Namespace) + "/workflows/" + url.PathEscape(id)
	}
	tc, err := o.dialTemporal(ctx)
	if err != nil {
		r.Unavailable = err.Error()
		return r
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(ctx, o.queryTimeout())
	defer cancel()
	desc, err := tc.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		r.Unavailable = fmt.Sprintf("workflow %s does not exist: the controller starts it once the issuer exists; is certflow's controller running with this --cluster-name?", id)
		return r
	}
	if err != nil {
		r.Unavailable = fmt.Sprintf("describing workflow %s: %v", id, err)
		return r
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	r.Execution = strings.TrimPrefix(status.String(), "WorkflowExecutionStatus")
	v, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		why := err.Error()
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			why = fmt.Sprintf("no worker answered within %s: is certflow's worker running on its task queue?", o.queryTimeout())
		}
		if status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			why = "the workflow is not running (" + r.Execution + "): " + why
		}
		r.Unavailable = "querying workflow status: " + why
		return r
	}
	var live activities.CertificateStatus
	if err := v.Get(&live); err != nil {
		r.Unavailable = fmt.Sprintf("decoding workflow status: %v", err)
		return r
	}
	r.Available = true
	r.fill(live)
	return r
}

// queryTimeout bounds the describe and the query: a workflow with no worker
// polling its task queue leaves a query waiting.
func (o *options) queryTimeout() time.Duration {
	if o.connectTimeout > 0 {
		return o.connectTimeout
	}
	return 10 * time.Second
}

func (r *workflowReport) fill(live activities.CertificateStatus) {
	r.Step, r.Revision = live.Step, live.Revision
	r.FailedAttempts, r.NextAttemptReason = live.FailedAttempts, live.NextAttemptReason
	if !live.LastFailureTime.IsZero() {
		t := live.LastFailureTime.UTC()
		r.LastFailureTime = &t
		for _, c := range live.Conditions {
			if c.Type == certflowv1.ConditionIssuing {
				r.LastFailure = c.Message
			}
		}
	}
	if !live.NextAttemptTime.IsZero() {
		t := live.NextAttemptTime.UTC()
		r.NextAttemptTime = &t
	}
	for _, az := range live.Authorizations {
		r.Authorizations = append(r.Authorizations, authorizationReport{
			Identifier: az.Identifier, Wildcard: az.Wildcard, State: az.Status,
			Challenge: az.Challenge.Type, FQDN: az.Challenge.FQDN, Error: az.Challenge.ValidateError,
		})
	}
}

// normalNames are DNS names (lower case, no trailing dot) and IP addresses
// (canonical), sorted, without blanks or repeats: the common name counts as
// a name on both sides, since ACME CAs repeat it as a SAN.
func normalNames(in []string) []string {
	var out []string
	for _, n := range in {
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			out = append(out, ip.String())
		} else {
			out = append(out, strings.ToLower(strings.TrimSuffix(n, ".")))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
