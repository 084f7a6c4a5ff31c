// Package keys holds EnsurePendingKey, the first step of every issuance
// whatever its issuer's type: it checks that the issuance can go ahead, then
// makes (or finds again) the issuance's private key and its CSR. The key
// lives in a pending key Secret until StoreSecret moves it into the target
// Secret; only its public half and the CSR leave this package. It must not
// import workflows.
package keys

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/issuers"
)

// Activities make pending keys.
type Activities struct {
	// Kube reads and writes Secrets by name, straight from the API server
	// (certflow caches no Secret data), and reads Certificates.
	Kube client.Client
	// Issuers resolves the Certificate's issuer.
	Issuers *issuers.Resolver
	// Certificates checks that the input matches the Certificate.
	Certificates *certificates.Reader
	// Types are the issuer types certflow issues from, by
	// activities.IssuerType*: each checks a request before its key is made.
	Types map[string]issuers.Type
}

// Bindings are the activities with their implementations, to register.
func (a *Activities) Bindings() []activities.Binding {
	return []activities.Binding{activities.EnsurePendingKey.Bind(a.EnsurePendingKey)}
}
