package container

import (
	"container/list"
	"sync"
	"time"
)

// cache is a least-recently-used map of lookup results with expiry, safe
// for concurrent use.
type cache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // of *cacheEntry, most recently used first
	entries map[lookupKey]*list.Element
}

type cacheEntry struct {
	key     lookupKey
	result  lookupResult
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), entries: map[lookupKey]*list.Element{}}
}

// get returns the result stored for key, unless it expired before now.
func (c *cache) get(key lookupKey, now time.Time) (lookupResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return lookupResult{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return lookupResult{}, false
	}
	c.order.MoveToFront(el)
	return e.result, true
}

// put stores r for key until expires, evicting the least recently used
// entry when the cache is full.
func (c *cache) put(key lookupKey, r lookupResult, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*cacheEntry)
		e.result, e.expires = r, expires
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, result: r, expires: expires})
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
