// Package workflows holds certflow's Temporal workflows and the names that make
// them API: the task queue, workflow IDs, signals and queries. Workflows decide
// and activities act: nothing here does I/O, reads the clock or randomness, or
// ranges over maps (DESIGN.md section 3; `make test` runs workflowcheck). It
// may import Temporal's workflow and temporal packages and package activities
// (names and types), nothing else of certflow.
package workflows

import (
	"strconv"

	"github.com/certflow/certflow/activities"
)

// TaskQueue is the default task queue that certflow's workers poll and its
// controller starts workflows on.
const TaskQueue = "certflow"

// Registered workflow, signal and query names: API, never renamed.
const (
	CertificateWorkflowName = "Certificate"
	OrderWorkflowName       = "Order"
	IssuerWorkflowName      = "Issuer"

	// SignalSpec carries a CertificateSpec: the controller sends it (with
	// SignalWithStart) whenever the Certificate's generation changes or its
	// target Secret changes.
	SignalSpec = "spec"
	// SignalRenew forces a renewal now, skipping any backoff. It takes no value.
	SignalRenew = "renew"
	// QueryStatus returns a CertificateStatus.
	QueryStatus = "status"
)

// CertificateWorkflowID is the ID of the workflow that owns one Certificate's
// life: "certificate/<namespace>/<name>".
func CertificateWorkflowID(namespace, name string) string {
	return "certificate/" + namespace + "/" + name
}

// orderWorkflowID is the ID of an Order child: its parent's, the revision it
// issues and the attempt at it.
func orderWorkflowID(certificateWorkflowID string, revision, attempt int) string {
	return certificateWorkflowID + "/order/" + strconv.Itoa(revision) + "/" + strconv.Itoa(attempt)
}

// IssuerWorkflowID is the ID of the workflow that registers an issuer's ACME
// account for one generation of one object (uid: an issuer deleted and made
// again under its name starts at generation 1 anew):
// "issuer/<kind>/<namespace>/<name>/<uid>/<generation>" (namespace empty for a
// ClusterIssuer).
func IssuerWorkflowID(ref activities.IssuerRef, uid string, generation int64) string {
	return "issuer/" + ref.Kind + "/" + ref.Namespace + "/" + ref.Name + "/" + uid + "/" + strconv.FormatInt(generation, 10)
}
