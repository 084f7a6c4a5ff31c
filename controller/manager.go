// Package controller reconciles certflow's Kubernetes objects into Temporal
// workflows: it starts or signals the workflow of each Certificate and never
// talks to a CA or DNS itself (DESIGN.md section 2). It imports the API types,
// the workflows' names and input types, the Temporal client and
// controller-runtime; never activities.
package controller

import (
	"errors"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	certflowv1alpha1 "github.com/certflow/certflow/api/v1alpha1"
)

// Options configures the controller manager.
type Options struct {
	// HealthAddr serves /healthz and /readyz; "0" turns them off.
	HealthAddr string
	// LeaderElection makes one replica of several active at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the election's Lease.
	LeaderElectionNamespace string
}

// Scheme knows the Kubernetes built-in kinds and certflow's.
func Scheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	if err := certflowv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	return scheme, nil
}

// NewManager returns a controller-runtime manager with health checks and, when
// asked, leader election. Its cache holds only the kinds a reconciler watches.
func NewManager(cfg *rest.Config, opts Options) (manager.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
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
