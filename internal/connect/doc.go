// Package connect opens certflow's connections to Temporal and Kubernetes and
// checks, before anything else runs, that each is reachable and ready (the
// namespace exists, the CRDs are installed), so that a misconfigured process
// stops at once with a message that says what to fix. Every Temporal client it
// makes carries certflow's payload codec (internal/codec) when one is given. It
// must not import the controller, worker, workflows or activities.
package connect
