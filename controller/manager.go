// Package controller reconciles certflow's Kubernetes objects into Temporal
// workflows: it starts or signals the workflow of each Certificate and never
// talks to a CA or DNS itself (DESIGN.md section 2). It imports the API types,
// the workflows' names and input types, the Temporal client and
// controller-runtime, and package shim (Certificates from Ingresses and
// Gateways); from activities only the types the workflows' inputs are
// made of and the Secret label names, never an activity.
package controller

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	tclient "go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/controller/shim"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/workflows"
)

// Options configures the controller manager (NewManager) and its reconcilers
// (Setup).
type Options struct {
	// HealthAddr serves /healthz and /readyz; "0" turns them off.
	HealthAddr string
	// LeaderElection makes one replica of several active at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the election's Lease.
	LeaderElectionNamespace string

	// Temporal starts, signals and cancels the workflows. Setup requires it;
	// the caller owns it and closes it after the manager stops.
	Temporal tclient.Client
	// TaskQueue the controller starts workflows on; empty is workflows.TaskQueue.
	TaskQueue string
	// Cluster is the cluster's name in workflow IDs; Setup requires it.
	Cluster string
	// FinalizerTimeout bounds how long a deleted Certificate waits for its
	// workflow to stop (and clean up); 0 is DefaultFinalizerTimeout.
	FinalizerTimeout time.Duration
	// ClusterResourceNamespace holds the Secrets ClusterIssuers read.
	ClusterResourceNamespace string
	// SearchAttributes: the Temporal namespace has certflow's search
	// attributes (CheckSearchAttributes), and the workflows may set them.
	SearchAttributes bool
	// Shim configures the ingress-shim and gateway-shim, which make
	// Certificates from annotated Ingresses and Gateways (package shim).
	Shim shim.Options
	// MaxConcurrentReconciles per reconciler; 0 is 4. Each reconcile is one or
	// two Temporal calls, so a few in parallel keep a restart with thousands
	// of Certificates short without loading the Temporal frontend.
	MaxConcurrentReconciles int
}

// Setup registers the Certificate, Issuer and ClusterIssuer reconcilers, the
// ingress-shim and the gateway-shim on a manager made by NewManager.
func Setup(mgr manager.Manager, opts Options) error {
	if opts.Temporal == nil || opts.Cluster == "" {
		return errors.New("setting up the controller: no Temporal client or no cluster name")
	}
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 4
	}
	if opts.FinalizerTimeout <= 0 {
		opts.FinalizerTimeout = DefaultFinalizerTimeout
	}
	if err := indexSecrets(mgr); err != nil {
		return err
	}
	secrets, err := newSecretVersions(mgr)
	if err != nil {
		return err
	}
	if err := setupCertificates(mgr, opts, secrets); err != nil {
		return fmt.Errorf("setting up the Certificate reconciler: %w", err)
	}
	if err := setupIssuers(mgr, opts, secrets); err != nil {
		return fmt.Errorf("setting up the issuer reconcilers: %w", err)
	}
	return shim.Setup(mgr, opts.Shim)
}

// NewManager returns a controller-runtime manager with health checks and, when
// asked, leader election. Its cache holds only the kinds a reconciler watches.
// Setup registers the reconcilers on it.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	scheme, err := connect.Scheme()
	if err != nil {
		return nil, err
	}
	cacheOpts, err := cacheOptions()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		HealthProbeBindAddress:  opts.HealthAddr,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "certflow-controller",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
	})
	if err != nil {
		return nil, fmt.Errorf("creating controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("cache", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("cache not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("adding readiness check: %w", err)
	}
	return mgr, nil
}

// cacheOptions keeps the cache to what certflow owns (DESIGN.md section 8:
// caching every Secret cost cert-manager 8 GB at 30k Secrets). Secrets are
// cached as metadata only, and only those labelled as a Certificate's target
// (pending key Secrets left out): the reconciler needs their resourceVersion,
// never their data. The selector asks only that the certificate-name label
// exists, whatever its value (a name or its hash); a target Secret never
// carries the pending-key label (a secretTemplate may not set certflow's keys,
// and StoreSecret removes it). A read of a kind no reconciler watches fails
// instead of quietly starting an informer for it, so a stray Get of a full
// Secret is an error in the tests, not a cluster-wide cache in production. Of
// a Secret's managed fields only who wrote and when is kept (ownSecretWrite).
// The issuers' Secrets are in a cache of their own: every Secret's name and
// version, nothing else (issuer_changes.go). Every Ingress is cached for the
// ingress-shim, trimmed to its TLS entries and the annotations the shim reads
// (shim.TrimIngress). Gateways, a few per cluster, are cached whole, and only
// when the API server serves them (shim.Setup).
func cacheOptions() (cache.Options, error) {
	certificateSecrets, err := labels.NewRequirement(activities.LabelCertificateName, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, fmt.Errorf("building the Secret label selector: %w", err)
	}
	notPending, err := labels.NewRequirement(activities.LabelPendingKey, selection.DoesNotExist, nil)
	if err != nil {
		return cache.Options{}, fmt.Errorf("building the Secret label selector: %w", err)
	}
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:        {Label: labels.NewSelector().Add(*certificateSecrets, *notPending), Transform: keepWriters},
			&networkingv1.Ingress{}: {Transform: shim.TrimIngress},
		},
		DefaultTransform:            cache.TransformStripManagedFields(),
		ReaderFailOnMissingInformer: true,
	}, nil
}

// keepWriters strips the managed fields of an object down to who wrote and
// when: the field sets are what makes them large.
func keepWriters(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		fields := o.GetManagedFields()
		for i := range fields {
			fields[i].FieldsV1 = nil
		}
		o.SetManagedFields(fields)
	}
	return obj, nil
}
