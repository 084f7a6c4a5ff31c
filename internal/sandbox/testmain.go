package sandbox

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// Run is the body of a test package's TestMain for tests that share real
// parts: it makes a scratch directory and a context of two minutes for
// setup, which starts the parts and registers with cleanup how to stop each,
// runs the tests, then stops the parts in reverse order. The directory (the
// parts' logs) is removed when the tests pass and kept, and named, when they
// fail. A setup error is printed and fails the binary.
func Run(m *testing.M, name string, setup func(ctx context.Context, dir string, cleanup func(func())) error) (code int) {
	if !stackNeeded() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "certflow-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if code == 0 {
			_ = os.RemoveAll(dir)
		} else {
			fmt.Fprintln(os.Stderr, "logs of the test stack are in", dir)
		}
	}()
	var stops []func()
	defer func() {
		for _, stop := range slices.Backward(stops) {
			stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err = setup(ctx, dir, func(stop func()) { stops = append(stops, stop) })
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "setting up the %s tests: %v\n", name, err)
		return 1
	}
	return m.Run()
}

// stackNeeded says whether this run of the test binary runs tests. It runs
// none when it only lists them (-test.list), when it is a fuzz worker
// (go test -fuzz starts one per -parallel to run a fuzz target's function,
// which must not use the stack), and when it fuzzes with -run '^$'. Without
// this, every fuzz worker would start a stack of its own, and leave it
// running when an input crashes the worker.
func stackNeeded() bool {
	flag.Parse()
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	switch {
	case value("test.fuzzworker") == "true", value("test.list") != "":
		return false
	case value("test.fuzz") != "" && value("test.run") == "^$":
		return false
	}
	return true
}
