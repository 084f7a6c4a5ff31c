package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// What a Certificate's workflow is found by in Temporal: search attributes,
// so that `CertflowReady=false` lists the certificates that are not ready and
// `CertflowNotAfter < "2027-01-01T00:00:00Z"` the ones that expire, and a memo
// that says the last failure in words (memoLastFailure). They are registered
// names, API like the workflow names: a namespace must have them before a
// workflow may set them (the controller checks, and turns them on with the
// spec signal: SpecChanged.SearchAttributes).
var (
	attrNamespace     = temporal.NewSearchAttributeKeyKeyword("CertflowNamespace")
	attrName          = temporal.NewSearchAttributeKeyKeyword("CertflowName")
	attrIssuer        = temporal.NewSearchAttributeKeyKeyword("CertflowIssuer")
	attrReady         = temporal.NewSearchAttributeKeyBool("CertflowReady")
	attrNotAfter      = temporal.NewSearchAttributeKeyTime("CertflowNotAfter")
	attrRenewalTime   = temporal.NewSearchAttributeKeyTime("CertflowRenewalTime")
	attrStep          = temporal.NewSearchAttributeKeyKeyword("CertflowStep")
	attrFailureReason = temporal.NewSearchAttributeKeyKeyword("CertflowFailureReason")
)

// SearchAttributes are certflow's search attributes, name to type, as
// `temporal operator search-attribute create --name NAME --type TYPE` and
// the dev server's --search-attribute NAME=TYPE take them.
var SearchAttributes = map[string]string{
	attrNamespace.GetName():     "Keyword",
	attrName.GetName():          "Keyword",
	attrIssuer.GetName():        "Keyword",
	attrReady.GetName():         "Bool",
	attrNotAfter.GetName():      "Datetime",
	attrRenewalTime.GetName():   "Datetime",
	attrStep.GetName():          "Keyword",
	attrFailureReason.GetName(): "Keyword",
}

// memoLastFailure is the memo's one key: the message of the failure the
// attempts fail with, written when it changes ("" once issued), so that a
// Certificate that never failed costs no memo write.
const memoLastFailure = "lastFailure"

// Listing is what a Certificate's workflow shows in its search attributes
// and memo. Times are whole seconds.
type Listing struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Issuer      string    `json:"issuer"`
	Ready       bool      `json:"ready"`
	NotAfter    time.Time `json:"notAfter,omitzero"`
	RenewalTime time.Time `json:"renewalTime,omitzero"`
	// Step is the step the failing attempts fail in (presenting, ...);
	// FailureReason their condition reason (DNSZoneNotServed, ...) and
	// LastFailure their message (memo only). All empty once issued.
	Step          string `json:"step,omitempty"`
	FailureReason string `json:"failureReason,omitempty"`
	LastFailure   string `json:"lastFailure,omitempty"`
}

// listing is the Certificate's Listing as its status and state say now.
func (c *certificate) listing() Listing {
	l := Listing{
		Namespace:   c.ref.Namespace,
		Name:        c.ref.Name,
		Issuer:      c.issuer().String(),
		NotAfter:    c.status.NotAfter.Truncate(time.Second),
		RenewalTime: c.status.RenewalTime.Truncate(time.Second),
	}
	for _, cond := range c.status.Conditions {
		if cond.Type == condReady {
			l.Ready = cond.Status == condTrue
		}
	}
	if c.state.FailedAttempts > 0 {
		l.Step, l.FailureReason, l.LastFailure = c.state.FailedStep, c.state.FailureReason, c.state.LastFailure
	}
	return l
}

// list sets the search attributes and the memo that changed since the last
// list, when search attributes are on: each set is one history event and one
// write of Temporal's visibility record, so a Certificate that stays as it
// was costs nothing.
func (c *certificate) list(ctx workflow.Context) {
	if !c.state.SearchAttributes {
		return
	}
	l := c.listing()
	var last Listing
	if c.state.Listed != nil {
		last = *c.state.Listed
	}
	if l == last {
		return
	}
	if updates := attributeUpdates(last, l); len(updates) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			workflow.GetLogger(ctx).Warn("setting search attributes", "error", err)
			return
		}
	}
	if l.LastFailure != last.LastFailure {
		if err := workflow.UpsertMemo(ctx, map[string]any{memoLastFailure: l.LastFailure}); err != nil {
			workflow.GetLogger(ctx).Warn("setting the memo", "error", err)
			return
		}
	}
	c.state.Listed = &l
}

// attributeUpdates are the search attributes that differ between two
// listings; an empty value unsets its attribute.
func attributeUpdates(last, now Listing) []temporal.SearchAttributeUpdate {
	var u []temporal.SearchAttributeUpdate
	keyword := func(key temporal.SearchAttributeKeyKeyword, was, is string) {
		switch {
		case is == was:
		case is == "":
			u = append(u, key.ValueUnset())
		default:
			u = append(u, key.ValueSet(is))
		}
	}
	at := func(key temporal.SearchAttributeKeyTime, was, is time.Time) {
		switch {
		case is.Equal(was):
		case is.IsZero():
			u = append(u, key.ValueUnset())
		default:
			u = append(u, key.ValueSet(is))
		}
	}
	keyword(attrNamespace, last.Namespace, now.Namespace)
	keyword(attrName, last.Name, now.Name)
	keyword(attrIssuer, last.Issuer, now.Issuer)
	if last == (Listing{}) || last.Ready != now.Ready {
		u = append(u, attrReady.ValueSet(now.Ready))
	}
	at(attrNotAfter, last.NotAfter, now.NotAfter)
	at(attrRenewalTime, last.RenewalTime, now.RenewalTime)
	keyword(attrStep, last.Step, now.Step)
	keyword(attrFailureReason, last.FailureReason, now.FailureReason)
	return u
}
