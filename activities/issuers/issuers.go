// Package issuers reads Issuers and ClusterIssuers and the Secrets they refer
// to, for the activities that need them (ACME, DNS-01). It enforces where
// credentials may come from: an Issuer's Secrets from its own namespace, a
// ClusterIssuer's from the one cluster-resource namespace, nowhere else.
package issuers

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certflow/certflow/activities"
	certflowv1 "github.com/certflow/certflow/api/v1alpha1"
)

// Loader reads issuers and their Secrets.
type Loader struct {
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

	credentials credentials
}

// Issuer is an Issuer or ClusterIssuer with the namespace its Secrets live in.
type Issuer struct {
	Ref             activities.IssuerRef
	Generation      int64
	Spec            certflowv1.IssuerSpec
	Status          certflowv1.IssuerStatus
	SecretNamespace string
}

// Get reads the issuer. A missing one is a non-retryable ErrTypeIssuerNotFound.
func (l *Loader) Get(ctx context.Context, ref activities.IssuerRef) (*Issuer, error) {
	var (
		obj       client.Object
		spec      *certflowv1.IssuerSpec
		status    *certflowv1.IssuerStatus
		secretsNS string
	)
	switch ref.Kind {
	case "ClusterIssuer":
		ci := &certflowv1.ClusterIssuer{}
		obj, spec, status, secretsNS = ci, &ci.Spec, &ci.Status, l.ClusterResourceNamespace
	case "Issuer", "":
		is := &certflowv1.Issuer{}
		obj, spec, status, secretsNS = is, &is.Spec, &is.Status, ref.Namespace
	default:
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("issuer kind %q: want Issuer or ClusterIssuer", ref.Kind), activities.ErrTypeConfig, nil)
	}
	key := types.NamespacedName{Name: ref.Name}
	if ref.Kind != "ClusterIssuer" {
		key.Namespace = ref.Namespace
	}
	reader := l.Client
	if l.Issuers != nil {
		reader = l.Issuers
	}
	if err := reader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s not found", ref), activities.ErrTypeIssuerNotFound, err)
		}
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &Issuer{Ref: ref, Generation: obj.GetGeneration(), Spec: *spec, Status: *status, SecretNamespace: secretsNS}, nil
}

// SecretValue reads one key of a Secret in the issuer's Secret namespace. A
// missing Secret or key is a non-retryable ErrTypeConfig: a user must create it.
func (l *Loader) SecretValue(ctx context.Context, iss *Issuer, name, key string) ([]byte, error) {
	secret, err := l.Secret(ctx, types.NamespacedName{Namespace: iss.SecretNamespace, Name: name})
	if apierrors.IsNotFound(err) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: Secret %s/%s not found", iss.Ref, iss.SecretNamespace, name), activities.ErrTypeConfig, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading Secret %s/%s: %w", iss.Ref, iss.SecretNamespace, name, err)
	}
	value, ok := secret.Data[key]
	if !ok || len(value) == 0 {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: Secret %s/%s has no key %q", iss.Ref, iss.SecretNamespace, name, key), activities.ErrTypeConfig, nil)
	}
	return value, nil
}
