package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Options configures Start.
type Options struct {
	// Dir holds one folder per part (kubernetes, temporal, bind, pebble) with its logs.
	Dir string
	// Temporal configures the dev server; its Dir is set by Start.
	Temporal TemporalOptions
	// Pebble configures the CA; its Dir and DNSServer are set by Start.
	Pebble PebbleOptions
	// Zone is BIND's zone; default "certflow.test".
	Zone string
	// Records are more records of the zone, in zone file syntax
	// (BINDOptions.Records).
	Records []string
	// GatewayAPI installs the Gateway API CRDs (KubernetesOptions.GatewayAPI).
	GatewayAPI bool
}

// Stack is the whole local stack certflow runs against.
type Stack struct {
	Dir        string
	Kubernetes *Kubernetes
	Temporal   *Temporal
	BIND       *BIND
	Pebble     *Pebble
}

// Start brings up every part, in parallel where they do not depend on each
// other (Pebble needs BIND). On error, what did start is stopped again.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{Dir: opts.Dir}
	dirs := map[string]string{}
	for _, part := range []string{"kubernetes", "temporal", "bind", "pebble"} {
		dirs[part] = filepath.Join(opts.Dir, part)
		if err := os.MkdirAll(dirs[part], 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dirs[part], err)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(name string, start func() error) {
		wg.Go(func() {
			if err := start(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("starting %s: %w", name, err))
				mu.Unlock()
			}
		})
	}
	run("kubernetes", func() (err error) {
		s.Kubernetes, err = StartKubernetes(ctx, KubernetesOptions{Dir: dirs["kubernetes"], GatewayAPI: opts.GatewayAPI})
		return err
	})
	run("temporal", func() (err error) {
		topts := opts.Temporal
		topts.Dir = dirs["temporal"]
		s.Temporal, err = StartTemporal(ctx, topts)
		return err
	})
	run("BIND and Pebble", func() (err error) {
		if s.BIND, err = StartBIND(ctx, BINDOptions{Dir: dirs["bind"], Zone: opts.Zone, Records: opts.Records}); err != nil {
			return err
		}
		popts := opts.Pebble
		popts.Dir, popts.DNSServer = dirs["pebble"], s.BIND.Addr
		s.Pebble, err = StartPebble(ctx, popts)
		return err
	})
	wg.Wait()
	if len(errs) > 0 {
		_ = s.Stop()
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Stop stops every part that is running.
func (s *Stack) Stop() error {
	var errs []error
	if s.Pebble != nil {
		errs = append(errs, s.Pebble.Stop())
	}
	if s.BIND != nil {
		errs = append(errs, s.BIND.Stop())
	}
	if s.Temporal != nil {
		errs = append(errs, s.Temporal.Stop())
	}
	if s.Kubernetes != nil {
		errs = append(errs, s.Kubernetes.Stop())
	}
	return errors.Join(errs...)
}
