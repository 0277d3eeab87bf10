package password

import (
	"sync"
	"time"
)

// cacheKey is HMAC-SHA256(process key, user NUL password NUL stored hash).
// The password never sits in memory longer than the request, and a new
// hash for the user (a changed password) can never hit an old entry.
type cacheKey [32]byte

// successCache remembers successful verifications while connections use
// them and for ttl after the last of them ended: a fleet that stayed
// connected for days and reconnects at once after a network failure is
// not verified again. It holds at most size entries that no connection
// uses (when full, the oldest insertion is evicted) and one per open
// connection. mu guards everything below it; no other lock is taken while
// it is held.
type successCache struct {
	ttl  time.Duration
	size int

	mu      sync.Mutex
	expires map[cacheKey]time.Time
	inUse   map[cacheKey]int // connections admitted by the entry, still open
	order   []cacheKey       // ring of insertions; may name keys already gone
	next    int              // slot of order to overwrite next, once it is full
}

func newSuccessCache(ttl time.Duration, size int) *successCache {
	if ttl <= 0 || size <= 0 {
		return nil // disabled
	}
	return &successCache{ttl: ttl, size: size, expires: make(map[cacheKey]time.Time), inUse: make(map[cacheKey]int)}
}

// acquire marks k as used by one more connection; the returned func, for
// auth.Result.Release, ends that use (once, however often it is called)
// and starts k's ttl again. A nil cache returns nil.
func (c *successCache) acquire(k cacheKey, now func() time.Time) func() {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.inUse[k]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.inUse[k]--; c.inUse[k] <= 0 {
				delete(c.inUse, k)
			}
			c.mu.Unlock()
			c.add(k, now())
		})
	}
}

// hit reports whether k is in use by a connection or was added less than
// ttl before now. A nil cache never hits.
func (c *successCache) hit(k cacheKey, now time.Time) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inUse[k] > 0 {
		return true
	}
	exp, ok := c.expires[k]
	if !ok {
		return false
	}
	if !now.Before(exp) {
		delete(c.expires, k)
		return false
	}
	return true
}

// add records k as verified at now.
func (c *successCache) add(k cacheKey, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.expires[k]; ok {
		c.expires[k] = now.Add(c.ttl)
		return
	}
	if len(c.order) < c.size {
		c.order = append(c.order, k)
	} else {
		delete(c.expires, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % c.size
	}
	c.expires[k] = now.Add(c.ttl)
}

// len returns the number of entries, expired ones not yet dropped
// included.
func (c *successCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}
