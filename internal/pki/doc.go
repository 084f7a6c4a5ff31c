// Package pki holds certflow's key and certificate helpers: private keys in the
// algorithms and encodings a Certificate's spec.privateKey names, and a
// throwaway CA with serving certificates for the sandbox's loopback servers.
// It imports only the standard library.
package pki
