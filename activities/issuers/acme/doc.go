// Package acme holds the activities that talk to an ACME CA (RFC 8555) for one
// issuance: EnsureAccount registers (or finds) the issuer's account,
// BeginOrder makes the pending key and the order and picks a challenge per
// authorization, Validate asks the CA to check them, Finalize sends the CSR
// and downloads the chain, and RenewalInfo asks the CA's ARI endpoint
// (RFC 9773) when to renew.
//
// Every step is idempotent: it looks again before it acts, and what a retry
// needs to find is stored in Kubernetes (the pending key Secret records its
// order URL), never in process memory. Keys stay in Secrets: no input or
// result carries a private key, an account key or an EAB HMAC. Errors are
// classified once, here (errors.go), into the types of package activities.
//
// It speaks ACME through lego's acme and acme/api packages only (never lego's
// root package or its DNS providers), and must not import workflows.
package acme
