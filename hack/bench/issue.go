package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/internal/pki"
	"github.com/certflow/certflow/internal/sandbox"
)

const benchNamespace = "bench"

// progressEvery is how often a long run says how many are Ready (on stderr).
const progressEvery = 30 * time.Second

type results struct {
	total, p50, p90, max time.Duration
}

// issueAll creates n Certificates at once (in parallel, as an import would),
// watches them until every one is Ready, and verifies every Secret.
func issueAll(ctx context.Context, kube client.WithWatch, stack *sandbox.Stack, n int, issuerKind string) (results, error) {
	watch, err := kube.Watch(ctx, &certflowv1.CertificateList{}, client.InNamespace(benchNamespace))
	if err != nil {
		return results{}, fmt.Errorf("watching Certificates: %w", err)
	}
	defer func() { watch.Stop() }()

	created := make([]time.Time, n)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := &certflowv1.Certificate{
				ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name(i)},
				Spec: certflowv1.CertificateSpec{
					SecretName: name(i) + "-tls",
					DNSNames:   []string{name(i) + "." + stack.BIND.Zone},
					IssuerRef:  certflowv1.ObjectReference{Kind: issuerKind, Name: issuerName},
				},
			}
			created[i] = time.Now()
			if err := kube.Create(ctx, c); err != nil {
				errs <- fmt.Errorf("creating %s: %w", c.Name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return results{}, err
	}

	ready := make([]time.Duration, n)
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	for left := n; left > 0; {
		select {
		case <-progress.C:
			fmt.Fprintf(os.Stderr, "bench: %d of %d Ready after %s\n", n-left, n, time.Since(start).Round(time.Second))
		case <-ctx.Done():
			return results{}, fmt.Errorf("%d of %d certificates not Ready: %w", left, n, ctx.Err())
		case ev, ok := <-watch.ResultChan():
			if !ok {
				// The API server may end a watch under load: watch again, from
				// the Certificates as they are now.
				if watch, err = kube.Watch(ctx, &certflowv1.CertificateList{}, client.InNamespace(benchNamespace)); err != nil {
					return results{}, fmt.Errorf("watching Certificates again, %d not Ready: %w", left, err)
				}
				continue
			}
			c, isCert := ev.Object.(*certflowv1.Certificate)
			if !isCert {
				continue
			}
			i, _ := strconv.Atoi(c.Name[len("cert-"):])
			if ready[i] == 0 && meta.IsStatusConditionTrue(c.Status.Conditions, certflowv1.ConditionReady) {
				ready[i] = time.Since(created[i])
				left--
			}
		}
	}
	total := time.Since(start)
	if err := verifyAll(ctx, kube, stack, n); err != nil {
		return results{}, err
	}
	slices.Sort(ready)
	return results{total: total, p50: ready[n*50/100], p90: ready[min(n-1, n*90/100)], max: ready[n-1]}, nil
}

func name(i int) string { return fmt.Sprintf("cert-%d", i) }

// verifyAll checks each Secret: chained to Pebble's root, for its name, with the key of its certificate.
func verifyAll(ctx context.Context, kube client.Client, stack *sandbox.Stack, n int) error {
	rootPEM, err := stack.Pebble.Root(ctx)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	for i := range n {
		var s corev1.Secret
		if err := kube.Get(ctx, types.NamespacedName{Namespace: benchNamespace, Name: name(i) + "-tls"}, &s); err != nil {
			return fmt.Errorf("reading Secret of %s: %w", name(i), err)
		}
		chain, err := pki.ParseChain(s.Data["tls.crt"])
		if err != nil {
			return fmt.Errorf("%s: tls.crt: %w", name(i), err)
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name(i) + "." + stack.BIND.Zone, Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("%s: %w", name(i), err)
		}
		key, err := pki.ParseKey(s.Data["tls.key"])
		if err != nil {
			return fmt.Errorf("%s: %w", name(i), err)
		}
		if !pki.KeyMatches(chain[0], key) {
			return fmt.Errorf("%s: tls.key is not the certificate's key", name(i))
		}
	}
	return nil
}
