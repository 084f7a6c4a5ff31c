package connect

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// CRDGroupVersion is the API certflow's CRDs serve; its kinds must be installed.
const CRDGroupVersion = "certflow.dev/v1alpha1"

// Kubernetes says how to reach the API server.
type Kubernetes struct {
	// Kubeconfig is a kubeconfig path; empty uses $KUBECONFIG, then the
	// in-cluster service account, then ~/.kube/config.
	Kubeconfig string
	// Timeout bounds the reachability check.
	Timeout time.Duration
	// QPS and Burst limit requests on the client side. client-go's defaults
	// (5 and 10) would make the API server certflow's bottleneck: an
	// issuance makes about fifteen requests. The API server's priority and
	// fairness protects it from a busy client.
	QPS   float32
	Burst int
}

// KubernetesConfig loads the client configuration and checks that the API
// server answers and serves certflow's CRDs.
func KubernetesConfig(k Kubernetes) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the Kubernetes client configuration: %w (set --kubeconfig or KUBECONFIG)", err)
	}
	cfg.QPS, cfg.Burst = k.QPS, k.Burst
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	probe := rest.CopyConfig(cfg)
	probe.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(probe)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kubernetes at %s: %w", cfg.Host, err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, fmt.Errorf("connecting to Kubernetes at %s: %w: is the API server running and the kubeconfig right?", cfg.Host, err)
	}
	if _, err := dc.ServerResourcesForGroupVersion(CRDGroupVersion); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("connecting to Kubernetes at %s: the certflow CRDs (%s) are not installed: kubectl apply -f deploy/crds", cfg.Host, CRDGroupVersion)
		}
		return nil, fmt.Errorf("connecting to Kubernetes at %s: listing %s: %w", cfg.Host, CRDGroupVersion, err)
	}
	return cfg, nil
}

// ClusterName is the name certflow gives the cluster in workflow IDs when
// none is configured: "kube-" and the first 8 characters of the kube-system
// namespace's UID, which stays the same for the cluster's life and differs
// between clusters.
func ClusterName(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading namespace %s for the cluster's name: %w (set --cluster-name)", metav1.NamespaceSystem, err)
	}
	uid := strings.ReplaceAll(string(ns.UID), "-", "")
	return "kube-" + uid[:min(8, len(uid))], nil
}
