package topic

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMatchKeysAdjacent checks the promise of Matches.Entries that the
// router's one-pass merge relies on: the entries of one key are adjacent,
// with a key subscribed through several filters, cached or not.
func TestMatchKeysAdjacent(t *testing.T) {
	filters := []string{"a/b/c", "a/+/c", "a/#", "+/b/+", "#", "a/b/#", "+/+/+"}
	for _, cacheSize := range []int{0, 64} {
		tr := NewTree[int](cacheSize)
		r := rand.New(rand.NewPCG(1, 2))
		want := map[string]int{} // key: matching filters
		for k := range 50 {
			key := fmt.Sprintf("client%d", k)
			for i, f := range filters {
				if r.IntN(3) == 0 {
					tr.Add(f, key, i)
					want[key]++
				}
			}
		}
		for range 2 { // the second Match may come from the cache
			m := tr.Match("a/b/c")
			got := map[string]int{}
			for i, e := range m.Entries {
				if i > 0 && e.Key != m.Entries[i-1].Key && got[e.Key] > 0 {
					t.Fatalf("cache %d: entries of %q are not adjacent", cacheSize, e.Key)
				}
				got[e.Key]++
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("cache %d: %q matched %d times, want %d", cacheSize, k, got[k], n)
				}
			}
		}
	}
}
