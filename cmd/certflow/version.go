package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is certflow's release: the version of its workflows' histories
// (CHANGELOG.md) and of its API. A build from a commit after the release adds
// the revision the Go toolchain recorded.
var version = "v0.1.0"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print certflow's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "certflow", versionString())
		},
	}
}

func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return version + " (" + s.Value[:12] + ")"
		}
	}
	return version
}
