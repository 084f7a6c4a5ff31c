package main

import (
	"bytes"
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
