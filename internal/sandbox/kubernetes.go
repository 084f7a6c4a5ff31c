package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/certflow/certflow/internal/connect"
)

// KubernetesOptions configures StartKubernetes.
type KubernetesOptions struct {
	// Dir receives the logs (etcd.log, kube-apiserver.log) and the kubeconfig.
	Dir string
	// GatewayAPI installs the Gateway API's standard CRDs the tests use
	// (Gateway, GatewayClass, HTTPRoute, ReferenceGrant; testdata/gateway-api,
	// copied from the module by make generate). Off, the cluster serves no
	// Gateway API, like most clusters.
	GatewayAPI bool
}

// Kubernetes is a running etcd + kube-apiserver with certflow's CRDs installed.
type Kubernetes struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same admin, for
	// certflow and kubectl.
	Kubeconfig string

	env  *envtest.Environment
	logs []*os.File
}

// StartKubernetes starts etcd and kube-apiserver on free loopback ports and
// installs the CRDs in deploy/crds, and the Gateway API's when asked.
func StartKubernetes(ctx context.Context, opts KubernetesOptions) (*Kubernetes, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := binary(name); err != nil {
			return nil, err
		}
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", opts.Dir, err)
	}
	etcdLog, err := os.Create(filepath.Join(opts.Dir, "etcd.log"))
	if err != nil {
		return nil, fmt.Errorf("creating etcd log: %w", err)
	}
	apiLog, err := os.Create(filepath.Join(opts.Dir, "kube-apiserver.log"))
	if err != nil {
		etcdLog.Close()
		return nil, fmt.Errorf("creating kube-apiserver log: %w", err)
	}
	k := &Kubernetes{logs: []*os.File{etcdLog, apiLog}}
	crds := []string{filepath.Join(root, "deploy", "crds")}
	if opts.GatewayAPI {
		crds = append(crds, filepath.Join(root, "internal", "sandbox", "testdata", "gateway-api"))
	}
	// The API server's certificates live in a folder of ours, not in one
	// envtest makes and removes on stop: StartAPIServer serves the same
	// certificate again, so clients that trusted it reconnect.
	certDir := filepath.Join(opts.Dir, "apiserver")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		k.closeLogs()
		return nil, fmt.Errorf("creating %s: %w", certDir, err)
	}
	// envtest picks free ports by listening on them and closing them again:
	// a process of a test running beside this one can take one before etcd
	// or the API server listens. Then the control plane starts again, on
	// ports picked anew.
	env, err := retryOnTakenPort(func() (*envtest.Environment, error) {
		env := environment(ctx, bin, crds, certDir, etcdLog, apiLog)
		// envtest has no context; it enforces ControlPlaneStartTimeout itself.
		if _, err := env.Start(); err != nil {
			// Start may fail after the control plane came up (a CRD the API
			// server refuses): stop whatever runs.
			_ = env.Stop()
			etcdTail, apiTail := tail(etcdLog.Name(), 15), tail(apiLog.Name(), 15)
			if slices.ContainsFunc(portTakenMessages, func(m string) bool { return strings.Contains(etcdTail+apiTail, m) }) {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return nil, fmt.Errorf("starting kube-apiserver: %w\netcd log:\n%s\nkube-apiserver log:\n%s", err, etcdTail, apiTail)
		}
		return env, nil
	})
	if err != nil {
		k.closeLogs()
		return nil, err
	}
	k.env, k.Config = env, env.Config
	k.Kubeconfig = filepath.Join(opts.Dir, "kubeconfig")
	if err := os.WriteFile(k.Kubeconfig, k.env.KubeConfig, 0o600); err != nil {
		_ = k.Stop()
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	return k, nil
}

// environment is an envtest control plane that picks its ports when started.
func environment(ctx context.Context, bin string, crds []string, certDir string, etcdLog, apiLog *os.File) *envtest.Environment {
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDDirectoryPaths:        crds,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: startTimeout(ctx, time.Minute),
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Out: etcdLog, Err: etcdLog}
	env.ControlPlane.APIServer = &envtest.APIServer{Out: apiLog, Err: apiLog, CertDir: certDir}
	// Without a grace period for watches, a stop waits for every client's
	// watch to end (controllers never end theirs) and envtest kills the
	// server after its stop timeout: end them after a second.
	env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	// As on clusters that run it (OpenShift does): setting blockOwnerDeletion
	// on a controller reference, as the ingress-shim does on its
	// Certificates, needs the right to update the owner's finalizers, and the
	// RBAC test proves deploy/rbac grants it.
	env.ControlPlane.APIServer.Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	return env
}

// EtcdURL is etcd's client URL (plain HTTP on loopback), which serves its
// /metrics too.
func (k *Kubernetes) EtcdURL() string { return k.env.ControlPlane.Etcd.URL.String() }

// Client reaches the API server as a cluster admin, knowing certflow's kinds.
func (k *Kubernetes) Client() (client.Client, error) {
	scheme, err := connect.Scheme()
	if err != nil {
		return nil, err
	}
	return client.New(k.Config, client.Options{Scheme: scheme})
}

// StopAPIServer stops kube-apiserver (SIGTERM) and leaves etcd running: the
// cluster's API is gone until StartAPIServer, its data is not.
func (k *Kubernetes) StopAPIServer() error {
	if err := k.env.ControlPlane.APIServer.Stop(); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same
// port, over the same etcd, with the same serving certificate and client CA:
// every client made before (Config, Kubeconfig) reconnects as it is. It
// waits until /healthz answers.
func (k *Kubernetes) StartAPIServer() error {
	if err := k.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w\nkube-apiserver log:\n%s", err, tail(k.logs[1].Name(), 15))
	}
	return nil
}

// Stop stops kube-apiserver and etcd and removes etcd's data.
func (k *Kubernetes) Stop() error {
	err := k.env.Stop()
	k.closeLogs()
	if err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

func (k *Kubernetes) closeLogs() {
	for _, f := range k.logs {
		f.Close()
	}
}

// startTimeout is what is left of ctx's deadline, or fallback when it has none.
func startTimeout(ctx context.Context, fallback time.Duration) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline)
	}
	return fallback
}
