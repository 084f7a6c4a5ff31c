// Package pki holds small certificate helpers shared by the sandbox and the tests:
// a throwaway CA and serving certificates for loopback servers. It does no I/O
// beyond what its callers ask for and imports only the standard library.
package pki
