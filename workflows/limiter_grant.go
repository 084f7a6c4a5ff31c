package workflows

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/certflow/certflow/activities"
)

// grant decides and records the permit of a new request: the earliest time
// at which no CA block applies and every budget has room, found by moving the
// time forward until no budget objects (each move is to a time when a permit
// leaves a window, so this ends). A forced request waits only for the CA's
// own blocks.
func (l *limiter) grant(now time.Time, r activities.PermitRequest) activities.PermitGrant {
	g := l.unblocked(now, r)
	if r.Replaces {
		return g // exempt from the budgets, and not counted
	}
	budgets := l.budgets(r)
	for moved := !r.Forced; moved; {
		moved = false
		for _, b := range budgets {
			if at := earliest(b.grants, b.limit, g.At); at.After(g.At) {
				g, moved = activities.PermitGrant{At: at, Reason: b.reason}, true
			}
		}
	}
	for _, b := range budgets {
		b.record(g.At)
	}
	return g
}

// release forgets a permit granted at at for the request's names: its
// requester did not use it.
func (l *limiter) release(r activities.PermitRequest, at time.Time) {
	if r.Replaces {
		return // never counted
	}
	l.state.Orders = removeTime(l.state.Orders, at)
	l.releaseIssuance(r.Names, r.Domains, at)
}

// releaseIssuance forgets the certificate a permit at at counted for the
// names: none was issued.
func (l *limiter) releaseIssuance(names, domains []string, at time.Time) {
	for _, d := range slices.Compact(slices.Sorted(slices.Values(domains))) {
		if grants, ok := l.state.Domains[d]; ok {
			l.state.Domains[d] = removeTime(grants, at)
		}
	}
	key := nameSetKey(names)
	if grants, ok := l.state.Duplicates[key]; ok {
		l.state.Duplicates[key] = removeTime(grants, at)
	}
}

// settle takes back what an attempt did not use of its permit, as the CA
// counts: a new order only when one was made, certificates only when one
// was issued. Its failed validations are counted, now. An outcome of a
// permit not granted (an older attempt, a made-up one) changes nothing.
func (l *limiter) settle(ctx workflow.Context, o activities.PermitOutcome) {
	key := o.RequesterWorkflowID + " " + o.RequesterRunID
	g, ok := l.state.Answered[key]
	if ok && g.Attempt == o.Attempt && g.At.Equal(o.At) && !g.Settled {
		g.Settled = true
		l.state.Answered[key] = g
		if !o.OrderSent {
			l.state.Orders = removeTime(l.state.Orders, o.At)
		}
		if !o.Issued {
			l.releaseIssuance(o.Names, o.Domains, o.At)
		}
	}
	now := workflow.Now(ctx)
	for _, name := range o.FailedValidations {
		l.state.FailedValidations[name] = insertTime(l.state.FailedValidations[name], now)
	}
	l.recordOrderBudget(ctx, now)
	workflow.GetLogger(ctx).Info("a permit's attempt settled", "issuer", l.issuer.String(), "requester", o.RequesterWorkflowID,
		"orderSent", o.OrderSent, "issued", o.Issued, "failedValidations", strings.Join(o.FailedValidations, ","))
}

// unblocked is the earliest time at or after now that no block of the CA
// applies to the request: on the account, on a name or registered domain it
// names, or on its set of names.
func (l *limiter) unblocked(now time.Time, r activities.PermitRequest) activities.PermitGrant {
	g := activities.PermitGrant{At: now}
	block := func(until time.Time, what string) {
		if until.After(g.At) {
			g = activities.PermitGrant{At: until, Reason: "the CA rate-limited " + what + " until " + until.UTC().Format(time.RFC3339)}
		}
	}
	block(l.state.BlockedUntil, "the account")
	if !r.Forced {
		block(l.state.GuessedUntil, "an order (certflow holds the whole account)")
	}
	for _, id := range slices.Concat(r.Names, r.Domains) {
		if until, ok := l.state.BlockedIdentifiers[id]; ok {
			block(until, "orders for "+id)
		}
	}
	if until, ok := l.state.BlockedNameSets[nameSetKey(r.Names)]; ok {
		block(until, "orders for these names")
	}
	return g
}

// budget is one sliding window a request counts against: the permits in it,
// and how to record one more.
type budget struct {
	grants []time.Time
	limit  activities.RateLimit
	reason string
	record func(time.Time)
}

