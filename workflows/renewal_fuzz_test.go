package workflows

import (
	"testing"
	"time"
)

// FuzzRenewalTime checks when a certificate is renewed, for any lifetime the
// CA chose (x509 dates lie in the years 1950 to 9999), any ARI window the CA
// suggested and any policy: the renewal is always before notAfter and, less
// the spread of at most an hour, after notBefore; a window inside the
// lifetime (start before end) is followed; a window that is not is ignored.
func FuzzRenewalTime(f *testing.F) {
	day := int64(24 * time.Hour)
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() / int64(time.Second)
	f.Add(nb, 90*day, int64(60*day), int64(2*day), int64(0), 0, "certificate/default/web")
	f.Add(nb, 90*day, int64(0), int64(0), int64(30*day), 0, "certificate/default/web")
	f.Add(nb, 90*day, int64(-day), int64(2*day), int64(0), 50, "a window starting before the lifetime")
	f.Add(nb, 90*day, int64(80*day), int64(-2*day), int64(0), 0, "an inverted window")
	f.Add(nb, 6*day, int64(0), int64(0), int64(2000*int64(time.Hour)), 0, "renewBefore longer than a short-lived certificate")
	f.Add(nb, 10*365*day, int64(0), int64(0), int64(0), 50, "a ten-year certificate renewed at half its lifetime")
	f.Add(nb, int64(time.Second), int64(0), int64(0), int64(0), 99, "a certificate of one second")
	f.Fuzz(func(t *testing.T, notBeforeUnix, lifetimeNanos, windowOffset, windowLength, renewBefore int64, percentage int, key string) {
		first := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
		last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
		notBefore := time.Unix(notBeforeUnix, 0).UTC()
		if notBefore.Before(first) || notBefore.After(last) || lifetimeNanos <= 0 {
			return
		}
		notAfter := notBefore.Add(time.Duration(lifetimeNanos))
		if notAfter.After(last) {
			return
		}
		window := &Window{Start: notBefore.Add(time.Duration(windowOffset))}
		window.End = window.Start.Add(time.Duration(windowLength))
		policy := RenewalPolicy{RenewBefore: time.Duration(renewBefore), RenewBeforePercentage: percentage}

		renewAt := RenewalTime(notBefore, notAfter, policy, window, key)
		if !renewAt.Before(notAfter) {
			t.Fatalf("renewal at %s, not before notAfter %s (lifetime %s, policy %+v, window %s to %s)",
				renewAt, notAfter, notAfter.Sub(notBefore), policy, window.Start, window.End)
		}
		if renewAt.Before(notBefore.Add(-maxJitter)) {
			t.Fatalf("renewal at %s, more than the spread before notBefore %s (lifetime %s, policy %+v)",
				renewAt, notBefore, notAfter.Sub(notBefore), policy)
		}
		inside := window.End.After(window.Start) && !window.Start.Before(notBefore) && !window.End.After(notAfter)
		if inside && (renewAt.Before(window.Start) || !renewAt.Before(window.End)) {
			t.Fatalf("renewal at %s, outside the CA's window %s to %s", renewAt, window.Start, window.End)
		}
		if !inside && !RenewalTime(notBefore, notAfter, policy, nil, key).Equal(renewAt) {
			t.Fatalf("a window %s to %s outside the lifetime %s to %s changed the renewal", window.Start, window.End, notBefore, notAfter)
		}
	})
}
