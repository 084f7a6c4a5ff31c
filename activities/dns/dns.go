// Package dns defines what a DNS-01 provider does for certflow's activities:
// make sure a TXT record exists (Present) and that it is gone (CleanUp), both
// idempotent, so a retried activity finds what an earlier attempt made. One
// folder per provider implements it. Providers must not import workflows.
package dns

import "context"

// TXT is one challenge record.
type TXT struct {
	// FQDN is the record's name with the trailing dot ("_acme-challenge.example.com.").
	FQDN string
	// Value is the key authorization digest the CA looks for.
	Value string
	// TTL in seconds; providers use their default when 0.
	TTL int
}

// Provider creates and removes challenge TXT records in one DNS service.
type Provider interface {
	// Present makes sure the record exists and returns the zone it was made
	// in. A record that exists already is left as it is.
	Present(ctx context.Context, rec TXT) (zone string, err error)
	// CleanUp makes sure the record (this value only) is gone. A record that
	// is gone already is not an error.
	CleanUp(ctx context.Context, rec TXT) error
}
