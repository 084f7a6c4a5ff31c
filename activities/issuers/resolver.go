// Package issuers resolves the issuer references of activities: it reads an
// Issuer or ClusterIssuer, says which type it is (ACME, CA, ...), and reads
// the Secrets it refers to, enforcing where they may come from: an Issuer's
// from its own namespace, a ClusterIssuer's from the one cluster-resource
// namespace, nowhere else. Each issuer type's activities live in a folder
// below (acme). It must not import workflows.
package issuers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Resolver reads issuers and their Secrets.
type Resolver struct {
	// Client reads from the API server: Secrets are read by name when needed,
	// never listed or watched.
	Client client.Reader
	// Issuers, when set, reads Issuers and ClusterIssuers instead of Client:
	// a cache of certflow's own kinds, which are few and small.
	Issuers client.Reader
	// ClusterResourceNamespace holds the Secrets of ClusterIssuers.
	ClusterResourceNamespace string
	// CredentialsTTL is how long a Secret read by Secret is used again before
	// it is read anew; zero reads it every time.
	CredentialsTTL time.Duration
	// RememberFor is how long the issuers and credentials the challenge
	// steps resolved are remembered for their clean-up (memory.go); zero is
	// DefaultRememberFor.
	RememberFor time.Duration

	credentials  credentials
	knownIssuers memory[activities.IssuerRef, rememberedIssuer]
	knownValues  memory[secretValue, []byte]
}

// Issuer is an Issuer or ClusterIssuer with the namespace its Secrets live in.
type Issuer struct {
	Ref             activities.IssuerRef
	Generation      int64
	Spec            certflowv1.IssuerSpec
	Status          certflowv1.IssuerStatus
	SecretNamespace string

	resolver *Resolver
	purpose  purpose
	mu       sync.Mutex
	read     []types.NamespacedName // the Secrets read through this issuer
	recalled []string               // what was gone and taken from memory (forCleanUp)
}

// Type is the kind of authority the issuer is: activities.IssuerTypeACME, ...
func (i *Issuer) Type() string { return i.Spec.Type() }

// Resolve reads the issuer ref names. A missing one is a non-retryable
// ErrTypeIssuerNotFound. The challenge steps resolve through ResolveSolvers
// and ResolveForCleanUp instead (memory.go).
func (r *Resolver) Resolve(ctx context.Context, ref activities.IssuerRef) (*Issuer, error) {
	obj, err := certflowv1.NewIssuerObject(ref.Kind)
	if err != nil {
		return nil, activities.ConfigError("%v", err)
	}
	key, secretsNS := types.NamespacedName{Name: ref.Name}, r.ClusterResourceNamespace
	if ref.Kind == activities.KindIssuer {
		key.Namespace, secretsNS = ref.Namespace, ref.Namespace
	}
	reader := r.Client
	if r.Issuers != nil {
		reader = r.Issuers
	}
	if err := reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s not found", ref), activities.ErrTypeIssuerNotFound, err)
		}
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &Issuer{Ref: ref, Generation: obj.GetGeneration(), Spec: *obj.IssuerSpec(), Status: *obj.IssuerStatus(),
		SecretNamespace: secretsNS, resolver: r}, nil
}

// SecretValue reads one key of a Secret in the issuer's Secret namespace. A
// missing Secret or key is a non-retryable ErrTypeConfig: a user must create
// it. The error never holds the Secret's data. An issuer resolved for
// clean-up returns a missing Secret's value from memory when it can
// (memory.go); when it cannot, the error's cause is ErrForgotten.
func (i *Issuer) SecretValue(ctx context.Context, name, key string) ([]byte, error) {
	secret, err := i.Secret(ctx, name)
	if apierrors.IsNotFound(err) {
		if value, ok := i.recall(name, key); ok {
			return value, nil
		}
		msg := fmt.Sprintf("%s: Secret %s/%s not found", i.Ref, i.SecretNamespace, name)
		if i.purpose == forCleanUp {
			msg, err = msg+", and this worker does not remember it", fmt.Errorf("%w: %w", ErrForgotten, err)
		}
		return nil, temporal.NewNonRetryableApplicationError(msg, activities.ErrTypeConfig, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading Secret %s/%s: %w", i.Ref, i.SecretNamespace, name, err)
	}
	value, ok := secret.Data[key]
	if !ok || len(value) == 0 {
		return nil, activities.ConfigError("%s: Secret %s/%s has no key %q", i.Ref, i.SecretNamespace, name, key)
	}
	i.remember(name, key, value)
	return value, nil
}

// Secret reads a Secret of the issuer's Secret namespace (one read within
// the resolver's CredentialsTTL is used again).
func (i *Issuer) Secret(ctx context.Context, name string) (*corev1.Secret, error) {
	nn := types.NamespacedName{Namespace: i.SecretNamespace, Name: name}
	i.mu.Lock()
	i.read = append(i.read, nn)
	i.mu.Unlock()
	return i.resolver.secret(ctx, nn)
}

// ForgetSecrets makes the next issuance read the Secrets this one read
// anew: a credential a server refused (a TSIG key, an API token) that the
// user then fixes is used at once, not after the resolver's CredentialsTTL.
// What is remembered for clean-up (memory.go) stays: a clean-up whose Secret
// is gone has nothing else to try.
func (i *Issuer) ForgetSecrets() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.resolver.credentials.forget(i.read)
}

// Type is what the activities of one issuer type offer before an issuance
// begins (acme.Activities for ACME).
type Type interface {
	// CheckRequest says whether the issuer can issue the request at all (an
	// ACME issuer needs a solver for every name), before anything counts
	// against its budgets. certLabels are the Certificate's labels, which
	// solvers may select on.
	CheckRequest(ctx context.Context, iss *Issuer, req activities.Request, certLabels map[string]string) error
}
