package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
	"github.com/certflow/certflow/workflows"
)

const (
	demoNamespace = "default"
	demoName      = "demo"
	demoSecret    = "demo-tls"
)

// issue applies a ClusterIssuer for Pebble with an RFC 2136 solver for BIND
// and a Certificate for *.demo.<zone> and demo.<zone>, follows the
// Certificate's status until it is Ready, and prints the result.
func issue(ctx context.Context, stack *sandbox.Stack, envFile string) error {
	kube, err := stack.Kubernetes.Client()
	if err != nil {
		return fmt.Errorf("creating Kubernetes client: %w", err)
	}
	zone := stack.BIND.Zone
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sandbox.ClusterResourceNamespace}},
		stack.TSIGSecret(),
		stack.ClusterIssuer("pebble", stack.Pebble.DirectoryURL, stack.Pebble.CACertPEM, sandbox.TSIGSecretName),
		&certflowv1.Certificate{
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: demoName},
			Spec: certflowv1.CertificateSpec{
				SecretName: demoSecret,
				DNSNames:   []string{"*." + demoName + "." + zone, demoName + "." + zone},
				IssuerRef:  certflowv1.ObjectReference{Kind: "ClusterIssuer", Name: "pebble"},
			},
		},
	}
	fmt.Println("\nApplying ClusterIssuer pebble and Certificate default/demo for *.demo." + zone + " and demo." + zone + ":")
	for _, obj := range objects {
		if err := kube.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}

	start := time.Now()
	cert, err := follow(ctx, kube, start)
	if err != nil {
		return err
	}
	var secret corev1.Secret
	if err := kube.Get(ctx, types.NamespacedName{Namespace: demoNamespace, Name: demoSecret}, &secret); err != nil {
		return fmt.Errorf("reading Secret %s: %w", demoSecret, err)
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		return fmt.Errorf("Secret %s holds no certificate", demoSecret)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("parsing the issued certificate: %w", err)
	}
	if err := printSteps(ctx, stack); err != nil {
		return err
	}
	id := activities.CertificateWorkflowID(sandbox.ClusterName, activities.CertificateRef{Namespace: demoNamespace, Name: demoName})
	fmt.Printf(`
Ready in %.1fs: Secret %s/%s (revision %d)
  subject    %s
  SANs       %s
  issuer     %s
  serial     %X
  notAfter   %s
  renews at  %s

Every step in the Temporal Web UI:
  %s/namespaces/%s/workflows/%s

Force a renewal:
  source %s
  temporal workflow signal --workflow-id %s --name %s
  kubectl get cfcert %s -o wide
`, time.Since(start).Seconds(), demoNamespace, demoSecret, *cert.Status.Revision,
		subject(leaf), strings.Join(leaf.DNSNames, ", "), leaf.Issuer, leaf.SerialNumber,
		leaf.NotAfter.UTC().Format(time.RFC3339), cert.Status.RenewalTime.UTC().Format(time.RFC3339),
		stack.Temporal.UIURL, stack.Temporal.Namespace, url.PathEscape(id),
		envFile, id, workflows.SignalRenew, demoName)
	return nil
}

// follow prints each step as the status reports it and returns the
// Certificate once Ready.
func follow(ctx context.Context, kube client.Client, start time.Time) (*certflowv1.Certificate, error) {
	last := ""
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var cert certflowv1.Certificate
		if err := kube.Get(ctx, types.NamespacedName{Namespace: demoNamespace, Name: demoName}, &cert); err != nil {
			return nil, fmt.Errorf("reading Certificate: %w", err)
		}
		ready := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionReady)
		line := string(cert.Status.Step)
		if ready != nil && line == "" {
			line = ready.Reason + ": " + ready.Message
		}
		if line != "" && line != last {
			fmt.Printf("  %5.1fs  %s\n", time.Since(start).Seconds(), line)
			last = line
		}
		if ready != nil && ready.Status == metav1.ConditionTrue && cert.Status.Revision != nil {
			return &cert, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func subject(leaf *x509.Certificate) string {
	if s := leaf.Subject.String(); s != "" {
		return s
	}
	return "(empty: the names are in the SANs, as ACME CAs issue them)"
}
