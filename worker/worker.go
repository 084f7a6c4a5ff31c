// Package worker builds the Temporal worker that runs certflow's workflows and
// activities on a task queue: it registers them under their API names and
// builds the activities' dependencies (Kubernetes client, event recorder,
// issuer resolver, the challenge types and their DNS providers, the
// propagation checker, the Temporal client the permits activities signal the
// account limiters with). It imports workflows and
// activities and is imported only by cmd/certflow.
package worker

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	"github.com/certflow/certflow/activities/certificates"
	"github.com/certflow/certflow/activities/challenges"
	"github.com/certflow/certflow/activities/challenges/dns01"
	"github.com/certflow/certflow/activities/challenges/http01"
	"github.com/certflow/certflow/activities/dns/propagation"
	"github.com/certflow/certflow/activities/issuers"
	"github.com/certflow/certflow/activities/issuers/acme"
	"github.com/certflow/certflow/activities/issuers/ca"
	"github.com/certflow/certflow/activities/issuers/signing"
	"github.com/certflow/certflow/activities/issuers/vault"
	"github.com/certflow/certflow/activities/keys"
	"github.com/certflow/certflow/activities/permits"
	"github.com/certflow/certflow/activities/secrets"
	"github.com/certflow/certflow/activities/status"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/metrics"
	"github.com/certflow/certflow/workflows"
)

// Options configures a worker.
type Options struct {
	// TaskQueue to poll; workflows.TaskQueue unless several certflows share a namespace.
	TaskQueue string
	// Cluster is the cluster's name in workflow IDs.
	Cluster string
	// Kubernetes is the API server the activities read and write.
	Kubernetes *rest.Config
	// ClusterResourceNamespace holds the Secrets of ClusterIssuers.
	ClusterResourceNamespace string
	// DNS01Resolvers answer the SOA/NS walk of propagation checks (host:port).
	DNS01Resolvers []string
	// DNS01ResolversOnly checks propagation on the resolvers instead of the
	// authoritative nameservers.
	DNS01ResolversOnly bool
	// DNS01NameserverPort is where authoritative nameservers are asked; 53.
	DNS01NameserverPort int
	// DNS01Endpoints replace the API address of DNS providers, by provider
	// name ("cloudflare": "https://cf-proxy.internal/client/v4").
	DNS01Endpoints map[string]string
	// IssuerAmbientCredentials lets namespaced Issuers' DNS providers use the
	// worker's own cloud identity, as ClusterIssuers' always may.
	IssuerAmbientCredentials bool
	// ACMEAllowSkipTLSVerify lets ACME issuers' skipTLSVerify turn off the
	// check of their CA's certificate; without it they are refused.
	ACMEAllowSkipTLSVerify bool
	// HTTP01Responder is the Service of the HTTP-01 responder (certflow
	// solver): http-01 responses go in its namespace, and challenge routes
	// lead to its endpoints.
	HTTP01Responder types.NamespacedName
	// HTTP01SelfCheckPort is where the self-check of an http-01 response
	// connects instead of port 80; 0 is 80.
	HTTP01SelfCheckPort int
	// TemporalNamespace and TemporalUIURL make the Web UI links in status.
	TemporalNamespace string
	TemporalUIURL     string
	// WorkflowCacheSize is how many workflows the process keeps in memory
	// between their tasks (the SDK's sticky cache, one per process); the
	// least recently used leave first and are replayed from their short
	// histories when they wake. 0 keeps the SDK's default.
	WorkflowCacheSize int
	// WorkflowTaskSlots is how many workflow tasks the worker runs at once;
	// 0 is DefaultWorkflowTaskSlots. An issuance attempt holds a slot while
	// its steps run (local activities, in the task), so the slots bound the
	// issuances in flight: a burst of Certificates finishes its first ones
	// early instead of all of them late, each waiting behind the others'
	// keys.
	WorkflowTaskSlots int
	// ACMERequestMetrics counts and times the requests to ACME CAs; nil
	// counts none.
	ACMERequestMetrics *metrics.ACME
	// OnFatalError is called when the worker stops for good (the namespace
	// is gone, the server refuses it): the process should exit, not linger.
	OnFatalError func(error)
}

