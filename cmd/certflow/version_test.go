package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionPrintsTheRelease(t *testing.T) {
	cmd := newVersionCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "certflow v0.1.0") {
		t.Fatalf("certflow version printed %q, want it to begin with certflow v0.1.0", got)
	}
}

func TestVersionString(t *testing.T) {
	const rev = "16e9711a2b3c4d5e6f708192a3b4c5d6e7f80912"
	built := func(settings ...debug.BuildSetting) *debug.BuildInfo { return &debug.BuildInfo{Settings: settings} }
	for _, c := range []struct {
		name, commit string
		info         *debug.BuildInfo
		want         string
	}{
		{"the linker's commit is shortened", rev, nil, "v0.1.0 (16e9711a2b3c)"},
		{"the linker's commit wins over the toolchain's", rev, built(debug.BuildSetting{Key: "vcs.revision", Value: "ffffffffffffffff"}), "v0.1.0 (16e9711a2b3c)"},
		{"a dirty commit from the linker stays dirty", rev + "-dirty", nil, "v0.1.0 (16e9711a2b3c-dirty)"},
		{"the toolchain's revision stands in", "", built(debug.BuildSetting{Key: "vcs.revision", Value: rev}), "v0.1.0 (16e9711a2b3c)"},
		{"a modified checkout is dirty", "", built(debug.BuildSetting{Key: "vcs.revision", Value: rev}, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "v0.1.0 (16e9711a2b3c-dirty)"},
		{"without any commit the release alone", "", built(), "v0.1.0"},
		{"without build info the release alone", "", nil, "v0.1.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := versionString("v0.1.0", c.commit, c.info); got != c.want {
				t.Errorf("versionString = %q, want %q", got, c.want)
			}
		})
	}
}
