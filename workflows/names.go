// Package workflows holds certflow's Temporal workflows and the names that make
// them API: the task queue, workflow IDs, signals and queries. Workflows decide
// and activities act: nothing here does I/O, reads the clock or randomness, or
// ranges over maps (DESIGN.md section 3). It may import Temporal's workflow and
// temporal packages and the activities' types, nothing else of certflow.
package workflows

// TaskQueue is the default task queue that certflow's workers poll and its
// controller starts workflows on. Registered names are API: never rename them.
const TaskQueue = "certflow"

// CertificateWorkflowID is the ID of the workflow that owns one Certificate's
// life: "certificate/<namespace>/<name>".
func CertificateWorkflowID(namespace, name string) string {
	return "certificate/" + namespace + "/" + name
}
