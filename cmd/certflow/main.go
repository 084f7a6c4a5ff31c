// Command certflow issues and renews TLS certificates for Kubernetes as durable
// Temporal workflows. `certflow run` runs the controller and the worker in one
// process; `controller` and `worker` run each part alone, to scale them apart;
// `codec-server` decrypts encrypted workflow payloads for the Temporal Web UI.
// This package only parses flags and wires the parts together.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "certflow:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "certflow",
		Short:         "Certificates for Kubernetes as durable Temporal workflows",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var opts options
	opts.bindGlobal(root)
	root.AddCommand(
		newRunCommand(&opts, "run", "Run the controller and the worker in one process (the default deployment)", true, true),
		newRunCommand(&opts, "controller", "Run only the controller: reconcile Certificates into workflows", true, false),
		newRunCommand(&opts, "worker", "Run only the worker: execute workflows and activities", false, true),
		newSolverCommand(&opts),
		newCodecServerCommand(&opts),
		newVersionCommand(),
		newStatusCommand(&opts),
		newListCommand(&opts),
		newRenewCommand(&opts),
		newInspectCommand(&opts),
	)
	return root
}
