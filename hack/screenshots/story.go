package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/sandbox"
)

// The story's Certificates, both in namespace default: www is issued, shop is
// stuck.
const (
	namespace = "default"
	issued    = "www"
	stuck     = "shop"
)

// tell applies two ClusterIssuers for Pebble, pebble (its RFC 2136 server is
// the stack's BIND) and elsewhere (its RFC 2136 server is a BIND
// authoritative for elsewhere.test, not for the stack's zone), and a
// Certificate on each. It returns the stuck Certificate once certflow has
// issued www and reported a failed attempt for shop.
func tell(ctx context.Context, stack *sandbox.Stack, elsewhere *sandbox.BIND) (*certflowv1.Certificate, error) {
	kube, err := stack.Kubernetes.Client()
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	zone := stack.BIND.Zone
	misdirected := stack.ClusterIssuer("elsewhere", stack.Pebble.DirectoryURL, stack.Pebble.CACertPEM, sandbox.TSIGSecretName)
	misdirected.Spec.ACME.Solvers[0].DNS01.RFC2136.Nameserver = elsewhere.Addr
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sandbox.ClusterResourceNamespace}},
		stack.TSIGSecret(),
		stack.ClusterIssuer("pebble", stack.Pebble.DirectoryURL, stack.Pebble.CACertPEM, sandbox.TSIGSecretName),
		misdirected,
		certificate(issued, "pebble", issued+"."+zone),
		certificate(stuck, "elsewhere", "*."+stuck+"."+zone, stuck+"."+zone),
	}
	fmt.Printf("screenshots: applying Certificate %s/%s on ClusterIssuer pebble and %s/%s on ClusterIssuer elsewhere (RFC 2136 server %s, authoritative for elsewhere.test, not %s)\n",
		namespace, issued, namespace, stuck, elsewhere.Addr, zone)
	for _, obj := range objects {
		if err := kube.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}

	if _, err := waitFor(ctx, kube, issued, "Ready", func(c *certflowv1.Certificate) bool {
		return meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady)
	}); err != nil {
		return nil, err
	}
	cert, err := waitFor(ctx, kube, stuck, "a failed attempt", func(c *certflowv1.Certificate) bool {
		return c.Status.FailedIssuanceAttempts != nil && *c.Status.FailedIssuanceAttempts >= 1
	})
	if err != nil {
		return nil, err
	}
	if issuing := meta.FindStatusCondition(cert.Status.Conditions, certflowv1.ConditionIssuing); issuing != nil {
		fmt.Printf("screenshots: %s/%s is stuck: %s: %s\n", namespace, stuck, issuing.Reason, issuing.Message)
	}
	return cert, nil
}

func certificate(name, clusterIssuer string, dnsNames ...string) *certflowv1.Certificate {
	return &certflowv1.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: certflowv1.CertificateSpec{
			SecretName: name + "-tls",
			DNSNames:   dnsNames,
			IssuerRef:  certflowv1.ObjectReference{Kind: "ClusterIssuer", Name: clusterIssuer},
		},
	}
}

// waitFor reads the Certificate until ok says it has reached what, for two
// minutes at most: an issuance on the stack takes seconds, a first failed
// attempt less than a minute.
func waitFor(ctx context.Context, kube client.Client, name, what string, ok func(*certflowv1.Certificate) bool) (*certflowv1.Certificate, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var cert certflowv1.Certificate
		if err := kube.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cert); err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("reading Certificate %s/%s: %w", namespace, name, err)
		}
		if ok(&cert) {
			fmt.Printf("screenshots: %s/%s reached %s in %.1fs\n", namespace, name, what, time.Since(start).Seconds())
			return &cert, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s of Certificate %s/%s: %w", what, namespace, name, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
