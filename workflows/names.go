// Package workflows holds certflow's Temporal workflows and the names that make
// them API: the task queue, signals and queries (workflow IDs are in package
// activities, whose activities check them). Workflows decide
// and activities act: nothing here does I/O, reads the clock or randomness, or
// ranges over maps (DESIGN.md section 3; `make test` runs workflowcheck). It
// may import Temporal's workflow and temporal packages and package activities
// (names and types), nothing else of certflow.
package workflows

// TaskQueue is the default task queue that certflow's workers poll and its
// controller starts workflows on.
const TaskQueue = "certflow"

// Registered workflow, signal and query names: API, never renamed.
const (
	CertificateWorkflowName = "Certificate"
	OrderWorkflowName       = "Order"
	IssuerWorkflowName      = "Issuer"

	// SignalSpec carries a activities.CertificateSpec: the controller sends it (with
	// SignalWithStart) whenever the Certificate's generation changes or its
	// target Secret changes.
	SignalSpec = "spec"
	// SignalRenew forces a renewal now, skipping any backoff. It takes no value.
	SignalRenew = "renew"
	// SignalRecheck makes an Issuer workflow that waits after a failure try
	// again now: the controller sends it when a Secret the issuer reads
	// changes. It takes no value.
	SignalRecheck = "recheck"
	// QueryStatus returns a CertificateStatus.
	QueryStatus = "status"
)
