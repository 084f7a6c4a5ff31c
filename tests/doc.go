// Package tests holds certflow's end-to-end tests: each starts the real parts it
// needs (internal/sandbox) on its own loopback ports and drives certflow as a
// user would, through the Kubernetes API, the Temporal API and the CLI.
package tests
