package acme

import (
	"fmt"
	"slices"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"

	"github.com/certflow/certflow/activities/permits"
)

// gate holds back this worker's new orders of an account the CA has just
// rate-limited, from the moment of the 429 until its Retry-After has passed:
// the account's limiter hears of the 429 a moment later, and the permits it
// granted before then are still out. Like the limiter, it holds what the
// CA's detail says the limit is on (permits.Scope): the account, a name or
// registered domain, or one set of names.
type gate struct {
	mu     sync.Mutex
	blocks map[string][]gateBlock // by account
}

type gateBlock struct {
	at, until  time.Time // when the CA refused, and until when
	identifier string    // a name or registered domain, or ""
	names      []string  // an exact set of names, or nil
	detail     string
}

// holds says whether the block holds an order for names.
func (b gateBlock) holds(names []string) bool {
	switch {
	case b.names != nil:
		return slices.Equal(b.names, permits.Names(names))
	case b.identifier != "":
		ns := permits.Names(names)
		return slices.Contains(ns, b.identifier) || slices.Contains(permits.RegisteredDomains(ns), b.identifier)
	}
	return true
}

// close holds the account's orders that the CA's rate limit of an order for
// names is on, until until.
func (g *gate) close(account string, names []string, detail string, until time.Time) {
	b := gateBlock{at: time.Now(), until: until, detail: detail}
	b.identifier, b.names, _ = permits.Scope(detail, names)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocks == nil {
		g.blocks = map[string][]gateBlock{}
	}
	g.blocks[account] = append(g.live(account, time.Now()), b)
}

// check returns, as the CA's own answer would be, a rate limit that holds an
// order of the account for names now; nil when none does.
func (g *gate) check(account string, names []string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	live := g.live(account, now)
	if len(live) == 0 {
		delete(g.blocks, account)
	} else {
		g.blocks[account] = live
	}
	var held *gateBlock
	for i, b := range live {
		if b.holds(names) && (held == nil || b.until.After(held.until)) {
			held = &live[i]
		}
	}
	if held == nil {
		return nil
	}
	return fmt.Errorf("not sent: the CA rate-limited an order of this account at %s until %s: %w",
		held.at.UTC().Format(time.RFC3339), held.until.UTC().Format(time.RFC3339), &legoacme.RateLimitedError{
			ProblemDetails: &legoacme.ProblemDetails{Type: legoacme.RateLimitedErrorType, Detail: held.detail, HTTPStatus: 429},
			RetryAfter:     held.until.Sub(now),
		})
}

// live are the account's blocks that have not ended by now.
func (g *gate) live(account string, now time.Time) []gateBlock {
	return slices.DeleteFunc(slices.Clone(g.blocks[account]), func(b gateBlock) bool { return !now.Before(b.until) })
}
