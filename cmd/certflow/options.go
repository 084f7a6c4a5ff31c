package main

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certflow/certflow/internal/metrics"

	"github.com/spf13/cobra"

	"github.com/certflow/certflow/api/v1alpha1"
	"github.com/certflow/certflow/controller"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/worker"
	"github.com/certflow/certflow/workflows"
)

// options are the flags shared by the subcommands. Each flag's default comes
// from its environment variable (named in its help), so the same settings work
// in a Deployment's env and on the command line. Temporal's variables follow
// the temporal CLI's names.
type options struct {
	kubeconfig     string
	temporal       connect.Temporal
	taskQueue      string
	clusterName    string
	connectTimeout time.Duration
	healthAddr     string
	metricsAddr    string
	leaderElect    bool
	leaderElectNS  string
	finalizerWait  time.Duration
	logLevel       string

	certManagerAnnotations bool
	certManagerMetrics     bool
	defaultIssuer          v1alpha1.ObjectReference

	kubeQPS                  float32
	kubeBurst                int
	clusterResourceNamespace string
	temporalUIURL            string
	dns01Resolvers           []string
	dns01ResolversOnly       bool
	dns01NameserverPort      int
	dns01Endpoints           map[string]string
	issuerAmbientCredentials bool
	acmeAllowSkipTLSVerify   bool
	workflowCacheSize        int
	workflowTaskSlots        int
	http01Namespace          string
	http01Service            string
	http01SelfCheckPort      int
	http01Listen             string

	payloadKeyFile   string
	payloadKeySecret string
}

