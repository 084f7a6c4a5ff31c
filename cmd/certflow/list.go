package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// newListCommand builds `list`: every Certificate in a table, from what
// Kubernetes holds (no Temporal needed), with filters for the ones that need
// a look.
func newListCommand(opts *options) *cobra.Command {
	var l lookup
	var stuck bool
	var expiring string
	cmd := &cobra.Command{
		Use:   "list [-n NAMESPACE | -A] [--stuck] [--expiring 7d]",
		Short: "List Certificates: ready or not, why, the running step, expiry and renewal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := l.checkOutput(); err != nil {
				return err
			}
			var within time.Duration
			if expiring != "" {
				var err error
				if within, err = parseWithin(expiring); err != nil {
					return fmt.Errorf("--expiring %w", err)
				}
			}
			kube, _, err := opts.kubeClient()
			if err != nil {
				return err
			}
			var certs certflowv1.CertificateList
			var in []client.ListOption
			where := "in every namespace"
			if !l.allNamespaces {
				ns := l.resolveNamespace(opts.kubeconfig)
				in = append(in, client.InNamespace(ns))
				where = "in namespace " + ns
			}
			if err := kube.List(cmd.Context(), &certs, in...); err != nil {
				return fmt.Errorf("listing Certificates %s: %w", where, err)
			}
			now := time.Now()
			rows := listRows(certs.Items, now)
			rows = filterRows(rows, stuck, within, expiring != "", now)
			if l.output != "" {
				return writeStructured(cmd.OutOrStdout(), l.output, listReport{Items: rows})
			}
			if len(rows) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "No Certificates %s match.\n", where)
				return nil
			}
			return writeTable(cmd.OutOrStdout(), rows, now)
		},
	}
	l.bindNamespace(cmd, true)
	l.bindOutput(cmd)
	cmd.Flags().BoolVar(&stuck, "stuck", false, "only Certificates that are not Ready, or Ready but failing to renew")
	cmd.Flags().StringVar(&expiring, "expiring", "", "only Certificates that expire within this long: 7d, 36h")
	return cmd
}

// listReport is what `list -o json` prints: stable field names.
type listReport struct {
	Items []listRow `json:"items"`
}

// listRow is one Certificate as the table shows it.
type listRow struct {
	Namespace       string     `json:"namespace"`
	Name            string     `json:"name"`
	Ready           string     `json:"ready"`
	Reason          string     `json:"reason,omitempty"`
	Message         string     `json:"message,omitempty"`
	Step            string     `json:"step,omitempty"`
	NotAfter        *time.Time `json:"notAfter,omitempty"`
	RenewalTime     *time.Time `json:"renewalTime,omitempty"`
	LastFailureTime *time.Time `json:"lastFailureTime,omitempty"`
	// Failing says an issuance or renewal attempt failed and none has
	// succeeded since: the Issuing condition carries the failure.
	Failing bool `json:"failing"`
}

func listRows(certs []certflowv1.Certificate, now time.Time) []listRow {
	rows := make([]listRow, 0, len(certs))
	for _, c := range certs {
		r := listRow{Namespace: c.Namespace, Name: c.Name, Ready: "Unknown", Step: string(c.Status.Step),
			NotAfter: timeOf(c.Status.NotAfter), RenewalTime: timeOf(c.Status.RenewalTime), LastFailureTime: timeOf(c.Status.LastFailureTime)}
		if ready := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionReady); ready != nil {
			r.Ready, r.Reason, r.Message = string(ready.Status), ready.Reason, ready.Message
		}
		issuing := meta.FindStatusCondition(c.Status.Conditions, certflowv1.ConditionIssuing)
		r.Failing = r.LastFailureTime != nil ||
			(issuing != nil && issuing.Status == "False" && issuing.Reason != certflowv1.ReasonIssued)
		if r.Ready == "True" && r.Failing && issuing != nil {
			// Ready says the old certificate is fine; the failure is the news.
			r.Reason, r.Message = issuing.Reason, issuing.Message
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b listRow) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return rows
}

// filterRows keeps the stuck rows (not Ready, or failing to renew) when
// stuck is set, and those whose notAfter is within `within` of now when
// expiring is set (a Certificate never issued has no notAfter and is left
// out: it expires nothing).
func filterRows(rows []listRow, stuck bool, within time.Duration, expiring bool, now time.Time) []listRow {
	return slices.DeleteFunc(slices.Clone(rows), func(r listRow) bool {
		if stuck && r.Ready == "True" && !r.Failing {
			return true
		}
		if expiring && (r.NotAfter == nil || r.NotAfter.Sub(now) > within) {
			return true
		}
		return false
	})
}

func writeTable(w io.Writer, rows []listRow, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tREASON\tSTEP\tNOT AFTER\tRENEWAL\tLAST FAILURE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Ready, orNone(r.Reason), orNone(r.Step),
			agoOf(r.NotAfter, now), agoOf(r.RenewalTime, now), agoOf(r.LastFailureTime, now))
	}
	return tw.Flush()
}

func agoOf(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return ago(*t, now)
}
