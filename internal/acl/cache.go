package acl

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// maxCachedKey is the largest key, in bytes of topic, name, client
// identifier and groups, that Cached stores; longer ones are decided
// without the cache, so that the cache's memory stays near size entries
// of ordinary length.
const maxCachedKey = 1024

// Cached puts a bounded decision cache in front of a Policy and lets a
// reload replace the policy.
//
// What is cached is the deciding rule for (action, topic or inner filter,
// identity name, anonymous, certificate, client identifier when a pattern
// uses %c, groups when a rule names a group). The request's QoS and
// payload size are applied to that rule's limits at every call, so they
// need not be part of the key, and the builtin checks run before the
// cache. A hit does not allocate.
//
// Bounds: at most about size entries, spread over shards by hash; a full
// shard evicts an entry chosen at random (Go randomizes where map
// iteration starts). Keys longer than maxCachedKey bytes are not stored.
//
// Invalidation: Swap installs a new policy with a new generation. A shard
// serves an entry only while its generation is the current one, and the
// first store of a newer generation replaces the shard's map, so a swap is
// O(1) and stale decisions are never served.
//
// Locking: each shard has its own sync.RWMutex, held for reading by
// lookups and for writing by stores; no other lock is held with it. swapMu
// only orders concurrent Swaps.
type Cached struct {
	state    atomic.Pointer[cacheState]
	swapMu   sync.Mutex
	seed     maphash.Seed
	shards   []cacheShard // len is a power of two; nil when caching is off
	perShard int
}

var _ Authorizer = (*Cached)(nil)

// cacheState is the policy in force and its generation.
type cacheState struct {
	p   *Policy
	gen uint64
}

// cacheShard is one lock's worth of the cache. It is padded so that
// neighbouring shards do not share a cache line.
type cacheShard struct {
	mu     sync.RWMutex
	gen    uint64
	m      map[uint64]*cacheEntry
	hits   atomic.Uint64
	misses atomic.Uint64
	_      [64]byte
}

// cacheEntry is one cached selection with the full key, checked on every
// hit: the map is keyed by hash alone, and a collision is a miss.
type cacheEntry struct {
	action              Action
	anon, cert          bool
	topic, name, client string
	groups              []string
	best                *entry // nil: no rule matched
}

// NewCached returns a cache of at most about size decisions in front of p.
// A size of zero or less disables caching: every call asks p.
func NewCached(p *Policy, size int) *Cached {
	c := &Cached{seed: maphash.MakeSeed()}
	c.state.Store(&cacheState{p: p, gen: 1})
	if size <= 0 {
		return c
	}
	n := 1
	if size >= 1024 {
		n = min(64, 1<<(bits.Len(uint(size/256))-1))
	}
	c.shards = make([]cacheShard, n)
	c.perShard = (size + n - 1) / n
	return c
}

// Policy returns the policy in force.
func (c *Cached) Policy() *Policy { return c.state.Load().p }

// Swap replaces the policy, at reload, and invalidates every cached
// decision. Calls in flight finish with the policy they started with.
func (c *Cached) Swap(p *Policy) {
	c.swapMu.Lock()
	defer c.swapMu.Unlock()
	old := c.state.Load()
	c.state.Store(&cacheState{p: p, gen: old.gen + 1})
}

// CacheStats is a snapshot of the cache's counters.
type CacheStats struct {
	Hits, Misses uint64
	Entries      int // entries of the current generation
}

// Stats returns a snapshot of the counters.
func (c *Cached) Stats() CacheStats {
	var st CacheStats
	gen := c.state.Load().gen
	for i := range c.shards {
		sh := &c.shards[i]
		st.Hits += sh.hits.Load()
		st.Misses += sh.misses.Load()
		sh.mu.RLock()
		if sh.gen == gen {
			st.Entries += len(sh.m)
		}
		sh.mu.RUnlock()
	}
	return st
}

// Authorize implements Authorizer with the policy in force, through the
// cache.
func (c *Cached) Authorize(s *Subject, r Request) Result {
	st := c.state.Load()
	p := st.p
	if p == nil {
		return Result{Rule: ruleNoPolicy}
	}
	t, res, decided := precheck(r)
	if decided {
		return res
	}
	v := makeView(s)
	if !p.usesClient {
		v.client = ""
	}
	if !p.usesGroups {
		v.groups = nil
	}
	if c.shards == nil || keySize(&v, t) > maxCachedKey {
		return outcome(p.selectEntry(&v, r.Action, t), r)
	}
	h := c.hash(&v, r.Action, t)
	sh := &c.shards[h&uint64(len(c.shards)-1)]
	sh.mu.RLock()
	var ce *cacheEntry
	if sh.gen == st.gen {
		ce = sh.m[h]
	}
	sh.mu.RUnlock()
	if ce != nil && ce.is(&v, r.Action, t) {
		sh.hits.Add(1)
		return outcome(ce.best, r)
	}
	sh.misses.Add(1)
	best := p.selectEntry(&v, r.Action, t)
	c.store(sh, st.gen, h, &cacheEntry{
		action: r.Action, anon: v.anon, cert: v.cert,
		topic: strings.Clone(t), name: strings.Clone(v.name), client: strings.Clone(v.client),
		groups: cloneStrings(v.groups), best: best,
	})
	return outcome(best, r)
}

// store puts ce into sh for generation gen, unless sh already holds a newer
// generation (the policy was swapped while ce was computed).
func (c *Cached) store(sh *cacheShard, gen, h uint64, ce *cacheEntry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch {
	case sh.gen > gen:
		return
	case sh.gen < gen || sh.m == nil:
		sh.gen = gen
		sh.m = make(map[uint64]*cacheEntry, min(c.perShard, 1024))
	}
	if _, ok := sh.m[h]; !ok && len(sh.m) >= c.perShard {
		for k := range sh.m {
			delete(sh.m, k)
			break
		}
	}
	sh.m[h] = ce
}

// is reports whether ce was stored for this key.
func (ce *cacheEntry) is(v *view, a Action, t string) bool {
	return ce.action == a && ce.anon == v.anon && ce.cert == v.cert &&
		ce.topic == t && ce.name == v.name && ce.client == v.client &&
		slices.Equal(ce.groups, v.groups)
}

// hash mixes the key fields. Groups are left out (only their number is
// mixed in) and compared on a hit instead: the same name with other groups
// is rare, and hashing every group would cost more than the trie walk.
func (c *Cached) hash(v *view, a Action, t string) uint64 {
	const k = 0x9e3779b97f4a7c15
	h := maphash.String(c.seed, t)
	h = (h*k ^ maphash.String(c.seed, v.name)) * k
	if v.client != "" {
		h = (h ^ maphash.String(c.seed, v.client)) * k
	}
	var flags uint64
	if v.anon {
		flags |= 1
	}
	if v.cert {
		flags |= 2
	}
	h ^= uint64(a)<<2 | flags | uint64(len(v.groups))<<8
	return h ^ h>>29
}

// keySize is the number of bytes a cache entry for the key would hold.
func keySize(v *view, t string) int {
	n := len(t) + len(v.name) + len(v.client)
	for _, g := range v.groups {
		n += len(g)
	}
	return n
}

// cloneStrings copies a string slice and its strings, so that a cache entry
// pins no caller memory.
func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.Clone(x)
	}
	return out
}
