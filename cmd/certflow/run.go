package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/certflow/certflow/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	tclient "go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/certflow/certflow/controller"
	"github.com/certflow/certflow/controller/shim"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/worker"
)

// newRunCommand builds `run`, `controller` and `worker`: the same wiring with
// one part or both. `run` has the HTTP-01 responder too.
func newRunCommand(opts *options, name, short string, withController, withWorker bool) *cobra.Command {
	withResponder := withController && withWorker
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), opts, withController, withWorker, withResponder)
		},
	}
	opts.bindMetrics(cmd)
	if withController {
		opts.bindController(cmd)
	}
	if withWorker {
		opts.bindWorker(cmd)
	}
	if withResponder {
		opts.bindResponder(cmd)
	}
	return cmd
}

func run(ctx context.Context, opts *options, withController, withWorker, withResponder bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	log, err := opts.logger()
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	opts.temporal.Codec, err = opts.payloadCodec(ctx)
	if err != nil {
		return err
	}
	logPayloadEncryption(log, opts.temporal.Codec, opts.payloadKeySource())
	// The registry comes first: the Temporal client reports to it.
	var reg *prometheus.Registry
	if opts.metricsAddr != "" && opts.metricsAddr != "0" {
		reg = metrics.NewRegistry()
		addr, err := metrics.Serve(ctx, opts.metricsAddr, reg, log, func(err error) { cancel(err) })
		if err != nil {
			return err
		}
		log.Info("serving metrics", "address", addr.String(), "certManagerNames", opts.certManagerMetrics)
	}

	opts.temporal.Timeout = opts.connectTimeout
	opts.temporal.Logger = log.With("component", "temporal")
	if reg != nil {
		sdk := metrics.NewTemporal()
		if err := reg.Register(sdk); err != nil {
			return fmt.Errorf("registering the Temporal SDK's metrics: %w", err)
		}
		opts.temporal.MetricsHandler = sdk
	}
	tc, err := connect.DialTemporal(ctx, opts.temporal)
	if err != nil {
		return err
	}
	defer tc.Close()
	log.Info("connected to Temporal", "address", opts.temporal.Address, "namespace", opts.temporal.Namespace, "taskQueue", opts.taskQueue)

	kube, err := connect.KubernetesConfig(opts.kubernetes())
	if err != nil {
		return err
	}
	if opts.clusterName == "" {
		if opts.clusterName, err = connect.ClusterName(ctx, kube); err != nil {
			return err
		}
	}
	log.Info("connected to Kubernetes", "host", kube.Host, "cluster", opts.clusterName)

	if withResponder && opts.http01Listen != "" {
		if err := startResponder(ctx, opts, kube, log, func(err error) { cancel(err) }); err != nil {
			return err
		}
	}

	if withWorker {
		var acmeMetrics *metrics.ACME
		if reg != nil {
			if acmeMetrics, err = metrics.NewACME(reg, opts.certManagerMetrics); err != nil {
				return fmt.Errorf("registering the ACME client's metrics: %w", err)
			}
		}
		stop, err := startWorker(opts, tc, kube, acmeMetrics, log, func(err error) { cancel(fmt.Errorf("worker stopped: %w", err)) })
		if err != nil {
			return err
		}
		defer stop()
	}
	if !withController {
		<-ctx.Done()
		return fatal(ctx)
	}
	copts := controller.Options{
		HealthAddr:               opts.healthAddr,
		LeaderElection:           opts.leaderElect,
		LeaderElectionNamespace:  opts.leaderElectNS,
		Temporal:                 tc,
		TaskQueue:                opts.taskQueue,
		Cluster:                  opts.clusterName,
		ClusterResourceNamespace: opts.clusterResourceNamespace,
		FinalizerTimeout:         opts.finalizerWait,
		Shim:                     shim.Options{CertManagerAnnotations: opts.certManagerAnnotations, DefaultIssuer: opts.defaultIssuer},
	}
	if err := controller.CheckSearchAttributes(ctx, tc, opts.temporal.Namespace); err != nil {
		log.Warn("the workflows set no search attributes or memo", "reason", err)
	} else {
		copts.SearchAttributes = true
	}
	mgr, err := controller.NewManager(kube, copts)
	if err != nil {
		return err
	}
	if err := controller.Setup(mgr, copts); err != nil {
		return err
	}
	if reg != nil {
		if err := reg.Register(metrics.NewCertificates(mgr.GetCache(), opts.certManagerMetrics)); err != nil {
			return fmt.Errorf("registering the Certificates' metrics: %w", err)
		}
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running controller: %w", err)
	}
	return fatal(ctx)
}

// fatal is why ctx ended when that was not a signal to stop (SIGINT, SIGTERM).
func fatal(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

func startWorker(opts *options, tc tclient.Client, kube *rest.Config, acmeMetrics *metrics.ACME, log *slog.Logger, onFatal func(error)) (func(), error) {
	resolvers := opts.dns01Resolvers
	if len(resolvers) == 0 {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return nil, fmt.Errorf("finding DNS resolvers for propagation checks: %w (set --dns01-recursive-nameservers)", err)
		}
		for _, s := range conf.Servers {
			resolvers = append(resolvers, net.JoinHostPort(s, conf.Port))
		}
	}
	w, err := worker.New(tc, worker.Options{
		TaskQueue:                opts.taskQueue,
		Cluster:                  opts.clusterName,
		Kubernetes:               kube,
		ClusterResourceNamespace: opts.clusterResourceNamespace,
		DNS01Resolvers:           resolvers,
		DNS01ResolversOnly:       opts.dns01ResolversOnly,
		DNS01NameserverPort:      opts.dns01NameserverPort,
		DNS01Endpoints:           opts.dns01Endpoints,
		IssuerAmbientCredentials: opts.issuerAmbientCredentials,
		ACMEAllowSkipTLSVerify:   opts.acmeAllowSkipTLSVerify,
		HTTP01Responder:          types.NamespacedName{Namespace: opts.http01Namespace, Name: opts.http01Service},
		HTTP01SelfCheckPort:      opts.http01SelfCheckPort,
		TemporalNamespace:        opts.temporal.Namespace,
		TemporalUIURL:            opts.temporalUIURL,
		WorkflowCacheSize:        opts.workflowCacheSize,
		WorkflowTaskSlots:        opts.workflowTaskSlots,
		ACMERequestMetrics:       acmeMetrics,
		OnFatalError:             onFatal,
	})
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("starting worker on task queue %s: %w", opts.taskQueue, err)
	}
	log.Info("worker started", "taskQueue", opts.taskQueue, "dns01Resolvers", resolvers, "dns01NameserverPort", strconv.Itoa(opts.dns01NameserverPort))
	return w.Stop, nil
}
