// Package status holds the activities that write what the workflows decide
// into Kubernetes: the status subresource of Certificates, Issuers and
// ClusterIssuers, and the Events that go with it. The workflows are the only
// writers of that status, so a write replaces what is there (keeping each
// condition's lastTransitionTime while its status does not change). An
// object that is gone is being deleted: nothing to write, and no error.
//
// This package must not import workflows.
package status

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
)

// Activities writes status and Events.
type Activities struct {
	// Kube reads and writes certflow's kinds and their status subresource.
	Kube client.Client
	// Recorder records Events; nil records none.
	Recorder EventRecorder
	// UIBaseURL is the Temporal Web UI's address (https://temporal.example.com),
	// for status.workflowURL; empty writes no URL.
	UIBaseURL string
	// TemporalNamespace is the Temporal namespace the workflows run in.
	TemporalNamespace string
	// Writers refuses a Certificate status write, or its Event, from a
	// workflow that is neither the Certificate's own nor an Order it
	// started (certificates.Writers): a workflow's input can be anyone's.
	Writers WriterCheck
}

// WriterCheck says whether the workflow running an activity may write the
// Certificate's status.
type WriterCheck interface {
	Check(ctx context.Context, ref activities.CertificateRef) error
}

// EventRecorder records an Event about an object. client-go's
// record.EventRecorder satisfies it (the worker builds one with
// record.NewBroadcaster); its scheme must know certflow's kinds.
type EventRecorder interface {
	Event(object runtime.Object, eventtype, reason, message string)
}

// Bindings are the activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{
		activities.UpdateCertificateStatus.Bind(a.UpdateCertificateStatus),
		activities.UpdateIssuerStatus.Bind(a.UpdateIssuerStatus),
	}
}

// workflowURL links the workflow in the Temporal Web UI:
// <base>/namespaces/<namespace>/workflows/<id>, each part escaped (a
// Certificate's workflow ID holds slashes).
func (a *Activities) workflowURL(id string) string {
	if a.UIBaseURL == "" || id == "" {
		return ""
	}
	ns := a.TemporalNamespace
	if ns == "" {
		ns = "default"
	}
	return strings.TrimRight(a.UIBaseURL, "/") + "/namespaces/" + url.PathEscape(ns) + "/workflows/" + url.PathEscape(id)
}

// record records the Event, if any, about obj. The recorder sends it in the
// background; an Event is a notice, not state, so a lost one is not retried.
func (a *Activities) record(obj runtime.Object, ev *activities.Event) {
	if a.Recorder == nil || ev == nil {
		return
	}
	typ := corev1.EventTypeNormal
	if ev.Type == corev1.EventTypeWarning {
		typ = corev1.EventTypeWarning
	}
	a.Recorder.Event(obj, typ, validReason(ev.Reason), truncate(ev.Message, maxEventMessage))
}

// Limits of the API server's validation: a status or Event that breaks one
// is refused whole, so certflow's text is made to fit instead.
const (
	maxConditionMessage = 32768
	// maxAuthorizationMessage keeps the status of an order's authorizations
	// (up to 100 names at Let's Encrypt) far below the size the API server
	// takes for a whole object (1.5 MB): 100 of 32 KiB would not be.
	maxAuthorizationMessage = 1024
	maxEventMessage         = 1024 // events.k8s.io's limit; core/v1 Events are kept as short
	maxReason               = 128
)

var reasonPattern = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`)

// validReason is reason if the API accepts it as a condition or Event
// reason, else "Unspecified".
func validReason(reason string) string {
	if len(reason) > maxReason || !reasonPattern.MatchString(reason) {
		return "Unspecified"
	}
	return reason
}

// truncate cuts s to at most n bytes on a rune boundary. It looks back at
// most three bytes for one: invalid UTF-8 before the cut (a DNS server's TXT
// record, say) must not cost the whole message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for back := 0; back < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); back++ {
		cut--
	}
	return s[:cut] + "..."
}
