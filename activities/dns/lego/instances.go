package lego

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/challenge"
)

// Built providers are kept, so that a CleanUp finds what the Present of the
// same worker remembered: many of lego's providers remove a record by the
// ID they were given when they made it. They are kept by lego's name and a
// digest of their settings, for instanceIdle after their last use, at most
// maxInstances of them.
const (
	maxInstances = 256
	instanceIdle = time.Hour
	// maxRemoved bounds the records an instance remembers removing.
	maxRemoved = 1024
)

// instance is a built provider of lego's.
type instance struct {
	key  string
	p    challenge.Provider
	used time.Time // guarded by the cache's mutex

	mu sync.Mutex
	// removed are the records (fqdn and key authorization) its CleanUp
	// removed, so that a CleanUp repeated is not taken for one of a record
	// it never knew.
	removed map[string]bool
}

// cache holds the instances, the most recently used first.
type cache struct {
	mu    sync.Mutex
	byKey map[string]*list.Element
	order *list.List
	now   func() time.Time
}

var instances = newCache()

func newCache() *cache {
	return &cache{byKey: map[string]*list.Element{}, order: list.New(), now: time.Now}
}

// instanceKey is lego's name and the SHA-256 of the settings' sorted
// name=value pairs. It stays in memory: never log or show it.
func instanceKey(name string, settings map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		h.Write([]byte(k + "=" + settings[k] + "\x00"))
	}
	return name + "\x00" + hex.EncodeToString(h.Sum(nil))
}

// get is the instance kept for key, nil when none is.
func (c *cache) get(key string) *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire()
	e, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	inst := e.Value.(*instance)
	inst.used = c.now()
	return inst
}

// add keeps p for key, unless an instance is kept for it already, and
// returns the one kept.
func (c *cache) add(key string, p challenge.Provider) *instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire()
	if e, ok := c.byKey[key]; ok {
		return e.Value.(*instance)
	}
	inst := &instance{key: key, p: p, used: c.now(), removed: map[string]bool{}}
	c.byKey[key] = c.order.PushFront(inst)
	for c.order.Len() > maxInstances {
		c.remove(c.order.Back())
	}
	return inst
}

// expire drops the instances unused for instanceIdle.
func (c *cache) expire() {
	for e := c.order.Back(); e != nil && c.now().Sub(e.Value.(*instance).used) > instanceIdle; e = c.order.Back() {
		c.remove(e)
	}
}

func (c *cache) remove(e *list.Element) {
	c.order.Remove(e)
	delete(c.byKey, e.Value.(*instance).key)
}

// presented forgets that the record was removed.
func (i *instance) presented(record string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.removed, record)
}

// cleanedUp remembers that the record was removed.
func (i *instance) cleanedUp(record string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.removed) >= maxRemoved {
		clear(i.removed)
	}
	i.removed[record] = true
}

// wasRemoved says whether its CleanUp removed the record.
func (i *instance) wasRemoved(record string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.removed[record]
}
