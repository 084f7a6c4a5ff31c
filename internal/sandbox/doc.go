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
// For fault tests, parts stop and start again where they were (Temporal with
// its database file, the API server on its port with etcd's data, BIND with
// its journal), and proxies stand between certflow and a part to hold,
// refuse or break what passes: ACMEProxy in front of Pebble (delays, 429s,
// 500s, refusals, and a count of every request), a DNS proxy in front of
// BIND and a Kubernetes proxy in front of the API server (holding a step
// open so that a test can kill certflow in it).
//
// The sandbox is test and demo infrastructure: product packages must not import it.
package sandbox
