package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	tclient "go.temporal.io/sdk/client"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/connect"
)

// What the user commands (status, list, renew, inspect) share: where to
// look (namespace flags, the kubeconfig's namespace), how to reach
// Kubernetes and Temporal with the global flags, and how to print.

// lookup are the flags that choose the namespace and the output format.
type lookup struct {
	namespace     string
	allNamespaces bool
	output        string
}

func (l *lookup) bindNamespace(cmd *cobra.Command, all bool) {
	cmd.Flags().StringVarP(&l.namespace, "namespace", "n", "", "namespace of the Certificate; default: the kubeconfig context's namespace, else default")
	if all {
		cmd.Flags().BoolVarP(&l.allNamespaces, "all-namespaces", "A", false, "look in every namespace")
	}
}

func (l *lookup) bindOutput(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&l.output, "output", "o", "", "output format: json or yaml; default: text for people")
}

// checkOutput refuses an unknown -o before anything is dialled.
func (l *lookup) checkOutput() error {
	switch l.output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("-o %s: want json or yaml (or no -o for text)", l.output)
}

// resolveNamespace is -n, else the kubeconfig context's namespace, else
// "default".
func (l *lookup) resolveNamespace(kubeconfig string) string {
	if l.namespace != "" {
		return l.namespace
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).Namespace()
	if err != nil || ns == "" {
		return "default"
	}
	return ns
}

// kubeClient connects to Kubernetes with the global flags and checks that it
// serves certflow's CRDs.
func (o *options) kubeClient() (client.Client, *rest.Config, error) {
	cfg, err := connect.KubernetesConfig(o.kubernetes())
	if err != nil {
		return nil, nil, err
	}
	scheme, err := connect.Scheme()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("making a Kubernetes client for %s: %w", cfg.Host, err)
	}
	return c, cfg, nil
}

// dialTemporal connects to Temporal with the global flags and certflow's
// payload codec, so that encrypted query results read as the worker wrote
// them.
func (o *options) dialTemporal(ctx context.Context) (tclient.Client, error) {
	codec, err := o.payloadCodec(ctx)
	if err != nil {
		return nil, err
	}
	t := o.temporal
	t.Codec = codec
	t.Timeout = o.connectTimeout
	return connect.DialTemporal(ctx, t)
}

// workflowIDOf is the ID of the Certificate's workflow: as its status says,
// else as the controller makes it from the cluster's name (--cluster-name,
// else the kube-system namespace's UID).
func (o *options) workflowIDOf(ctx context.Context, cfg *rest.Config, cert *certflowv1.Certificate) (string, error) {
	if cert.Status.WorkflowID != "" {
		return cert.Status.WorkflowID, nil
	}
	if o.clusterName == "" {
		name, err := connect.ClusterName(ctx, cfg)
		if err != nil {
			return "", err
		}
		o.clusterName = name
	}
	return activities.CertificateWorkflowID(o.clusterName, activities.CertificateRef{Namespace: cert.Namespace, Name: cert.Name}), nil
}

// getCertificate reads one Certificate; a missing one says how to find it.
func getCertificate(ctx context.Context, kube client.Client, namespace, name string) (*certflowv1.Certificate, error) {
	var cert certflowv1.Certificate
	err := kube.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cert)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("Certificate %s/%s not found: is the namespace right? certflow list -A shows them all", namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("getting Certificate %s/%s: %w", namespace, name, err)
	}
	return &cert, nil
}

// writeStructured prints v as JSON or YAML.
func writeStructured(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding output: %w", err)
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encoding output: %w", err)
		}
	} else {
		data = append(data, '\n')
	}
	_, err = w.Write(data)
	return err
}

// parseWithin reads a Go duration or a whole number of days ("7d").
func parseWithin(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: want a number of days such as 7d, or a Go duration such as 36h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a number of days such as 7d, or a Go duration such as 36h", s)
	}
	return d, nil
}

// ago says how far t is from now in one rough unit: "3d", "5h", "40s", with
// "in " before a time to come and " ago" after one past. Zero is "-".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	return roughly(d) + " ago"
}

// roughly is a duration in its largest whole unit.
func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d >= 2*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= 2*time.Minute:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// stamp is a time for people: UTC, to the second, and how far from now.
func stamp(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339) + " (" + ago(t, now) + ")"
}

// orNone is s, or "-" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
