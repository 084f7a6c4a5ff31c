// Package activities holds what certflow's activities share: their registered
// names (API: never rename), their input and result types, and the error types
// that classify failures once at the activity boundary. The activities
// themselves live in sub-packages by family: acme (account and order steps),
// challenges (DNS-01 records and propagation), secrets (the target TLS
// Secret), status (Certificate and Issuer status, Events) and permits (the
// account limiter's new-order permits); issuers reads issuers and their
// credentials for them.
//
// Nothing here is secret: inputs and results are recorded in workflow history,
// so they carry references to Secrets and public data (CSR, chain, serial,
// notAfter), never keys, HMACs or credentials (DESIGN.md section 5).
// This package imports only the standard library.
package activities
