package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/workflows"
)

// newRenewCommand builds `renew`: the renew signal to each Certificate's
// workflow, which then renews at once, skipping any backoff. One line per
// Certificate; the exit status is non-zero when any was not signalled.
func newRenewCommand(opts *options) *cobra.Command {
	var l lookup
	var all bool
	var selector string
	cmd := &cobra.Command{
		Use:   "renew [-n NAMESPACE] CERT... | --all | -l SELECTOR",
		Short: "Renew Certificates now, skipping any backoff",
		RunE: func(cmd *cobra.Command, args []string) error {
			chosen := 0
			for _, set := range []bool{len(args) > 0, all, selector != ""} {
				if set {
					chosen++
				}
			}
			if chosen != 1 {
				return errors.New("name the Certificates, or give --all or -l SELECTOR (one of the three)")
			}
			if l.allNamespaces && len(args) > 0 {
				return errors.New("-A goes with --all or -l, not with names: give -n NAMESPACE")
			}
			ctx := cmd.Context()
			kube, cfg, err := opts.kubeClient()
			if err != nil {
				return err
			}
			ns := l.resolveNamespace(opts.kubeconfig)
			var certs []certflowv1.Certificate
			if len(args) > 0 {
				for _, name := range args {
					cert, err := getCertificate(ctx, kube, ns, name)
					if err != nil {
						return err
					}
					certs = append(certs, *cert)
				}
			} else {
				var in []client.ListOption
				if !l.allNamespaces {
					in = append(in, client.InNamespace(ns))
				}
				if selector != "" {
					sel, err := labels.Parse(selector)
					if err != nil {
						return fmt.Errorf("-l %s: %w", selector, err)
					}
					in = append(in, client.MatchingLabelsSelector{Selector: sel})
				}
				var list certflowv1.CertificateList
				if err := kube.List(ctx, &list, in...); err != nil {
					return fmt.Errorf("listing Certificates: %w", err)
				}
				if len(list.Items) == 0 {
					return errors.New("no Certificate matches: certflow list -A shows them all")
				}
				certs = list.Items
			}
			tc, err := opts.dialTemporal(ctx)
			if err != nil {
				return err
			}
			defer tc.Close()
			failed := 0
			for i := range certs {
				cert := &certs[i]
				line, ok := renewOne(ctx, tc.SignalWorkflow, func() (string, error) { return opts.workflowIDOf(ctx, cfg, cert) }, cert)
				fmt.Fprintln(cmd.OutOrStdout(), line)
				if !ok {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d Certificates not renewed", failed, len(certs))
			}
			return nil
		},
	}
	l.bindNamespace(cmd, true)
	cmd.Flags().BoolVar(&all, "all", false, "renew every Certificate in the namespace (with -A: in every namespace)")
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "renew the Certificates whose labels match: app=web,tier!=dev")
	return cmd
}

// signalFunc is the Temporal client's SignalWorkflow.
type signalFunc func(ctx context.Context, workflowID, runID, signalName string, arg any) error

// renewOne signals one Certificate's workflow and says how it went in one
// line. A workflow that is not running is a sentence, not a stack of errors.
func renewOne(ctx context.Context, signal signalFunc, idOf func() (string, error), cert *certflowv1.Certificate) (string, bool) {
	ref := cert.Namespace + "/" + cert.Name
	id, err := idOf()
	if err != nil {
		return fmt.Sprintf("%s: not renewed: finding its workflow: %v", ref, err), false
	}
	err = signal(ctx, id, "", workflows.SignalRenew, nil)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return fmt.Sprintf("%s: not renewed: its workflow %s is not running (see certflow status -n %s %s; the controller starts it once the issuer exists)", ref, id, cert.Namespace, cert.Name), false
	case err != nil:
		return fmt.Sprintf("%s: not renewed: signalling workflow %s: %v", ref, id, err), false
	}
	return fmt.Sprintf("%s: renewal requested (workflow %s)", ref, id), true
}
