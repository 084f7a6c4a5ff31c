package workflows

import (
	"sort"
	"strings"
	"time"

	"github.com/certflow/certflow/activities"
)

// Sliding windows over permit times, for the account limiter. A budget of
// limit per period holds when no window of that length contains more than
// limit permits. Permits may lie in the future (reservations), so a new
// permit must fit every window it falls in, not only the one ending at it.

// window is the length a budget's permits are counted over: the period and a
// margin. The CA counts an order when it arrives, which is after its permit:
// the Order wakes, begins the order (pending key, Secret) and only then sends
// it; the tests measure about a second, more under load. So a permit that
// left the window exactly one period after the last could still be inside
// the CA's window. An Order that wakes later than half the margin after its
// permit asks again instead of using it (permitTolerance).
func window(period time.Duration) time.Duration { return period + margin(period) }

// margin is a tenth of the period, at least 4 s and at most a minute (and
// never more than the period itself): a minute on Let's Encrypt's 3 hours.
func margin(period time.Duration) time.Duration {
	return min(max(period/10, 4*time.Second), time.Minute, period)
}

// permitValidity is how long after its time a permit still covers a new
// order reaching the CA: the margin of the shortest budget, by which the
// limiter's windows are longer than the CA's, but at least 4 s (a budget of
// seconds cannot be kept to the second across a busy worker's scheduling).
// BeginOrder sends no order later than that (BeginOrderInput.SendBy).
func permitValidity(l activities.RateLimits) time.Duration {
	shortest := time.Duration(0)
	for _, b := range []activities.RateLimit{l.NewOrders, l.CertificatesPerRegisteredDomain, l.DuplicateCertificates} {
		if limits(b) && (shortest == 0 || b.Period < shortest) {
			shortest = b.Period
		}
	}
	if shortest == 0 {
		return 2 * time.Minute
	}
	return max(margin(shortest), 4*time.Second)
}

// permitTolerance is how late after its permit an Order may wake and still
// use it: half the permit's validity, the other half being for BeginOrder to
// reach the CA. Later (a worker was down, a timer fired late), it asks
// again, as the permits granted after it assumed it was used on time.
func permitTolerance(l activities.RateLimits) time.Duration { return permitValidity(l) / 2 }

// removeTime removes one t from the ascending grants.
func removeTime(grants []time.Time, t time.Time) []time.Time {
	if i := sort.Search(len(grants), func(i int) bool { return !grants[i].Before(t) }); i < len(grants) && grants[i].Equal(t) {
		return append(grants[:i], grants[i+1:]...)
	}
	return grants
}

// earliest is the earliest time at or after from at which one more permit
// keeps the budget. Only from and the times at which a permit leaves its
// window can be the answer: the count in the window ending at t drops only
// there. The last of them always fits, as every permit has then left.
func earliest(grants []time.Time, lim activities.RateLimit, from time.Time) time.Time {
	if fits(grants, lim, from) {
		return from
	}
	w := window(lim.Period)
	for _, g := range grants {
		if t := g.Add(w); t.After(from) && fits(grants, lim, t) {
			return t
		}
	}
	return grants[len(grants)-1].Add(w) // not reached: see above
}

// fits says whether a permit at t keeps every window that contains t within
// the limit: the one ending at t and those ending at the later permits less
// than a window after t. grants are ascending.
func fits(grants []time.Time, lim activities.RateLimit, t time.Time) bool {
	w := window(lim.Period)
	if countIn(grants, t.Add(-w), t)+1 > lim.Limit {
		return false
	}
	for i := sort.Search(len(grants), func(i int) bool { return !grants[i].Before(t) }); i < len(grants); i++ {
		x := grants[i]
		if !x.Before(t.Add(w)) {
			break
		}
		if countIn(grants, x.Add(-w), x)+1 > lim.Limit {
			return false
		}
	}
	return true
}

// countIn counts the ascending grants in (after, upTo].
func countIn(grants []time.Time, after, upTo time.Time) int {
	i := sort.Search(len(grants), func(i int) bool { return grants[i].After(after) })
	j := sort.Search(len(grants), func(i int) bool { return grants[i].After(upTo) })
	return j - i
}

// insertTime adds t to the ascending grants, keeping them ascending.
func insertTime(grants []time.Time, t time.Time) []time.Time {
	i := sort.Search(len(grants), func(i int) bool { return grants[i].After(t) })
	grants = append(grants, time.Time{})
	copy(grants[i+1:], grants[i:])
	grants[i] = t
	return grants
}

// since keeps the grants that a window reaching now or later can still hold.
// A budget that does not limit keeps nothing.
func since(grants []time.Time, now time.Time, lim activities.RateLimit) []time.Time {
	if !limits(lim) {
		return nil
	}
	oldest := now.Add(-window(lim.Period))
	i := sort.Search(len(grants), func(i int) bool { return grants[i].After(oldest) })
	return grants[i:]
}

// formatPeriod writes a period as people do: 3h, 168h, 1h30m, 90s.
func formatPeriod(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
