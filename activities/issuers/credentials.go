package issuers

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// credentials keeps the Secrets issuers refer to (account keys, TSIG and API
// credentials) for a short while after they are read, so that the steps of
// many issuances do not each read the same Secret. Only Secrets that exist
// are kept; a changed Secret is seen within the TTL, or at once after a
// server refused what was read (Issuer.ForgetSecrets).
type credentials struct {
	mu   sync.Mutex
	read map[types.NamespacedName]readSecret
}

type readSecret struct {
	secret *corev1.Secret
	at     time.Time
}

// secret reads a Secret by name, from the credentials read within the last
// CredentialsTTL when it is one of them.
func (l *Resolver) secret(ctx context.Context, nn types.NamespacedName) (*corev1.Secret, error) {
	now := time.Now()
	if s, ok := l.credentials.get(nn, now, l.CredentialsTTL); ok {
		return s, nil
	}
	var secret corev1.Secret
	if err := l.Client.Get(ctx, nn, &secret); err != nil {
		return nil, err
	}
	if l.CredentialsTTL > 0 {
		l.credentials.put(nn, &secret, now, l.CredentialsTTL)
	}
	return &secret, nil
}

func (c *credentials) get(nn types.NamespacedName, now time.Time, ttl time.Duration) (*corev1.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.read[nn]
	if !ok || now.Sub(r.at) > ttl {
		return nil, false
	}
	return r.secret.DeepCopy(), true
}

// put keeps secret and forgets the Secrets kept longer than ttl.
func (c *credentials) put(nn types.NamespacedName, secret *corev1.Secret, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read == nil {
		c.read = map[types.NamespacedName]readSecret{}
	}
	for k, r := range c.read {
		if now.Sub(r.at) > ttl {
			delete(c.read, k)
		}
	}
	c.read[nn] = readSecret{secret: secret.DeepCopy(), at: now}
}

// forget drops the Secrets kept under names.
func (c *credentials) forget(names []types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nn := range names {
		delete(c.read, nn)
	}
}
