package keys

import (
	"context"
	"crypto"
	"fmt"
	"runtime"
	"sync"

	"github.com/certflow/certflow/internal/pki"
)

// keygenSlots bounds the keys generated at once to the CPUs the process may
// use: an RSA key takes tens of milliseconds of CPU, and a burst of
// issuances that made them all at once would starve the worker's other work
// (its workflow tasks, the account limiter's answers) and finish none early.
// Queued, each waits its turn and the first are done first. Measured with
// make bench N=100 on 2 CPUs: 17.6 s with 2 slots, 28.5 s unbounded, 32 s
// with 1 slot.
var keygenSlots = sync.OnceValue(func() chan struct{} {
	return make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
})

// generateKey makes a key of the algorithm and size in its turn.
func generateKey(ctx context.Context, algorithm string, size int) (crypto.Signer, error) {
	select {
	case keygenSlots() <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to generate a key: %w", ctx.Err())
	}
	defer func() { <-keygenSlots() }()
	return pki.GenerateKey(algorithm, size)
}
