package topic

import (
	"strings"
	"sync"
)

// cacheItemsPerEntry is the average result size the cache budgets for: it
// holds at most cacheSize*cacheItemsPerEntry weight in all (see weight), so
// results with huge fan-out cannot make it hold cacheSize huge copies.
const cacheItemsPerEntry = 64

// matchCache maps topic names to the Matches computed for them at one
// generation of the tree.
//
// Invalidation: every Add and Remove bumps Tree.gen. An entry is served only
// while the cache's gen equals Tree.gen; the first store of a newer
// generation replaces the whole map, in O(1), so a write never walks the
// cache and stale results are released at the next miss.
//
// Bounds: at most max entries and maxWeight weight, where a result weighs
// one plus its entries and groups plus one per 64 bytes of topic. When full,
// stores evict entries chosen at random (Go randomizes where map iteration
// starts), one per step, so eviction is O(1) per entry and never scans. A
// result heavier than a quarter of maxWeight is not cached at all.
//
// Locking: mu is a sync.RWMutex; get holds it for reading, so hits proceed
// concurrently, and put holds it for writing. mu is never held together
// with Tree.mu.
type matchCache[V any] struct {
	max       int
	maxWeight int

	mu     sync.RWMutex
	gen    uint64 // the generation the entries belong to
	weight int    // the sum of the entries' weights
	m      map[string]*Matches[V]
}

func newMatchCache[V any](size int) *matchCache[V] {
	return &matchCache[V]{
		max:       size,
		maxWeight: size * cacheItemsPerEntry,
		m:         make(map[string]*Matches[V]),
	}
}

func weight[V any](topic string, m *Matches[V]) int {
	return 1 + len(m.Entries) + len(m.Groups) + len(topic)>>6
}

// get returns the result cached for topic at generation gen, or nil.
func (c *matchCache[V]) get(topic string, gen uint64) *Matches[V] {
	c.mu.RLock()
	var m *Matches[V]
	if c.gen == gen {
		m = c.m[topic]
	}
	c.mu.RUnlock()
	return m
}

// put caches m, computed for topic at generation gen. A result of an older
// generation than the cache's is dropped; a newer one starts a new map.
func (c *matchCache[V]) put(topic string, gen uint64, m *Matches[V]) {
	w := weight(topic, m)
	if w > c.maxWeight/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return
	case gen > c.gen:
		c.gen = gen
		c.m = make(map[string]*Matches[V])
		c.weight = 0
	}
	if _, ok := c.m[topic]; ok {
		return // another reader stored it first
	}
	for len(c.m) > 0 && (len(c.m) >= c.max || c.weight+w > c.maxWeight) {
		c.evictLocked()
	}
	c.m[strings.Clone(topic)] = m
	c.weight += w
}

// evictLocked removes one entry, chosen at random.
func (c *matchCache[V]) evictLocked() {
	for k, m := range c.m {
		c.weight -= weight(k, m)
		delete(c.m, k)
		return
	}
}

// stats reports the entry count and weight, for tests.
func (c *matchCache[V]) stats() (entries, weight int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m), c.weight
}