// What the activities need of the API server: ClusterRole certflow-worker in
// deploy/rbac (make generate); the controller's markers are in package
// controller. Secrets are read and written by name only, never listed or
// watched: the account and pending keys, the credentials issuers refer to, and
// the certificates' own Secrets (the pending key's owner reference does not
// block deletion, so no certificates/finalizers). Certificates, Issuers and
// ClusterIssuers are watched (cache.go) and read again by name before an
// activity acts. Certificate status is patched, issuer status replaced. Events
// go through client-go's core/v1 recorder. kube-system is read for the default
// --cluster-name. An http-01 challenge writes its response into a ConfigMap of
// the responder's namespace (a Role of that namespace, deploy/rbac/http01.yaml),
// reads the responder Service's endpoints there,
// and makes a Service, its EndpointSlice and an Ingress or HTTPRoute in the
// Certificate's namespace (or adds a rule to an existing Ingress): all by name.
//
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update;patch;delete
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates,verbs=get;list;watch
// +kubebuilder:rbac:groups=certflow.dev,resources=certificates/status,verbs=patch
// +kubebuilder:rbac:groups=certflow.dev,resources=issuers;clusterissuers,verbs=get;list;watch
// +kubebuilder:rbac:groups=certflow.dev,resources=issuers/status;clusterissuers/status,verbs=update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,resourceNames=kube-system,verbs=get
// +kubebuilder:rbac:groups="",resources=services,verbs=get;create;update;delete
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;create;update;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;create;update;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;create;update;delete

// Worker polls certflow's task queue with the workflows and activities
// registered, and the account limiters' task queue (LimiterTaskQueue) with
// the limiter workflow: a limiter's tasks do not wait behind the issuances'.
type Worker struct {
	main, limiters sdkworker.Worker
	ownKinds       cache.Cache
	release        func() // the event broadcaster and the issuers' watch
}

// cacheFillTimeout bounds Start's wait for the cache of certflow's kinds.
const cacheFillTimeout = time.Minute

// Start waits until the cache of certflow's kinds is filled, then starts
// polling both task queues. Waiting here keeps the wait out of the first
// tasks: an informer of a kind with no objects yet is filled only by the API
// server's next watch bookmark, about a second after it starts, and a
// Certificate created meanwhile waited that long for its first read. When
// Start fails, everything is released: the worker is not to be stopped.
func (w *Worker) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), cacheFillTimeout)
	defer cancel()
	if !w.ownKinds.WaitForCacheSync(ctx) {
		w.release()
		return fmt.Errorf("the cache of Certificates, Issuers and ClusterIssuers was not filled within %s", cacheFillTimeout)
	}
	if err := w.limiters.Start(); err != nil {
		w.release()
		return fmt.Errorf("starting the account limiters' worker: %w", err)
	}
	if err := w.main.Start(); err != nil {
		w.limiters.Stop()
		w.release()
		return err
	}
	return nil
}

// Stop stops polling, waits for the tasks under way, and releases the rest.
func (w *Worker) Stop() {
	w.main.Stop()
	w.limiters.Stop()
	w.release()
}

