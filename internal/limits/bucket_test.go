package limits

import (
	"testing"
	"time"
)

func TestBucketDebtAndWait(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	var b Bucket
	for i := range 5 {
		if w := b.Take(t0, 1, 10, 5); w != 0 {
			t.Fatalf("burst message %d waits %v", i, w)
		}
	}
	if w := b.Take(t0, 1, 10, 5); w != 100*time.Millisecond {
		t.Fatalf("sixth message waits %v, want 100ms at 10/s", w)
	}
	// After the wait, the debt is paid: the next one waits one interval.
	if w := b.Take(t0.Add(100*time.Millisecond), 1, 10, 5); w != 100*time.Millisecond {
		t.Fatalf("next waits %v, want 100ms", w)
	}
	// Bytes: a message larger than the burst waits for its own size.
	var bytes Bucket
	if w := bytes.Take(t0, 3000, 1000, 1000); w != 2*time.Second {
		t.Fatalf("3000 bytes at 1000/s with a burst of 1000 wait %v, want 2s", w)
	}
	// Rate 0: no limit.
	if w := (&Bucket{}).Take(t0, 1e9, 0, 0); w != 0 {
		t.Fatalf("no limit waits %v", w)
	}
}

func TestSharedBucketsBounded(t *testing.T) {
	var s SharedBuckets
	a1, a2 := s.Acquire("alice"), s.Acquire("alice")
	if a1 != a2 || s.Len() != 1 {
		t.Fatal("one identity, two buckets")
	}
	s.Acquire("bob")
	s.Release("alice")
	s.Release("bob")
	if s.Len() != 1 {
		t.Fatalf("%d keys, want alice only", s.Len())
	}
	s.Release("alice")
	if s.Len() != 0 {
		t.Fatal("released keys are kept")
	}
}
