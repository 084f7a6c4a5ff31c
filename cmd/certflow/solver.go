package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/certflow/certflow/internal/connect"
	"github.com/certflow/certflow/internal/solver"
)

// newSolverCommand builds `solver`: the HTTP-01 responder alone, to run
// more replicas of it than of the rest (`run` has one inside).
func newSolverCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "solver",
		Short: "Run only the HTTP-01 responder: serve the http-01 responses the workers keep in Kubernetes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancelCause(cmd.Context())
			defer cancel(nil)
			log, err := opts.logger()
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			kube, err := connect.KubernetesConfig(opts.kubernetes())
			if err != nil {
				return err
			}
			if err := startResponder(ctx, opts, kube, log, cancel); err != nil {
				return err
			}
			<-ctx.Done()
			return fatal(ctx)
		},
	}
	opts.bindResponderNamespace(cmd)
	opts.bindResponder(cmd)
	return cmd
}

// startResponder serves the http-01 responses of --http01-solver-namespace
// on --http01-solver-listen until ctx ends; onFatal hears why it stopped
// early.
func startResponder(ctx context.Context, opts *options, kube *rest.Config, log *slog.Logger, onFatal func(error)) error {
	clientset, err := kubernetes.NewForConfig(kube)
	if err != nil {
		return fmt.Errorf("creating Kubernetes clientset: %w", err)
	}
	ln, err := net.Listen("tcp", opts.http01Listen)
	if err != nil {
		return fmt.Errorf("HTTP-01 responder (--http01-solver-listen): %w", err)
	}
	r := solver.New(clientset, opts.http01Namespace, log.With("component", "solver"))
	go func() {
		if err := r.Serve(ctx, ln); err != nil {
			onFatal(err)
		}
	}()
	return nil
}
