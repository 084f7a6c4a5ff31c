package workflows

import (
	"fmt"
	"testing"
	"time"
)

func TestRenewalTime(t *testing.T) {
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	notAfter := notBefore.Add(90 * day)
	cases := []struct {
		name           string
		policy         RenewalPolicy
		ari            *Window
		earliest, last time.Time // the result lies in [earliest, last]
	}{
		{"by default a third of the lifetime is left, less up to an hour of spread",
			RenewalPolicy{}, nil, notAfter.Add(-30*day - time.Hour), notAfter.Add(-30 * day)},
		{"renewBefore renews that long before expiry",
			RenewalPolicy{RenewBefore: 10 * day}, nil, notAfter.Add(-10*day - time.Hour), notAfter.Add(-10 * day)},
		{"renewBeforePercentage leaves that share of the lifetime",
			RenewalPolicy{RenewBeforePercentage: 50}, nil, notAfter.Add(-45*day - time.Hour), notAfter.Add(-45 * day)},
		{"a renewBefore as long as the lifetime falls back to a third",
			RenewalPolicy{RenewBefore: 100 * day}, nil, notAfter.Add(-30*day - time.Hour), notAfter.Add(-30 * day)},
		{"the CA's ARI window wins over the policy",
			RenewalPolicy{RenewBefore: 10 * day}, &Window{notAfter.Add(-40 * day), notAfter.Add(-38 * day)},
			notAfter.Add(-40 * day), notAfter.Add(-38 * day)},
		{"an ARI window outside the lifetime is ignored",
			RenewalPolicy{}, &Window{notBefore.Add(-2 * day), notBefore.Add(-day)}, notAfter.Add(-30*day - time.Hour), notAfter.Add(-30 * day)},
		{"an empty ARI window is ignored",
			RenewalPolicy{}, &Window{notAfter, notAfter}, notAfter.Add(-30*day - time.Hour), notAfter.Add(-30 * day)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 50 {
				key := fmt.Sprintf("certificate/default/web-%d", i)
				got := RenewalTime(notBefore, notAfter, tc.policy, tc.ari, key)
				if got.Before(tc.earliest) || got.After(tc.last) {
					t.Fatalf("%s: %s not in [%s, %s]", key, got, tc.earliest, tc.last)
				}
				if again := RenewalTime(notBefore, notAfter, tc.policy, tc.ari, key); !again.Equal(got) {
					t.Fatalf("%s: not stable: %s then %s", key, got, again)
				}
			}
		})
	}
}

func TestRenewalTimesOfCertificatesIssuedTogetherAreSpread(t *testing.T) {
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := notBefore.Add(90 * 24 * time.Hour)
	perMinute := map[int64]int{}
	for i := range 1000 {
		at := RenewalTime(notBefore, notAfter, RenewalPolicy{}, nil, fmt.Sprintf("certificate/ns/cert-%d", i))
		perMinute[at.Unix()/60]++
	}
	// 1,000 renewals over an hour's spread: about 17 a minute; none should pile up.
	for minute, n := range perMinute {
		if n > 50 {
			t.Fatalf("%d renewals fall in minute %d", n, minute)
		}
	}
	if len(perMinute) < 50 {
		t.Fatalf("renewals fall in only %d distinct minutes", len(perMinute))
	}
}
