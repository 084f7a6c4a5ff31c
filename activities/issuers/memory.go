package issuers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// What a worker remembers for clean-up, and why.
//
// Deleting a namespace deletes an Issuer, the Secret with its TSIG key or
// API token, and the Certificates issued by it, all at once. A Certificate
// stays until its workflow has stopped (its finalizer holds it, so the
// clean-up's check that it exists still passes); the issuer and its Secrets
// do not. A clean-up that read them afresh would find them gone, and the
// challenge record would stay in DNS for ever. The workflow cannot carry the
// credentials (they must never enter its history), so each worker process
// remembers what its challenge steps last resolved: the issuer, and each
// credential value its solvers read. Clean-up, and only clean-up
// (ResolveForCleanUp), falls back to that when the API server says NotFound;
// presenting and ordering never do, so a deleted issuer or credential stops
// them. Both steps are local activities of the Order, which stays on its
// worker's sticky queue, so the worker that presented is the one that cleans
// up, unless it died meanwhile. This is a fallback, not a way to pass state
// between activities: the workflow still hands clean-up everything it needs
// but the credentials, and a worker without the memory reports what is left
// rather than guessing.
//
// Entries are kept for RememberFor and at most rememberAtMost of each kind,
// the oldest going first. A worker that restarted remembers nothing:
// clean-up then fails with ErrForgotten at once, and says which record is
// left where, instead of retrying what cannot pass.

// DefaultRememberFor is how long a worker remembers an issuer and its
// credentials for clean-up. The steps between Present and the clean-up
// (propagation, validation, finalizing) are bounded by their timeouts and
// retries to a few hours at worst, and the clean-up retries for fifteen
// minutes; a day leaves room for Temporal or the worker to be stalled for
// hours in between.
const DefaultRememberFor = 24 * time.Hour

// rememberAtMost bounds each memory (issuers, credential values): more
// issuers than this issuing on one worker within a day is beyond what a
// worker is sized for, and the oldest entry is the least likely to be
// needed.
const rememberAtMost = 1024

// ErrForgotten is the cause of a clean-up's error when the issuer or a
// Secret it refers to is gone and this worker does not remember it (it
// restarted since the issuance, or that was longer ago than RememberFor).
// Nothing can remove the challenge record then but a user.
var ErrForgotten = errors.New("gone, and not remembered by this worker")

// purpose says what an Issuer was resolved for: what it remembers, and
// whether it may fall back to what was remembered.
type purpose int

const (
	// forIssuing (Resolve) neither remembers nor falls back.
	forIssuing purpose = iota
	// forSolving (ResolveSolvers) remembers the issuer and the credential
	// values its solvers read, for their clean-up.
	forSolving
	// forCleanUp (ResolveForCleanUp) remembers too, and falls back to what
	// was remembered when the issuer or a Secret is gone.
	forCleanUp
)

// rememberedIssuer is what Resolve read of an issuer.
type rememberedIssuer struct {
	generation      int64
	spec            certflowv1.IssuerSpec
	status          certflowv1.IssuerStatus
	secretNamespace string
}

// secretValue names one key of a Secret.
type secretValue struct {
	secret types.NamespacedName
	key    string
}

// ResolveSolvers is Resolve for the steps that present challenge
// responses: the issuer, and the credentials its solvers read through
// SecretValue, are remembered for the responses' clean-up. Nothing is read
// from memory.
func (r *Resolver) ResolveSolvers(ctx context.Context, ref activities.IssuerRef) (*Issuer, error) {
	iss, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	iss.purpose = forSolving
	r.rememberIssuer(iss)
	return iss, nil
}

