package acme

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme/api"

	"github.com/certflow/certflow/activities/issuers"
)

// coreTTL is how long a client of a CA is reused before the directory is
// read again: a CA that moves its endpoints is followed within minutes.
const coreTTL = 10 * time.Minute

// cores keeps one client per CA, account and TLS settings across activities,
// so that an issuance reads the CA's directory and fetches a nonce once, not
// once per step, and later requests reuse the nonces of earlier answers.
// lego's api.Core is safe for concurrent use.
type cores struct {
	mu sync.Mutex
	m  map[string]cachedCore
}

type cachedCore struct {
	core  *api.Core
	hints *retryAfters
	made  time.Time
}

// coreKey names the client of the issuer's CA signed with kid and key.
func coreKey(iss *issuers.Issuer, kid string, key accountKey) string {
	spec := iss.Spec.ACME
	return fmt.Sprintf("%s\x00%s\x00%s\x00%t\x00%x\x00%s", spec.Server, kid, key.hash, spec.SkipTLSVerify, sha256.Sum256(spec.CABundle), maxRetryAfter(spec))
}

func (c *cores) get(key string, now time.Time) (cachedCore, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, ok := c.m[key]
	if !ok || now.Sub(cc.made) > coreTTL {
		return cachedCore{}, false
	}
	return cc, true
}

// put keeps cc under key and forgets the clients that expired.
func (c *cores) put(key string, cc cachedCore) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedCore{}
	}
	for _, k := range slices.Collect(maps.Keys(c.m)) {
		if cc.made.Sub(c.m[k].made) > coreTTL {
			delete(c.m, k)
		}
	}
	c.m[key] = cc
}
