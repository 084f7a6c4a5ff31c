package sandbox

import (
	"context"
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