func (l *limiter) budgets(r activities.PermitRequest) []budget {
	var bs []budget
	if lim := r.Limits.NewOrders; limits(lim) {
		bs = append(bs, budget{l.state.Orders, lim,
			fmt.Sprintf("the account's order budget (%d per %s) is used up", lim.Limit, formatPeriod(lim.Period)),
			func(at time.Time) { l.state.Orders = insertTime(l.state.Orders, at) }})
	}
	if lim := r.Limits.CertificatesPerRegisteredDomain; limits(lim) {
		for _, d := range slices.Compact(slices.Sorted(slices.Values(r.Domains))) {
			bs = append(bs, budget{l.state.Domains[d], lim,
				fmt.Sprintf("the budget of registered domain %s (%d certificates per %s) is used up", d, lim.Limit, formatPeriod(lim.Period)),
				func(at time.Time) { l.state.Domains[d] = insertTime(l.state.Domains[d], at) }})
		}
	}
	if lim := r.Limits.DuplicateCertificates; limits(lim) && len(r.Names) > 0 {
		key := nameSetKey(r.Names)
		bs = append(bs, budget{l.state.Duplicates[key], lim,
			fmt.Sprintf("the budget for duplicate certificates of these names (%d per %s) is used up", lim.Limit, formatPeriod(lim.Period)),
			func(at time.Time) { l.state.Duplicates[key] = insertTime(l.state.Duplicates[key], at) }})
	}
	if lim := r.Limits.FailedValidations; limits(lim) {
		for _, name := range r.Names {
			if failed := l.state.FailedValidations[name]; len(failed) > 0 {
				// Counted when the CA refuses, not now: a permit adds nothing.
				bs = append(bs, budget{failed, lim,
					fmt.Sprintf("the budget for failed validations of %s (%d per %s) is used up", name, lim.Limit, formatPeriod(lim.Period)),
					func(time.Time) {}})
			}
		}
	}
	return bs
}

func limits(l activities.RateLimit) bool { return l.Limit > 0 && l.Period > 0 }

// prune forgets the permits that no window reaching now or later can hold,
// and the answers no requester will ask for again. Keys are visited in
// order, though deleting does not depend on it.
func (l *limiter) prune(now time.Time, lim activities.RateLimits) {
	l.state.Orders = since(l.state.Orders, now, lim.NewOrders)
	for _, m := range []struct {
		grants map[string][]time.Time
		limit  activities.RateLimit
	}{{l.state.Domains, lim.CertificatesPerRegisteredDomain}, {l.state.Duplicates, lim.DuplicateCertificates},
		{l.state.FailedValidations, lim.FailedValidations}} {
		for _, k := range sortedKeys(m.grants) {
			if kept := since(m.grants[k], now, m.limit); len(kept) > 0 {
				m.grants[k] = kept
			} else {
				delete(m.grants, k)
			}
		}
	}
	for _, k := range sortedKeys(l.state.Answered) {
		if l.state.Answered[k].At.Add(answerRetention).Before(now) {
			delete(l.state.Answered, k)
		}
	}
	for _, m := range []map[string]time.Time{l.state.BlockedIdentifiers, l.state.BlockedNameSets} {
		for _, k := range sortedKeys(m) {
			if !m[k].After(now) {
				delete(m, k)
			}
		}
	}
}

// sortedKeys are the keys of m in order, so that a walk over them decides
// the same on every replay. (workflowcheck reports maps.Keys as ranging
// over a map, which sorting makes deterministic.)
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m)) //workflowcheck:ignore
}

// recordOrderBudget records how many new orders the account's budget allows
// now (the latest request's limits): its limit less the permits in the
// window ending now and those granted for later. An account without an
// order budget records nothing.
func (l *limiter) recordOrderBudget(ctx workflow.Context, now time.Time) {
	lim := l.prunedLimits.NewOrders
	if !limits(lim) {
		return
	}
	oldest := now.Add(-window(lim.Period))
	counted := len(l.state.Orders) - sort.Search(len(l.state.Orders), func(i int) bool { return l.state.Orders[i].After(oldest) })
	workflow.GetMetricsHandler(ctx).WithTags(issuerTags(l.issuer)).Gauge(MetricLimiterOrderBudget).Update(float64(max(0, lim.Limit-counted)))
}
