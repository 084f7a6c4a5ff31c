// Package codec encrypts Temporal payloads for certflow users who treat domain
// names as sensitive: a converter.PayloadCodec that seals every payload with
// AES-256-GCM under the first of a ring of keys and opens it with whichever key
// its metadata names, so keys can be rotated; the key file format; and the
// HTTP handler `certflow codec-server` serves to the Temporal Web UI.
//
// A codec with no keys leaves payloads as they are but refuses encrypted ones
// with a message saying which key they need: a certflow started without the key
// fails its workflow tasks (Temporal retries them, a worker with the key can
// take them) instead of failing the workflows.
//
// It imports the Temporal SDK's converter and the standard library only; it must
// not import the controller, worker, workflows or activities.
package codec