func (o *options) bindGlobal(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig path; empty uses in-cluster config, then ~/.kube/config (KUBECONFIG)")
	f.StringVar(&o.temporal.Address, "temporal-address", env("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (TEMPORAL_ADDRESS)")
	f.StringVar(&o.temporal.Namespace, "temporal-namespace", env("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (TEMPORAL_NAMESPACE)")
	f.StringVar(&o.temporal.Identity, "identity", os.Getenv("CERTFLOW_IDENTITY"), "name this process gives Temporal, recorded in histories with each task a worker ran and each workflow a client started or signalled; default <pid>@<hostname>, in a pod 1@<pod name> (CERTFLOW_IDENTITY)")
	f.StringVar(&o.taskQueue, "task-queue", env("CERTFLOW_TASK_QUEUE", workflows.TaskQueue), "Temporal task queue; clusters that share a Temporal namespace need one each (CERTFLOW_TASK_QUEUE)")
	f.StringVar(&o.clusterName, "cluster-name", os.Getenv("CERTFLOW_CLUSTER_NAME"), "the cluster's name in workflow IDs, so that clusters can share a Temporal namespace; default: kube- and the start of the kube-system namespace's UID (CERTFLOW_CLUSTER_NAME)")
	f.BoolVar(&o.temporal.TLS, "temporal-tls", envBool("TEMPORAL_TLS"), "connect to Temporal over TLS with the system roots (TEMPORAL_TLS)")
	f.BoolVar(&o.temporal.Gzip, "temporal-gzip", envBool("TEMPORAL_GZIP"), "compress the messages to Temporal: for a distant server such as Temporal Cloud, at some CPU (TEMPORAL_GZIP)")
	f.StringVar(&o.temporal.ClientCertPath, "temporal-tls-cert", os.Getenv("TEMPORAL_TLS_CLIENT_CERT_PATH"), "mTLS client certificate file (TEMPORAL_TLS_CLIENT_CERT_PATH)")
	f.StringVar(&o.temporal.ClientKeyPath, "temporal-tls-key", os.Getenv("TEMPORAL_TLS_CLIENT_KEY_PATH"), "mTLS client key file (TEMPORAL_TLS_CLIENT_KEY_PATH)")
	f.StringVar(&o.temporal.ServerCAPath, "temporal-tls-ca", os.Getenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH"), "CA file that verifies the Temporal server (TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	f.StringVar(&o.temporal.ServerName, "temporal-tls-server-name", os.Getenv("TEMPORAL_TLS_SERVER_NAME"), "server name expected in Temporal's certificate (TEMPORAL_TLS_SERVER_NAME)")
	// The API key is read from the environment only, so it never shows in a process list.
	o.temporal.APIKey = os.Getenv("TEMPORAL_API_KEY")
	f.DurationVar(&o.connectTimeout, "connect-timeout", 10*time.Second, "how long to wait for Temporal and Kubernetes at start before giving up")
	f.StringVar(&o.logLevel, "log-level", env("CERTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (CERTFLOW_LOG_LEVEL)")
	f.Float32Var(&o.kubeQPS, "kube-api-qps", 100, "requests per second to the Kubernetes API server, sustained")
	f.IntVar(&o.kubeBurst, "kube-api-burst", 200, "requests to the Kubernetes API server in a burst")
	f.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", env("CERTFLOW_CLUSTER_RESOURCE_NAMESPACE", "certflow"), "namespace of the Secrets ClusterIssuers refer to (CERTFLOW_CLUSTER_RESOURCE_NAMESPACE)")
	f.StringVar(&o.temporalUIURL, "temporal-ui-url", os.Getenv("CERTFLOW_TEMPORAL_UI_URL"), "Temporal Web UI base URL, for workflow links in status (CERTFLOW_TEMPORAL_UI_URL)")
	f.StringVar(&o.payloadKeyFile, "payload-key-file", os.Getenv("CERTFLOW_PAYLOAD_KEY_FILE"), "file of AES-256 keys that encrypt workflow payloads, one base64 key a line, optional ID: prefix, current first; default: no encryption (CERTFLOW_PAYLOAD_KEY_FILE)")
	f.StringVar(&o.payloadKeySecret, "payload-key-secret", os.Getenv("CERTFLOW_PAYLOAD_KEY_SECRET"), "NAMESPACE/NAME[:KEY] of a Secret whose KEY (default \"keys\") holds the payload keys in the key file's format, read once at start (CERTFLOW_PAYLOAD_KEY_SECRET)")
}

func (o *options) bindWorker(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&o.dns01Resolvers, "dns01-recursive-nameservers", envList("CERTFLOW_DNS01_RECURSIVE_NAMESERVERS"), "host:port of DNS resolvers for propagation checks; default: those in /etc/resolv.conf (CERTFLOW_DNS01_RECURSIVE_NAMESERVERS)")
	f.BoolVar(&o.dns01ResolversOnly, "dns01-recursive-nameservers-only", envBool("CERTFLOW_DNS01_RECURSIVE_NAMESERVERS_ONLY"), "check propagation on the resolvers only, not on the zone's authoritative nameservers")
	f.IntVar(&o.dns01NameserverPort, "dns01-nameserver-port", 53, "port of the authoritative nameservers asked in propagation checks")
	f.StringToStringVar(&o.dns01Endpoints, "dns01-endpoint", envMap("CERTFLOW_DNS01_ENDPOINTS"), "PROVIDER=URL replaces a DNS provider's API address (cloudflare, route53, azureDNS, cloudDNS, digitalocean): for API-compatible services and proxies; repeatable (CERTFLOW_DNS01_ENDPOINTS, comma-separated)")
	f.BoolVar(&o.issuerAmbientCredentials, "issuer-ambient-credentials", envBool("CERTFLOW_ISSUER_AMBIENT_CREDENTIALS"), "let the DNS providers of namespaced Issuers use the worker's own cloud identity (IRSA, pod or managed identity, instance role), as ClusterIssuers' always may (CERTFLOW_ISSUER_AMBIENT_CREDENTIALS)")
	f.BoolVar(&o.acmeAllowSkipTLSVerify, "acme-allow-skip-tls-verify", envBool("CERTFLOW_ACME_ALLOW_SKIP_TLS_VERIFY"), "let ACME issuers' skipTLSVerify turn off the check of their CA's certificate (development CAs only); without it such an issuer is refused (CERTFLOW_ACME_ALLOW_SKIP_TLS_VERIFY)")
	f.IntVar(&o.workflowTaskSlots, "workflow-task-slots", worker.DefaultWorkflowTaskSlots(), "workflow tasks the worker runs at once; an issuance holds one while its steps run, so this bounds the issuances in flight: a burst finishes its first certificates early; raise it when steps wait long on a slow DNS provider or CA")
	o.bindResponderNamespace(cmd)
	f.StringVar(&o.http01Service, "http01-solver-service", env("CERTFLOW_HTTP01_SOLVER_SERVICE", "certflow-solver"), "name of the HTTP-01 responder's Service in --http01-solver-namespace: challenge routes lead to its endpoints (CERTFLOW_HTTP01_SOLVER_SERVICE)")
	f.IntVar(&o.http01SelfCheckPort, "http01-self-check-port", 80, "port the self-check of an http-01 response connects to instead of 80, where the cluster's ingress listens on another")
	f.IntVar(&o.workflowCacheSize, "workflow-cache-size", 500, "workflows the worker keeps in memory between their tasks (about 50 KB each): size it to the issuances in flight, not to the certificates; a sleeping certificate's leaves when others need the room, so memory stays bounded however many certificates there are")
}

// bindMetrics binds where /metrics is served: each part serves what it has,
// `run` both parts' on one server.
func (o *options) bindMetrics(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-addr", env("CERTFLOW_METRICS_ADDR", metrics.DefaultAddr), "address serving Prometheus metrics at /metrics; 0 or empty turns them off (CERTFLOW_METRICS_ADDR)")
	f.BoolVar(&o.certManagerMetrics, "metrics-cert-manager-names", envBool("CERTFLOW_METRICS_CERT_MANAGER_NAMES"), "export each metric under cert-manager's name (certmanager_*) too, for its dashboards and alerts (CERTFLOW_METRICS_CERT_MANAGER_NAMES)")
}

// bindResponderNamespace binds where the http-01 responses are kept: the
// worker writes them there, the responder reads them.
func (o *options) bindResponderNamespace(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.http01Namespace, "http01-solver-namespace", env("POD_NAMESPACE", "certflow"), "namespace of the HTTP-01 responder: http-01 responses are kept in ConfigMaps there, and its Service is there (POD_NAMESPACE)")
}

// bindResponder binds where the HTTP-01 responder listens.
func (o *options) bindResponder(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.http01Listen, "http01-solver-listen", env("CERTFLOW_HTTP01_SOLVER_LISTEN", ":8089"), "address the HTTP-01 responder serves challenges on; empty turns it off (CERTFLOW_HTTP01_SOLVER_LISTEN)")
}

func (o *options) bindController(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.healthAddr, "health-addr", env("CERTFLOW_HEALTH_ADDR", ":8081"), "address serving /healthz and /readyz; 0 turns them off (CERTFLOW_HEALTH_ADDR)")
	f.BoolVar(&o.leaderElect, "leader-elect", envBool("CERTFLOW_LEADER_ELECT"), "elect one active controller among replicas (CERTFLOW_LEADER_ELECT)")
	f.DurationVar(&o.finalizerWait, "finalizer-timeout", envDuration("CERTFLOW_FINALIZER_TIMEOUT", controller.DefaultFinalizerTimeout), "how long a deleted Certificate waits for its workflow to stop and clean up before it goes anyway; annotate it certflow.dev/force-delete=true to let it go at once (CERTFLOW_FINALIZER_TIMEOUT)")
	f.StringVar(&o.leaderElectNS, "leader-election-namespace", env("POD_NAMESPACE", "certflow"), "namespace of the leader election Lease (POD_NAMESPACE)")
	f.BoolVar(&o.certManagerAnnotations, "cert-manager-annotations", envBoolOr("CERTFLOW_CERT_MANAGER_ANNOTATIONS", true), "make Certificates for Ingresses and Gateways annotated with cert-manager's names too (cert-manager.io/cluster-issuer, cert-manager.io/issuer, kubernetes.io/tls-acme, ...), not only certflow.dev/ ones; turn it off while cert-manager still serves them (CERTFLOW_CERT_MANAGER_ANNOTATIONS)")
	f.StringVar(&o.defaultIssuer.Name, "default-issuer-name", os.Getenv("CERTFLOW_DEFAULT_ISSUER_NAME"), "issuer of Ingresses annotated kubernetes.io/tls-acme: \"true\" (CERTFLOW_DEFAULT_ISSUER_NAME)")
	f.StringVar(&o.defaultIssuer.Kind, "default-issuer-kind", env("CERTFLOW_DEFAULT_ISSUER_KIND", v1alpha1.ClusterIssuerKind), "kind of the default issuer: ClusterIssuer or Issuer (cert-manager's default is Issuer) (CERTFLOW_DEFAULT_ISSUER_KIND)")
	f.StringVar(&o.defaultIssuer.Group, "default-issuer-group", os.Getenv("CERTFLOW_DEFAULT_ISSUER_GROUP"), "group of the default issuer: empty, certflow.dev or cert-manager.io (CERTFLOW_DEFAULT_ISSUER_GROUP)")
}

// kubernetes says how to reach the API server.
func (o *options) kubernetes() connect.Kubernetes {
	return connect.Kubernetes{Kubeconfig: o.kubeconfig, Timeout: o.connectTimeout, QPS: o.kubeQPS, Burst: o.kubeBurst}
}

func (o *options) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envList(name string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// envMap reads NAME=VALUE pairs separated by commas.
func envMap(name string) map[string]string {
	m := map[string]string{}
	for _, kv := range envList(name) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func envDuration(name string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return fallback
}

func envBool(name string) bool {
	v, _ := strconv.ParseBool(os.Getenv(name))
	return v
}

func envBoolOr(name string, fallback bool) bool {
	if v, err := strconv.ParseBool(os.Getenv(name)); err == nil {
		return v
	}
	return fallback
}