// ResolveForCleanUp is Resolve for removing challenge responses: when the
// issuer, or a Secret it refers to, is gone it is taken from what this
// worker last resolved (ResolveSolvers). Its errors have ErrForgotten as
// their cause when something is gone that the worker does not remember.
// Recalled says what was taken from memory.
func (r *Resolver) ResolveForCleanUp(ctx context.Context, ref activities.IssuerRef) (*Issuer, error) {
	iss, err := r.Resolve(ctx, ref)
	if err == nil {
		iss.purpose = forCleanUp
		r.rememberIssuer(iss)
		return iss, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	known, ok := r.knownIssuers.get(ref, time.Now(), r.rememberFor())
	if !ok {
		// errors.Unwrap: the API server's NotFound under Resolve's error.
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s not found, and this worker does not remember it", ref),
			activities.ErrTypeIssuerNotFound, fmt.Errorf("%w: %w", ErrForgotten, errors.Unwrap(err)))
	}
	return &Issuer{Ref: ref, Generation: known.generation, Spec: *known.spec.DeepCopy(), Status: *known.status.DeepCopy(),
		SecretNamespace: known.secretNamespace, resolver: r, purpose: forCleanUp, recalled: []string{ref.String()}}, nil
}

// Recalled names what an Issuer resolved for clean-up took from memory
// because it was gone: the issuer, Secrets.
func (i *Issuer) Recalled() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.recalled...)
}

func (r *Resolver) rememberFor() time.Duration {
	if r.RememberFor > 0 {
		return r.RememberFor
	}
	return DefaultRememberFor
}

func (r *Resolver) rememberIssuer(iss *Issuer) {
	r.knownIssuers.put(iss.Ref, rememberedIssuer{
		generation: iss.Generation, spec: *iss.Spec.DeepCopy(), status: *iss.Status.DeepCopy(), secretNamespace: iss.SecretNamespace,
	}, time.Now(), r.rememberFor())
}

// remember keeps a credential value an issuer resolved for its solvers read.
func (i *Issuer) remember(name, key string, value []byte) {
	if i.purpose == forIssuing {
		return
	}
	k := secretValue{secret: types.NamespacedName{Namespace: i.SecretNamespace, Name: name}, key: key}
	i.resolver.knownValues.put(k, append([]byte(nil), value...), time.Now(), i.resolver.rememberFor())
}

// recall returns the remembered value of a Secret's key that is gone, when
// the issuer was resolved for clean-up and the worker remembers it.
func (i *Issuer) recall(name, key string) ([]byte, bool) {
	if i.purpose != forCleanUp {
		return nil, false
	}
	nn := types.NamespacedName{Namespace: i.SecretNamespace, Name: name}
	value, ok := i.resolver.knownValues.get(secretValue{secret: nn, key: key}, time.Now(), i.resolver.rememberFor())
	if !ok {
		return nil, false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.recalled = append(i.recalled, "Secret "+nn.String())
	return append([]byte(nil), value...), true
}

// memory keeps values by key for a while, and at most rememberAtMost of
// them. Its zero value is empty and ready.
type memory[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]memo[V]
}

type memo[V any] struct {
	value V
	at    time.Time
}

// put keeps value under k, read at now. When full, it first forgets what is
// older than keep, then the oldest entry.
func (m *memory[K, V]) put(k K, value V, now time.Time, keep time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[K]memo[V]{}
	}
	if _, ok := m.entries[k]; !ok && len(m.entries) >= rememberAtMost {
		var oldest K
		var oldestAt time.Time
		for key, e := range m.entries {
			if now.Sub(e.at) > keep {
				delete(m.entries, key)
			} else if oldestAt.IsZero() || e.at.Before(oldestAt) {
				oldest, oldestAt = key, e.at
			}
		}
		if len(m.entries) >= rememberAtMost {
			delete(m.entries, oldest)
		}
	}
	m.entries[k] = memo[V]{value: value, at: now}
}

// get returns the value kept under k unless it is older than keep.
func (m *memory[K, V]) get(k K, now time.Time, keep time.Duration) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	if !ok || now.Sub(e.at) > keep {
		var zero V
		return zero, false
	}
	return e.value, true
}
