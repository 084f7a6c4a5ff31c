package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The limiter's state travels into the next run as the input of
// continue-as-new, which Temporal refuses above 2 MB. At Let's Encrypt's
// most orders (300 per 3 hours: 16,800 a week), each for its own set of
// names, the duplicate keys alone come to about 1.3 MB, and a registered
// domain's or a name's series grow with them. So keys are bounded
// (nameSetKey) and the state by size (bound), well under the limit.
const (
	maxNameSetKey   = 128
	maxLimiterState = 1 << 20
)

// nameSetKey is the key of a set of names in the limiter's state: the names
// joined by ",", or for a long set (up to 100 names of 253 characters) a
// hash of that, so that one key stays small.
func nameSetKey(names []string) string {
	joined := strings.Join(names, ",")
	if len(joined) <= maxNameSetKey {
		return joined
	}
	sum := sha256.Sum256([]byte(joined))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// bound keeps the state under maxLimiterState by forgetting the series
// (per name set, registered domain or name) whose last permit is oldest:
// the budgets of the orders they stood for may then admit an order the CA
// counts as over its limit, which its 429 then stops. It says how many it
// forgot.
func (l *limiter) bound(ctx workflow.Context) int {
	// encoding/json writes map keys sorted, so the size is the same on every
	// replay (workflowcheck sees only that it ranges over maps).
	b, err := json.Marshal(l.state) //workflowcheck:ignore
	if err != nil || len(b) <= maxLimiterState {
		return 0
	}
	size := len(b)
	type series struct {
		m    map[string][]time.Time
		key  string
		last time.Time
	}
	var all []series
	for _, m := range []map[string][]time.Time{l.state.Duplicates, l.state.Domains, l.state.FailedValidations} {
		for _, k := range sortedKeys(m) {
			if times := m[k]; len(times) > 0 { // ascending
				all = append(all, series{m, k, times[len(times)-1]})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b series) int { return a.last.Compare(b.last) })
	forgot := 0
	for _, s := range all {
		if size <= maxLimiterState*9/10 {
			break
		}
		size -= seriesSize(s.key, s.m[s.key])
		delete(s.m, s.key)
		forgot++
	}
	workflow.GetLogger(ctx).Warn("the limiter's state was too large to carry on: forgot the oldest permits",
		"issuer", l.issuer.String(), "bytes", len(b), "forgotten", forgot)
	return forgot
}

// seriesSize is about what one series adds to the state's JSON.
func seriesSize(key string, times []time.Time) int {
	return len(key) + len(`"":[],`) + len(times)*len(`"2006-01-02T15:04:05.999999999Z",`)
}
