package limits

import (
	"sync"
	"time"
)

// Bucket is a token bucket that may go into debt: Take always takes and
// reports how long the caller must wait for the bucket to be even again,
// which is how back-pressure is applied (the reader waits, the client's
// TCP window fills). The rate and burst are passed at each call, so that
// a reload applies at once. Not safe for concurrent use; see
// SharedBucket.
type Bucket struct {
	tokens float64
	last   time.Time
}

// Take takes n tokens at now from a bucket refilled at rate per second up
// to burst, and returns the wait before the debt is paid (0 when none).
// A rate of 0 means no limit.
func (b *Bucket) Take(now time.Time, n, rate, burst float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	if b.last.IsZero() {
		b.tokens = burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
	}
	b.last = now
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}

// SharedBucket is a Bucket several connections take from (one identity's
// connections).
type SharedBucket struct {
	mu sync.Mutex
	b  Bucket
}

// Take is Bucket.Take under a lock.
func (s *SharedBucket) Take(now time.Time, n, rate, burst float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Take(now, n, rate, burst)
}

// SharedBuckets hands out one SharedBucket per key (identity) while some
// connection holds it; the map holds only keys in use, so its size is
// bounded by the connections.
type SharedBuckets struct {
	mu sync.Mutex
	m  map[string]*sharedEntry
}

type sharedEntry struct {
	bucket SharedBucket
	refs   int
}

// Acquire returns key's bucket; Release must follow once.
func (s *SharedBuckets) Acquire(key string) *SharedBucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*sharedEntry)
	}
	e, ok := s.m[key]
	if !ok {
		e = &sharedEntry{}
		s.m[key] = e
	}
	e.refs++
	return &e.bucket
}

// Release gives key's bucket back.
func (s *SharedBuckets) Release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		if e.refs--; e.refs <= 0 {
			delete(s.m, key)
		}
	}
}

// Len reports the keys in use.
func (s *SharedBuckets) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
