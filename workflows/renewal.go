package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// RenewalPolicy is what a Certificate's spec says about when to renew.
type RenewalPolicy struct {
	// RenewBefore renews this long before notAfter.
	RenewBefore time.Duration
	// RenewBeforePercentage renews when this share of the lifetime is left.
	RenewBeforePercentage int
}

// Window is a span the CA suggests renewing in (ARI, RFC 9773).
type Window struct {
	Start, End time.Time
}

// maxJitter caps how far renewals are spread before their due time.
const maxJitter = time.Hour

// RenewalTime decides when a certificate valid from notBefore to notAfter is
// renewed. A window from the CA wins when it lies within the lifetime;
// inside it the time is spread by key.
// Otherwise the policy decides (renewBefore, else the percentage, else one
// third of the lifetime, as cert-manager does), a renewBefore as long as the
// lifetime falls back to the default, and the result moves earlier by up to 1%
// of the lifetime (at most an hour), spread by key, so that certificates issued
// together do not all renew in the same minute. key (the workflow ID) makes the
// spread stable across replays without randomness.
func RenewalTime(notBefore, notAfter time.Time, policy RenewalPolicy, ari *Window, key string) time.Time {
	spread := fraction(key)
	if ari != nil && ari.End.After(ari.Start) && !ari.Start.Before(notBefore) && !ari.End.After(notAfter) {
		return ari.Start.Add(time.Duration(spread * float64(ari.End.Sub(ari.Start))))
	}
	lifetime := notAfter.Sub(notBefore)
	before := lifetime / 3
	switch {
	case policy.RenewBefore > 0 && policy.RenewBefore < lifetime:
		before = policy.RenewBefore
	case policy.RenewBeforePercentage > 0 && policy.RenewBeforePercentage < 100:
		// lifetime*percentage/100 without overflowing past 2.9 years of
		// lifetime (and equal to it below).
		pct := time.Duration(policy.RenewBeforePercentage)
		before = lifetime/100*pct + lifetime%100*pct/100
	}
	jitter := min(lifetime/100, maxJitter)
	return notAfter.Add(-before - time.Duration(spread*float64(jitter)))
}

// fraction maps key to a stable number in [0, 1).
func fraction(key string) float64 {
	sum := sha256.Sum256([]byte(key))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}
