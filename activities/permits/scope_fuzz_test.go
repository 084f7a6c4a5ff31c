package permits_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/certflow/certflow/activities/permits"
)

// FuzzRateLimitScope checks what Scope reads from a CA's rate-limit detail
// (free text from the CA) about an order's names: the limit is on the
// account, on one identifier or on the exact set of names, never two of
// these; an identifier is always one of the order's names or registered
// domains, so a CA cannot make certflow hold back names the order does not
// have; the set is the order's names as Names writes them; and a detail
// that says "from this account" holds the account. Names are sorted,
// lower-case, non-empty and unique.
func FuzzRateLimitScope(f *testing.F) {
	names := "www.example.com,api.example.com"
	for _, detail := range []string{
		"too many new orders (300) from this account in the last 3h0m0s, retry after 2026-03-01T15:00:00Z",
		`too many certificates (50) already issued for "example.com" in the last 168h0m0s, retry after 2026-03-08 12:00:00 UTC`,
		`too many failed authorizations (5) for "www.example.com" in the last 1h0m0s`,
		"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s",
		`too many certificates (50) already issued for "other.test"`,
		`too many certificates (50) already issued for "EXAMPLE.COM."`,
		`"" "example.com"`,
		`"example.com`,
		"slow down",
		"",
	} {
		f.Add(detail, names)
	}
	f.Add(`too many certificates (50) already issued for "192.0.2.1"`, "192.0.2.1")
	f.Add(`too many certificates (50) already issued for "2001:db8::/64"`, "2001:db8::1,2001:db8::2")
	f.Add(`too many certificates (50) already issued for "co.uk"`, "co.uk, WWW.Example.co.uk.")
	f.Add(`too many certificates for "example.com"`, "*.example.com")
	f.Fuzz(func(t *testing.T, detail, orderNames string) {
		order := strings.Split(orderNames, ",")
		identifier, nameSet, guessed := permits.Scope(detail, order)
		if identifier != "" && nameSet != nil {
			t.Fatalf("Scope holds both %q and %v", identifier, nameSet)
		}
		if guessed && (identifier != "" || nameSet != nil) {
			t.Fatalf("Scope guessed the account, yet holds %q %v", identifier, nameSet)
		}
		normalized := permits.Names(order)
		if identifier != "" && !slices.Contains(normalized, identifier) && !slices.Contains(permits.RegisteredDomains(normalized), identifier) {
			t.Fatalf("Scope holds %q, which is none of the order's names %v or their registered domains", identifier, normalized)
		}
		if nameSet != nil && !slices.Equal(nameSet, normalized) {
			t.Fatalf("Scope holds the set %v, the order's names are %v", nameSet, normalized)
		}
		if strings.Contains(strings.ToLower(detail), "from this account") && (identifier != "" || nameSet != nil || guessed) {
			t.Fatalf("a limit %q of the account holds %q %v", detail, identifier, nameSet)
		}
		for i, n := range normalized {
			if n == "" || n != strings.ToLower(n) || i > 0 && normalized[i-1] >= n {
				t.Fatalf("Names %v: %q is empty, not lower case, out of order or repeated", normalized, n)
			}
		}
	})
}
