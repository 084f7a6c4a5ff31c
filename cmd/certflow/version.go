package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is certflow's release: the version of its workflows' histories
// (CHANGELOG.md) and of its API. commit is the revision it was built from.
// `make build`, `make image` and the Dockerfile set both with
// -ldflags "-X main.version=... -X main.commit=..."; a plain `go build` in a
// checkout leaves commit empty and the Go toolchain's vcs.revision stands in.
var (
	version = "v0.1.0"
	commit  = ""
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print certflow's release and the commit it was built from",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info, _ := debug.ReadBuildInfo()
			fmt.Fprintln(cmd.OutOrStdout(), "certflow", versionString(version, commit, info))
		},
	}
}

// versionString is "RELEASE (COMMIT)", or the release alone when neither
// the linker nor the toolchain recorded a commit. The commit is shortened to
// 12 hex digits; "-dirty" says the checkout had changes.
func versionString(release, commit string, info *debug.BuildInfo) string {
	if commit == "" && info != nil {
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if commit != "" && modified {
			commit += "-dirty"
		}
	}
	if commit == "" {
		return release
	}
	rev, dirty := strings.CutSuffix(commit, "-dirty")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return release + " (" + rev + ")"
}
