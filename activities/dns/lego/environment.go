package lego

import (
	"context"
	"fmt"
	"os"
	"slices"
)

// environment guards the process environment, from which lego's
// constructors read their configuration: a semaphore of one, so that who
// waits behind a constructor stuck on the network (some call their service
// without a context) stops waiting when its own context ends.
var environment = make(chan struct{}, 1)

// withEnvironment runs build with the process environment holding
// settings for the variables a provider may be given, and nothing else for
// those and the others it reads (hidden): the worker's own values are
// hidden, and so are the NAME_FILE variants through which lego would read
// a file. The environment is restored after; a provider keeps the
// configuration it read. It fails only when ctx ends before build may run.
func withEnvironment(ctx context.Context, variables, hidden []string, settings map[string]string, build func()) error {
	select {
	case environment <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for another lego provider to be built: %w", ctx.Err())
	}
	defer func() { <-environment }()
	var names []string
	for _, name := range slices.Concat(variables, hidden) {
		names = append(names, name, name+"_FILE")
	}
	saved := map[string]string{}
	for _, name := range names {
		if value, ok := os.LookupEnv(name); ok {
			saved[name] = value
		}
		_ = os.Unsetenv(name)
	}
	defer func() {
		for _, name := range names {
			_ = os.Unsetenv(name)
			if value, ok := saved[name]; ok {
				_ = os.Setenv(name, value)
			}
		}
	}()
	for _, name := range variables {
		if value, ok := settings[name]; ok {
			_ = os.Setenv(name, value)
		}
	}
	build()
	return nil
}
