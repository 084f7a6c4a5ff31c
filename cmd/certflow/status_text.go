package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// write prints the report for a person: Kubernetes' view, the stored
// certificate, then the workflow's.
func (r *statusReport) write(w io.Writer, now time.Time) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Certificate:   %s/%s", r.Namespace, r.Name)
	p("Secret:        %s", r.SecretName)
	for _, typ := range []string{certflowv1.ConditionReady, certflowv1.ConditionIssuing} {
		c := r.condition(typ)
		if c == nil {
			p("%-14s unknown: not written yet", typ+":")
			continue
		}
		p("%-14s %s %s: %s (since %s)", typ+":", c.Status, c.Reason, c.Message, ago(c.LastTransitionTime, now))
	}
	p("Not before:    %s", stampOf(r.NotBefore, now))
	p("Not after:     %s", stampOf(r.NotAfter, now))
	p("Renewal:       %s", stampOf(r.RenewalTime, now))
	p("Revision:      %s", orNone(itoa(r.Revision)))
	p("Issued by:     %s", orNone(r.IssuedBy))

	i := r.Issuer
	switch {
	case !i.Found:
		p("Issuer:        %s/%s: not found: %s", i.Kind, i.Name, i.Message)
	case i.Ready:
		p("Issuer:        %s/%s: Ready (%s: %s)", i.Kind, i.Name, i.Reason, i.Message)
	default:
		p("Issuer:        %s/%s: not Ready (%s: %s)", i.Kind, i.Name, orNone(i.Reason), i.Message)
	}

	p("")
	p("Stored certificate (Secret %s)", r.SecretName)
	if l := r.Secret.Leaf; l != nil {
		p("  Names:       %s", strings.Join(l.sans(), ", "))
		p("  Subject:     %s", orNone(l.Subject))
		p("  Serial:      %s", l.Serial)
		p("  Issuer CN:   %s", orNone(l.IssuerCN))
		p("  Not after:   %s", stamp(l.NotAfter, now))
	}
	if r.Secret.Problem != "" {
		p("  Problem:     %s", r.Secret.Problem)
	} else {
		p("  Matches:     yes: the key is the leaf's and the names are those asked")
	}

	wf := r.Workflow
	p("")
	p("Workflow %s", orNone(wf.ID))
	if wf.URL != "" {
		p("  Web UI:      %s", wf.URL)
	}
	if !wf.Available {
		p("  State:       unavailable: %s", wf.Unavailable)
		return nil
	}
	p("  Execution:   %s", wf.Execution)
	p("  Step:        %s", orNone(wf.Step))
	p("  Revision:    %s", orNone(itoa(wf.Revision)))
	if wf.LastFailureTime != nil {
		p("  Last failure: %s, %d in a row: %s", stampOf(wf.LastFailureTime, now), wf.FailedAttempts, orNone(wf.LastFailure))
	} else {
		p("  Last failure: -")
	}
	if wf.NextAttemptTime != nil {
		p("  Next attempt: %s (%s)", stampOf(wf.NextAttemptTime, now), wf.NextAttemptReason)
	} else {
		p("  Next attempt: -")
	}
	if len(wf.Authorizations) == 0 {
		p("  Authorizations: none in progress")
		return nil
	}
	p("  Authorizations:")
	for _, az := range wf.Authorizations {
		name := az.Identifier
		if az.Wildcard {
			name = "*." + name
		}
		line := fmt.Sprintf("    %s: %s, challenge %s", name, orNone(az.State), orNone(az.Challenge))
		if az.FQDN != "" {
			line += " at " + az.FQDN
		}
		if az.Error != "" {
			line += ": " + az.Error
		}
		p("%s", line)
	}
	return nil
}

func (r *statusReport) condition(typ string) *conditionReport {
	for i := range r.Conditions {
		if r.Conditions[i].Type == typ {
			return &r.Conditions[i]
		}
	}
	return nil
}

func stampOf(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return stamp(*t, now)
}

// itoa is n in decimal, "" for zero (unset).
func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
