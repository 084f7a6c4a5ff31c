package main

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/certflow/certflow/controller"
	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/worker"
)

// newRunCommand builds `run`, `controller` and `worker`: the same wiring with
// one part or both.
func newRunCommand(opts *options, name, short string, withController, withWorker bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), opts, withController, withWorker)
		},
	}
	if withController {
		opts.bindController(cmd)
	}
	return cmd
}

func run(ctx context.Context, opts *options, withController, withWorker bool) error {
	log, err := opts.logger()
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))

	opts.temporal.Timeout = opts.connectTimeout
	opts.temporal.Logger = log.With("component", "temporal")
	tc, err := connect.DialTemporal(ctx, opts.temporal)
	if err != nil {
		return err
	}
	defer tc.Close()
	log.Info("connected to Temporal", "address", opts.temporal.Address, "namespace", opts.temporal.Namespace, "taskQueue", opts.taskQueue)

	if withWorker {
		w := worker.New(tc, worker.Options{TaskQueue: opts.taskQueue})
		if err := w.Start(); err != nil {
			return fmt.Errorf("starting worker on task queue %s: %w", opts.taskQueue, err)
		}
		defer w.Stop()
		log.Info("worker started", "taskQueue", opts.taskQueue)
	}
	if !withController {
		<-ctx.Done()
		return nil
	}

	cfg, err := connect.KubernetesConfig(connect.Kubernetes{Kubeconfig: opts.kubeconfig, Timeout: opts.connectTimeout})
	if err != nil {
		return err
	}
	log.Info("connected to Kubernetes", "host", cfg.Host)
	mgr, err := controller.NewManager(cfg, controller.Options{
		HealthAddr:              opts.healthAddr,
		LeaderElection:          opts.leaderElect,
		LeaderElectionNamespace: opts.leaderElectNS,
	})
	if err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running controller: %w", err)
	}
	return nil
}
