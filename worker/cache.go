package worker

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// credentialsTTL is how long the activities use a credential Secret (an
// account key, a TSIG secret) before they read it again: the steps of a burst
// of issuances read it once, and a changed Secret is used within a minute.
const credentialsTTL = time.Minute

// watchOwnKinds returns a reader of certflow's own kinds (Certificates,
// Issuers and ClusterIssuers) from a cache that watches them, so that each
// step does not read its Certificate and issuer from the API server again.
// Only these kinds are cached (certflow's own, small; never Secrets);
// Worker.Start waits until the cache is filled.
func watchOwnKinds(cfg *rest.Config, scheme *runtime.Scheme) (cache.Cache, func(), error) {
	kinds := []client.Object{&certflowv1.Certificate{}, &certflowv1.Issuer{}, &certflowv1.ClusterIssuer{}}
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range kinds {
		byObject[obj] = cache.ByObject{}
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields(),
		ReaderFailOnMissingInformer: true})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the cache of certflow's kinds: %w", err)
	}
	for _, obj := range kinds {
		if _, err := c.GetInformer(context.Background(), obj); err != nil {
			return nil, nil, fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Start(ctx) }()
	return c, cancel, nil
}
