package httpauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"
)

// cacheKey is an HMAC-SHA256, under a per-process random key, of every
// field of a question. Its fixed size bounds the memory of an entry
// whatever the topic or password length, and the password is never kept.
type cacheKey [sha256.Size]byte

// cache is a bounded LRU map from cacheKey to V, each entry with its own
// expiry. A nil cache never hits and drops every put. mu guards everything
// below it; no other lock is taken while it is held, and it is never held
// across a backend request.
type cache[V any] struct {
	size int

	mu   sync.Mutex
	m    map[cacheKey]*centry[V]
	root centry[V] // sentinel of the ring: root.next is the most recent
}

type centry[V any] struct {
	key        cacheKey
	val        V
	expires    time.Time
	prev, next *centry[V]
}

func newCache[V any](size int) *cache[V] {
	c := &cache[V]{size: size, m: make(map[cacheKey]*centry[V])}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// get returns the value stored under k if it has not expired at now, and
// marks it most recently used. An expired entry is dropped.
func (c *cache[V]) get(k cacheKey, now time.Time) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return zero, false
	}
	if !now.Before(e.expires) {
		c.removeLocked(e)
		return zero, false
	}
	c.unlinkLocked(e)
	c.pushFrontLocked(e)
	return e.val, true
}

// put stores v under k until now+ttl. A ttl of zero or less only drops
// what k held. When the cache is full the least recently used entry
// leaves.
func (c *cache[V]) put(k cacheKey, v V, ttl time.Duration, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	switch {
	case ttl <= 0:
		if ok {
			c.removeLocked(e)
		}
		return
	case ok:
		c.unlinkLocked(e)
	case len(c.m) >= c.size:
		e = c.root.prev // the least recently used; its struct is reused
		c.removeLocked(e)
	default:
		e = new(centry[V])
	}
	e.key, e.val, e.expires = k, v, now.Add(ttl)
	c.m[k] = e
	c.pushFrontLocked(e)
}

// len returns the number of entries, expired ones not yet dropped
// included.
func (c *cache[V]) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *cache[V]) removeLocked(e *centry[V]) {
	c.unlinkLocked(e)
	delete(c.m, e.key)
}

func (c *cache[V]) unlinkLocked(e *centry[V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *cache[V]) pushFrontLocked(e *centry[V]) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

// keyer computes cache keys without allocating: it pools HMAC states and
// feeds strings through a scratch buffer instead of converting them.
type keyer struct {
	pool sync.Pool // of *keyState
}

type keyState struct {
	h       hash.Hash
	scratch [256]byte
	sum     [sha256.Size]byte
}

func newKeyer(key []byte) *keyer {
	k := &keyer{}
	k.pool.New = func() any { return &keyState{h: hmac.New(sha256.New, key)} }
	return k
}

// start returns a reset state; finish it with sum.
func (k *keyer) start(domain byte) *keyState {
	s := k.pool.Get().(*keyState)
	s.h.Reset()
	s.scratch[0] = domain
	s.h.Write(s.scratch[:1])
	return s
}

// sum returns the key and gives s back to the pool.
func (k *keyer) sum(s *keyState) cacheKey {
	out := cacheKey(s.h.Sum(s.sum[:0]))
	k.pool.Put(s)
	return out
}

// length writes n; every variable field is preceded by its length, so
// that no two questions feed the same bytes.
func (s *keyState) length(n int) {
	s.h.Write(binary.AppendUvarint(s.scratch[:0], uint64(n)))
}

func (s *keyState) str(v string) {
	s.length(len(v))
	for len(v) > 0 {
		n := copy(s.scratch[:], v)
		s.h.Write(s.scratch[:n])
		v = v[n:]
	}
}

func (s *keyState) bytes(v []byte) {
	s.length(len(v))
	s.h.Write(v)
}

func (s *keyState) byte(v byte) {
	s.scratch[0] = v
	s.h.Write(s.scratch[:1])
}

func (s *keyState) flag(v bool) {
	if v {
		s.byte(1)
	} else {
		s.byte(0)
	}
}
