package lego

import (
	"os"
	"sync"
)

// environment guards the process environment, from which lego's
// constructors read their configuration.
var environment sync.Mutex

// withEnvironment runs build with the process environment holding
// settings for the variables a provider reads, and nothing else for them:
// the worker's own values are hidden, and so are the NAME_FILE variants
// through which lego would read a file. The environment is restored after;
// a provider keeps the configuration it read.
func withEnvironment(variables []string, settings map[string]string, build func() error) error {
	environment.Lock()
	defer environment.Unlock()
	var hidden []string
	for _, name := range variables {
		hidden = append(hidden, name, name+"_FILE")
	}
	saved := map[string]string{}
	for _, name := range hidden {
		if value, ok := os.LookupEnv(name); ok {
			saved[name] = value
		}
		_ = os.Unsetenv(name)
	}
	defer func() {
		for _, name := range hidden {
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
	return build()
}
