// Package dns defines what a DNS-01 provider does for certflow: make sure a
// TXT record exists (Present) and that it is gone (CleanUp), both idempotent,
// so that a retried activity finds what an earlier attempt made. One folder
// per provider implements it and offers a Kind, which builds the provider
// from an issuer's dns01 solver; the registry of kinds is in
// activities/challenges/dns01. Providers must not import workflows.
package dns

import (
	"context"
	"errors"

	"k8s.io/client-go/rest"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// TXT is one challenge record.
type TXT struct {
	// FQDN is the record's name with the trailing dot ("_acme-challenge.example.com.").
	FQDN string
	// Value is the key authorization digest the CA looks for.
	Value string
	// KeyAuthorization is the key authorization whose digest Value is, for
	// providers that compute the digest themselves (lego's); others ignore it.
	KeyAuthorization string
	// Identifier is the name the record proves, without a wildcard's "*."
	// (the CA's identifier): FQDN's name unless a CNAME was followed.
	Identifier string
	// TTL in seconds; providers use their default when 0.
	TTL int
}

// Provider creates and removes challenge TXT records in one DNS service.
// Errors that no retry can mend (a refused key, a zone the service does not
// hold) are marked Permanent; any other error may pass on a retry.
type Provider interface {
	// Present makes sure the record exists and returns the zone it was made
	// in. A record that exists already is left as it is; other values at
	// the same name stay.
	Present(ctx context.Context, rec TXT) (zone string, err error)
	// CleanUp makes sure the record (this value only) is gone. A record that
	// is gone already is not an error.
	CleanUp(ctx context.Context, rec TXT) error
}

// Kind is one kind of provider, as an issuer's dns01 solver configures it.
type Kind struct {
	// Name is the field of the dns01 solver that configures it ("rfc2136").
	Name string
	// Configured says whether the solver uses this kind.
	Configured func(solver *certflowv1.ACMEChallengeSolverDNS01) bool
	// New builds the provider from the solver and what the worker gives it.
	// A configuration it refuses is a Permanent error; the errors of
	// Credentials are passed on as they are.
	New func(ctx context.Context, solver *certflowv1.ACMEChallengeSolverDNS01, setup Setup) (Provider, error)
}

// Setup is what a provider is built with besides its solver section.
type Setup struct {
	// Credentials reads the Secrets the solver refers to.
	Credentials Credentials
	// Endpoint, when set, replaces the address of the service's API (the
	// worker's --dns01-endpoint): for API-compatible services, proxies, and
	// the stand-ins of the tests.
	Endpoint string
	// AmbientCredentials allows the worker's own cloud identity (environment,
	// IRSA, pod or managed identity, instance role) when the solver names no
	// keys: for ClusterIssuers always, for Issuers only when the worker's
	// --issuer-ambient-credentials says so, as in cert-manager.
	AmbientCredentials bool
	// ResourceNamespace is where the solver's Secrets and other resources
	// are: the Issuer's namespace, or the cluster resource namespace for a
	// ClusterIssuer.
	ResourceNamespace string
	// Resolvers are the worker's DNS resolvers (host:port), for providers
	// that must find the zone of a name themselves, or see what a name
	// serves already.
	Resolvers []string
	// Kubernetes reaches the cluster's API server as the worker, for
	// providers served through it (cert-manager's webhook solvers).
	Kubernetes *rest.Config
}

// Credentials reads the Secrets a solver refers to, from the one namespace
// its issuer may read them from. A Secret or key that is missing is a
// configuration error; the error never holds a Secret's data.
type Credentials interface {
	SecretValue(ctx context.Context, name, key string) ([]byte, error)
}

// permanent is an error no retry can mend, of a class when it is known.
type permanent struct {
	err    error
	reason string
}

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that no retry can mend: a user must fix the
// configuration (or the DNS service's).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err}
}

// Classes of permanent errors.
const (
	// ZoneNotServed: the server or account does not serve the record's zone.
	ZoneNotServed = activities.ReasonDNSZoneNotServed
	// AuthFailed: the service refuses the credentials.
	AuthFailed = activities.ReasonDNSAuthFailed
)

// PermanentBecause is Permanent with the class of the error (ZoneNotServed,
// AuthFailed), which the Certificate's conditions give as their reason.
func PermanentBecause(reason string, err error) error {
	if err == nil {
		return nil
	}
	return permanent{err: err, reason: reason}
}

// RefusedWith is Permanent, with the class an HTTP status of a DNS API says:
// 401 and 403 refuse the credentials (AuthFailed), 404 has no such zone
// (ZoneNotServed); other statuses give no class.
func RefusedWith(status int, err error) error {
	switch status {
	case 401, 403:
		return PermanentBecause(AuthFailed, err)
	case 404:
		return PermanentBecause(ZoneNotServed, err)
	}
	return Permanent(err)
}

// IsPermanent says whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// PermanentReason is the class of a permanent error, "" when it has none.
func PermanentReason(err error) string {
	var p permanent
	if errors.As(err, &p) {
		return p.reason
	}
	return ""
}
