// Package sandbox starts and stops the real parts certflow talks to, on free
// loopback ports, for the tests and the demo: etcd + kube-apiserver (envtest)
// with certflow's CRDs, the Temporal dev server, BIND authoritative for a test
// zone with a TSIG key, and Pebble resolving through that BIND.
//
// Each part is started on its own (StartKubernetes, StartTemporal, StartBIND,
// StartPebble) so that independent tests run in parallel with only what they
// need; Start brings up the whole stack. Every part writes its log to a file in
// its directory, and errors from a part that did not come up carry the tail of
// that log. The binaries come from bin/ (make tools) or $CERTFLOW_BIN.
//
// The sandbox is test and demo infrastructure: product packages must not import it.
package sandbox
