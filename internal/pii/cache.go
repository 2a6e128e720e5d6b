package pii

import (
	"container/list"
	"crypto/cipher"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	cacheEntries = 10_000
	cacheTTL     = time.Minute
)

// dataKey is an unwrapped live data key, ready to use.
type dataKey struct {
	id       uuid.UUID
	customer string
	aead     cipher.AEAD
}

type cacheEntry struct {
	name    string // "k:" + key id, or "c:" + customer id (the customer's live key)
	key     dataKey
	expires time.Time
}

// keyCache is a bounded LRU of unwrapped data keys whose entries expire after ttl. It never
// holds an erased key: evictCustomer drops a customer's entries and bumps the generation, and a
// put carrying a generation read before that eviction is dropped, so a load racing with an
// erasure cannot put the erased key back.
type keyCache struct {
	mu   sync.Mutex
	max  int
	ttl  time.Duration
	now  func() time.Time
	ll   *list.List // of *cacheEntry, most recent first
	byID map[string]*list.Element
	gen  uint64
}

func newKeyCache(max int, ttl time.Duration) *keyCache {
	return &keyCache{max: max, ttl: ttl, now: time.Now, ll: list.New(), byID: map[string]*list.Element{}}
}

func keyName(id uuid.UUID) string         { return "k:" + id.String() }
func customerName(customer string) string { return "c:" + customer }

// generation is read before loading a key from the store and handed to put.
func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *keyCache) get(name string) (dataKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[name]
	if !ok {
		return dataKey{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return dataKey{}, false
	}
	c.ll.MoveToFront(el)
	return e.key, true
}

// put caches k under its key id and as its customer's live key, unless an eviction happened
// since gen was read.
func (c *keyCache) put(k dataKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.max <= 0 {
		return
	}
	expires := c.now().Add(c.ttl)
	for _, name := range []string{keyName(k.id), customerName(k.customer)} {
		if el, ok := c.byID[name]; ok {
			el.Value = &cacheEntry{name: name, key: k, expires: expires}
			c.ll.MoveToFront(el)
			continue
		}
		c.byID[name] = c.ll.PushFront(&cacheEntry{name: name, key: k, expires: expires})
		for c.ll.Len() > c.max {
			c.remove(c.ll.Back())
		}
	}
}

// evictCustomer drops every entry of customer's keys.
func (c *keyCache) evictCustomer(customer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		if el.Value.(*cacheEntry).key.customer == customer {
			c.remove(el)
		}
		el = next
	}
}

func (c *keyCache) remove(el *list.Element) {
	delete(c.byID, el.Value.(*cacheEntry).name)
	c.ll.Remove(el)
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