// New returns a worker for the task queue with certflow's workflows and
// activities registered; the caller starts and stops it.
func New(c client.Client, opts Options) (*Worker, error) {
	scheme, err := connect.Scheme()
	if err != nil {
		return nil, err
	}
	kube, err := ctrlclient.New(opts.Kubernetes, ctrlclient.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	kube = ctrlclient.WithFieldOwner(kube, activities.FieldManager)
	clientset, err := kubernetes.NewForConfig(opts.Kubernetes)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes clientset: %w", err)
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: clientset.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "certflow"})

	ownKinds, stopCache, err := watchOwnKinds(opts.Kubernetes, scheme)
	if err != nil {
		broadcaster.Shutdown()
		return nil, err
	}
	resolver := &issuers.Resolver{
		Client: kube, Issuers: ownKinds, CredentialsTTL: credentialsTTL,
		ClusterResourceNamespace: opts.ClusterResourceNamespace,
	}
	certs := &certificates.Reader{Kube: kube, Cache: ownKinds, Recorder: recorder}
	statuses := &status.Activities{Kube: kube, Recorder: recorder, UIBaseURL: opts.TemporalUIURL, TemporalNamespace: opts.TemporalNamespace,
		Writers: &certificates.Writers{Temporal: c, Cluster: opts.Cluster, Certificates: certs}}
	if opts.WorkflowCacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(opts.WorkflowCacheSize)
	}
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentWorkflowTaskExecutionSize: cmp.Or(opts.WorkflowTaskSlots, DefaultWorkflowTaskSlots()),
		OnFatalError:                           opts.OnFatalError,
		Interceptors:                           []interceptor.WorkerInterceptor{&progressInterceptor{delay: progressDelay, write: statuses.WriteStatus}},
	})
	w.RegisterWorkflowWithOptions(workflows.Certificate, workflow.RegisterOptions{Name: workflows.CertificateWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.Order, workflow.RegisterOptions{Name: workflows.OrderWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.Issuer, workflow.RegisterOptions{Name: workflows.IssuerWorkflowName})

	checker := &propagation.Checker{
		Resolvers: opts.DNS01Resolvers, ResolversOnly: opts.DNS01ResolversOnly, AuthoritativePort: opts.DNS01NameserverPort,
	}
	dns := &dns01.Type{
		Providers: dns01.Providers, Checker: checker, Endpoints: opts.DNS01Endpoints, IssuerAmbientCredentials: opts.IssuerAmbientCredentials,
		Kubernetes: opts.Kubernetes,
	}
	challengeTypes := map[string]challenges.Type{
		"dns-01":         dns,
		"dns-persist-01": dns01.PersistType{Type: dns},
		"http-01": &http01.Type{
			Kube: kube, Responder: opts.HTTP01Responder,
			SelfCheck: http01.SelfCheck{Resolvers: opts.DNS01Resolvers, Port: opts.HTTP01SelfCheckPort},
		},
	}
	acmeActivities := &acme.Activities{Issuers: resolver, Kube: kube, Certificates: certs, ChallengeTypes: slices.Sorted(maps.Keys(challengeTypes)),
		AllowSkipTLSVerify: opts.ACMEAllowSkipTLSVerify, Resolvers: opts.DNS01Resolvers, RequestMetrics: opts.ACMERequestMetrics}
	caActivities := &ca.Activities{Issuers: resolver, Kube: kube, Certificates: certs}
	vaultActivities := &vault.Activities{Issuers: resolver, Certificates: certs, Tokens: clientset.CoreV1()}
	issuerTypes := map[string]issuers.Type{
		activities.IssuerTypeACME: acmeActivities, activities.IssuerTypeCA: caActivities, activities.IssuerTypeSelfSigned: caActivities,
		activities.IssuerTypeVault: vaultActivities,
	}
	signers := &signing.Activities{Issuers: resolver, Types: map[string]signing.Signer{
		activities.IssuerTypeCA: caActivities, activities.IssuerTypeSelfSigned: caActivities, activities.IssuerTypeVault: vaultActivities,
	}}
	activities.Register(w, slices.Concat(
		(&keys.Activities{Kube: kube, Issuers: resolver, Certificates: certs, Types: issuerTypes}).Bindings(),
		acmeActivities.Bindings(),
		signers.Bindings(),
		(&challenges.Activities{Issuers: resolver, Certificates: certs, Types: challengeTypes}).Bindings(),
		(&secrets.Activities{Kube: kube, Certificates: certs, Issuers: resolver}).Bindings(),
		(&permits.Activities{Temporal: c, TaskQueue: opts.TaskQueue, Cluster: opts.Cluster, Issuers: resolver, Certificates: certs}).Bindings(),
		statuses.Bindings(),
	)...)

	limiters := sdkworker.New(c, activities.LimiterTaskQueue(opts.TaskQueue), sdkworker.Options{OnFatalError: opts.OnFatalError})
	limiters.RegisterWorkflowWithOptions(workflows.AccountLimiter, workflow.RegisterOptions{Name: activities.LimiterWorkflowName})
	return &Worker{main: w, limiters: limiters, ownKinds: ownKinds, release: func() { stopCache(); broadcaster.Shutdown() }}, nil
}

// DefaultWorkflowTaskSlots is 16 workflow tasks per CPU the process may use.
// make bench N=300 on 2 CPUs, all Ready (p50): 25.6 s (20.6 s) with the SDK's
// 1000, 26.3 s (12.9 s) with 8, 26.0 s (12.9 s) with 16, 25.4 s (12.6 s)
// with 32. More than the fewest that keep the CPUs busy, for steps that
// wait on a slow DNS provider or CA while holding their slot.
func DefaultWorkflowTaskSlots() int { return 16 * max(1, runtime.GOMAXPROCS(0)) }
