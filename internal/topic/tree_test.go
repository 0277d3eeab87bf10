package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

func keys(m *Matches[int]) []string {
	var ks []string
	for _, e := range m.Entries {
		ks = append(ks, e.Key)
	}
	slices.Sort(ks)
	return ks
}

func TestAddReplaceRemove(t *testing.T) {
	tr := NewTree[int](16)
	if !tr.Add("a/+", "c1", 1) {
		t.Fatal("first Add not new")
	}
	if tr.Add("a/+", "c1", 2) {
		t.Fatal("second Add of the same key and filter reported new")
	}
	if !tr.Add("a/+", "c2", 3) || !tr.Add("a/#", "c1", 4) || !tr.Add("$share/g/a/+", "c1", 5) {
		t.Fatal("Add on another key, filter or group not new")
	}
	if tr.Add("$share/g/a/+", "c1", 6) {
		t.Fatal("shared re-Add reported new")
	}
	if tr.Len() != 4 {
		t.Fatalf("Len = %d, want 4", tr.Len())
	}
	m := tr.Match("a/b")
	if got := keys(m); !slices.Equal(got, []string{"c1", "c1", "c2"}) {
		t.Fatalf("Match keys = %v", got)
	}
	for _, e := range m.Entries {
		if e.Key == "c1" && e.Filter == "a/+" && e.Value != 2 {
			t.Fatalf("replaced value = %d, want 2", e.Value)
		}
	}
	if len(m.Groups) != 1 || m.Groups[0].Name != "g" || m.Groups[0].Filter != "a/+" ||
		len(m.Groups[0].Members) != 1 || m.Groups[0].Members[0].Value != 6 {
		t.Fatalf("Match groups = %+v", m.Groups)
	}
	if tr.Remove("a/+", "c3") || tr.Remove("a/x", "c1") || tr.Remove("$share/h/a/+", "c1") || tr.Remove("$share/g/a/+", "c2") {
		t.Fatal("Remove of a missing subscription reported true")
	}
	if !tr.Remove("a/+", "c1") || tr.Remove("a/+", "c1") {
		t.Fatal("Remove a/+ c1: want true then false")
	}
	if !tr.Remove("$share/g/a/+", "c1") {
		t.Fatal("Remove shared: want true")
	}
	if got := tr.Match("a/b"); !slices.Equal(keys(got), []string{"c1", "c2"}) || len(got.Groups) != 0 {
		t.Fatalf("after Remove: %v %v", keys(got), got.Groups)
	}
	if tr.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tr.Len())
	}
}

func TestSharedGroups(t *testing.T) {
	tr := NewTree[int](16)
	for i := range 3 {
		tr.Add("$share/g/jobs/+", fmt.Sprint("w", i), i)
	}
	tr.Add("$share/h/jobs/+", "other", 9)
	tr.Add("$share/g/jobs/#", "deep", 9) // the same ShareName on another filter is another group
	tr.Add("jobs/+", "plain", 0)
	m := tr.Match("jobs/1")
	if len(m.Entries) != 1 || m.Entries[0].Key != "plain" {
		t.Fatalf("Entries = %v", m.Entries)
	}
	var names []string
	var g *Group[int]
	for _, x := range m.Groups {
		names = append(names, x.Name+" "+x.Filter)
		if x.Name == "g" && x.Filter == "jobs/+" {
			g = x
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"g jobs/#", "g jobs/+", "h jobs/+"}) {
		t.Fatalf("groups = %v", names)
	}
	if len(g.Members) != 3 {
		t.Fatalf("members = %v", g.Members)
	}

	// Next distributes evenly.
	counts := make([]int, len(g.Members))
	for range 3000 {
		counts[g.Next()]++
	}
	for i, c := range counts {
		if c != 1000 {
			t.Fatalf("member %d chosen %d times of 3000: %v", i, c, counts)
		}
	}

	// The counter survives cache invalidation and membership changes:
	// every snapshot advances the same sequence.
	start := g.Next() // 0 after 3000 calls
	tr.Add("unrelated", "x", 0)
	g2 := findGroup(t, tr.Match("jobs/1"), "g", "jobs/+")
	if g2 != g {
		t.Fatal("an unrelated change rebuilt the group snapshot")
	}
	if got := g2.Next(); got != start+1 {
		t.Fatalf("Next after invalidation = %d, want %d", got, start+1)
	}
	tr.Add("$share/g/jobs/+", "w3", 3)
	g3 := findGroup(t, tr.Match("jobs/1"), "g", "jobs/+")
	if g3 == g || len(g3.Members) != 4 || len(g.Members) != 3 {
		t.Fatalf("after a join: new snapshot %d members, old %d", len(g3.Members), len(g.Members))
	}
	if got := g3.Next(); got != (start+2)%4 {
		t.Fatalf("Next after a join = %d, want %d", got, (start+2)%4)
	}

	// Members leave; the group goes when the last one does.
	for i := range 4 {
		if !tr.Remove("$share/g/jobs/+", fmt.Sprint("w", i)) {
			t.Fatalf("Remove w%d failed", i)
		}
	}
	for _, x := range tr.Match("jobs/1").Groups {
		if x.Name == "g" && x.Filter == "jobs/+" {
			t.Fatal("empty group still matched")
		}
	}
	if len(g3.Members) != 4 {
		t.Fatal("an old snapshot changed")
	}
}

func findGroup(t *testing.T, m *Matches[int], name, filter string) *Group[int] {
	t.Helper()
	for _, g := range m.Groups {
		if g.Name == name && g.Filter == filter {
			return g
		}
	}
	t.Fatalf("group %s %s not matched", name, filter)
	return nil
}

func TestManyMembers(t *testing.T) {
	// Enough members to switch the keyed lists to their index map and back.
	tr := NewTree[int](0)
	const n = 100
	for i := range n {
		tr.Add("$share/g/t", fmt.Sprint("m", i), i)
		tr.Add("t", fmt.Sprint("m", i), i)
	}
	for i := range n {
		if tr.Add("t", fmt.Sprint("m", i), -i) {
			t.Fatalf("re-Add m%d reported new", i)
		}
	}
	for i := 0; i < n; i += 2 {
		if !tr.Remove("$share/g/t", fmt.Sprint("m", i)) || !tr.Remove("t", fmt.Sprint("m", i)) {
			t.Fatalf("Remove m%d failed", i)
		}
	}
	m := tr.Match("t")
	if len(m.Entries) != n/2 || len(m.Groups) != 1 || len(m.Groups[0].Members) != n/2 {
		t.Fatalf("got %d entries, %d groups", len(m.Entries), len(m.Groups))
	}
	for _, e := range m.Entries {
		var i int
		fmt.Sscanf(e.Key, "m%d", &i)
		if i%2 == 0 || e.Value != -i {
			t.Fatalf("entry %v", e)
		}
	}
	for i := 1; i < n; i += 2 {
		tr.Remove("$share/g/t", fmt.Sprint("m", i))
		tr.Remove("t", fmt.Sprint("m", i))
	}
	if tr.Len() != 0 || tr.nodeCount() != 0 {
		t.Fatalf("Len %d, nodes %d", tr.Len(), tr.nodeCount())
	}
}

func TestCacheInvalidation(t *testing.T) {
	tr := NewTree[int](16)
	if m := tr.Match("a/b"); len(m.Entries) != 0 {
		t.Fatal("empty tree matched")
	}
	tr.Add("a/+", "c1", 1)
	if m := tr.Match("a/b"); len(m.Entries) != 1 {
		t.Fatal("Match after Add does not see the new subscription")
	}
	old := tr.Match("a/b")
	tr.Add("a/+", "c1", 2)
	if m := tr.Match("a/b"); m.Entries[0].Value != 2 {
		t.Fatal("Match after a replacing Add sees the old value")
	}
	if old.Entries[0].Value != 1 {
		t.Fatal("an earlier result changed")
	}
	tr.Remove("a/+", "c1")
	if m := tr.Match("a/b"); len(m.Entries) != 0 {
		t.Fatal("Match after Remove still sees the subscription")
	}
	if len(old.Entries) != 1 {
		t.Fatal("an earlier result changed after Remove")
	}
}

func TestCacheBounds(t *testing.T) {
	tr := NewTree[int](10)
	tr.Add("#", "all", 0)
	for i := range 1000 {
		tr.Match(fmt.Sprint("t/", i))
	}
	n, w := tr.cache.stats()
	if n > 10 || w > 10*cacheItemsPerEntry {
		t.Fatalf("cache holds %d entries of weight %d", n, w)
	}
	// Heavy results: the weight bound holds before the entry bound.
	for i := range 100 {
		tr.Add("big/#", fmt.Sprint("k", i), i)
	}
	for i := range 100 {
		tr.Match(fmt.Sprint("big/", i))
	}
	n, w = tr.cache.stats()
	if w > 10*cacheItemsPerEntry || n > 10 {
		t.Fatalf("cache holds %d entries of weight %d", n, w)
	}
	if n == 0 {
		t.Fatal("nothing cached")
	}
	// A result heavier than a quarter of the budget is not cached.
	for i := range 200 {
		tr.Add("huge/#", fmt.Sprint("k", i), i)
	}
	tr.Match("huge/x")
	tr.cache.mu.RLock()
	_, cached := tr.cache.m["huge/x"]
	tr.cache.mu.RUnlock()
	if cached {
		t.Fatal("a result of weight > budget/4 was cached")
	}
}

func TestCachedMatchAllocs(t *testing.T) {
	tr := NewTree[int](16)
	tr.Add("a/+/c", "k", 1)
	tr.Add("$share/g/a/#", "k", 1)
	tr.Match("a/b/c")
	if n := testing.AllocsPerRun(100, func() { tr.Match("a/b/c") }); n != 0 {
		t.Fatalf("cached Match allocates %v times", n)
	}
	tr0 := NewTree[int](0)
	tr0.Add("a/b", "k", 1)
	if n := testing.AllocsPerRun(100, func() { tr0.Match("x/y") }); n != 0 {
		t.Fatalf("uncached Match with no result allocates %v times", n)
	}
}

func TestPruning(t *testing.T) {
	tr := NewTree[int](0)
	filters := []string{"a/b/c", "a/b", "a/+/c", "a/#", "#", "+", "/", "//", "a//", "x/y/z/w", "a/b/d", "a/c", "a/e"}
	for i, f := range filters {
		tr.Add(f, "k", i)
		tr.Add("$share/g/"+f, "k", i)
	}
	if tr.nodeCount() == 0 {
		t.Fatal("no nodes")
	}
	for _, f := range filters {
		tr.Remove(f, "k")
	}
	if n := tr.nodeCount(); n == 0 {
		t.Fatal("shared members removed with the plain subscriptions")
	}
	for _, f := range filters {
		tr.Remove("$share/g/"+f, "k")
	}
	if n := tr.nodeCount(); n != 0 {
		t.Fatalf("%d nodes left after removing everything", n)
	}
	root := tr.root
	if root.one != nil || root.many != nil || root.plus != nil || root.hash != nil {
		t.Fatal("root keeps children")
	}
	// Churn does not grow the tree.
	for i := range 1000 {
		f := fmt.Sprint("dev/", i, "/cmd")
		tr.Add(f, "k", i)
		tr.Remove(f, "k")
	}
	if n := tr.nodeCount(); n != 0 {
		t.Fatalf("%d nodes left after churn", n)
	}
}

func TestLiteralChildren(t *testing.T) {
	// One literal child is inline; two or more use a map; back to one
	// goes inline again.
	tr := NewTree[int](0)
	tr.Add("r/a", "k", 1)
	r := tr.root.one
	if r == nil || r.one == nil || r.many != nil {
		t.Fatal("single child not inline")
	}
	tr.Add("r/b", "k", 1)
	tr.Add("r/c", "k", 1)
	if r.one != nil || len(r.many) != 3 {
		t.Fatal("children not in a map")
	}
	tr.Remove("r/a", "k")
	tr.Remove("r/c", "k")
	if r.one == nil || r.one.level != "b" || r.many != nil {
		t.Fatal("last child not inline")
	}
	if len(tr.Match("r/b").Entries) != 1 || len(tr.Match("r/a").Entries) != 0 {
		t.Fatal("wrong match after shrinking")
	}
}

func TestFilterCopied(t *testing.T) {
	// A filter that aliases a buffer the caller reuses, as a zero-copy
	// decoder might produce: the tree must keep its own copy.
	tr := NewTree[int](0)
	buf := []byte("a/b")
	tr.Add(unsafe.String(&buf[0], len(buf)), "k", 1)
	buf2 := []byte("$share/g/c/d")
	tr.Add(unsafe.String(&buf2[0], len(buf2)), "k", 2)
	copy(buf, "x/y")
	copy(buf2, "$share/h/e/f")
	if m := tr.Match("a/b"); len(m.Entries) != 1 || m.Entries[0].Filter != "a/b" {
		t.Fatalf("Match(a/b) = %+v", m.Entries)
	}
	if m := tr.Match("c/d"); len(m.Groups) != 1 || m.Groups[0].Name != "g" || m.Groups[0].Filter != "c/d" {
		t.Fatalf("Match(c/d) = %+v", m.Groups)
	}
	if m := tr.Match("x/y"); len(m.Entries) != 0 {
		t.Fatalf("Match(x/y) = %+v", m.Entries)
	}

	// The cache keeps its own copy of the topic too.
	tc := NewTree[int](8)
	tc.Add("a/b", "k", 1)
	topic := []byte("a/b")
	tc.Match(unsafe.String(&topic[0], len(topic)))
	copy(topic, "x/y")
	if m := tc.Match("x/y"); len(m.Entries) != 0 {
		t.Fatal("cache key aliases the caller's buffer")
	}
	if m := tc.Match("a/b"); len(m.Entries) != 1 {
		t.Fatal("cached a/b lost")
	}
}

func TestWalk(t *testing.T) {
	tr := NewTree[int](0)
	want := map[string]int{}
	for i, s := range []struct{ filter, group, key string }{
		{"a", "", "k1"}, {"a/+", "", "k1"}, {"a/#", "g", "k2"}, {"a/#", "g", "k3"}, {"#", "", "k4"}, {"/", "h", "k1"},
	} {
		f := s.filter
		if s.group != "" {
			f = "$share/" + s.group + "/" + s.filter
		}
		tr.Add(f, s.key, i)
		want[s.filter+"|"+s.group+"|"+s.key] = i
	}
	got := map[string]int{}
	tr.Walk(func(filter, group, key string, v int) bool {
		got[filter+"|"+group+"|"+key] = v
		tr.Remove(filter, key) // Walk holds no lock while calling fn
		return true
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Walk = %v, want %v", got, want)
	}
	calls := 0
	tr.Walk(func(string, string, string, int) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("Walk went on after false: %d calls", calls)
	}
}

// TestConcurrent runs Match against Add and Remove; run it with -race. A
// subscription that is never removed must be matched throughout, and a
// result must not change after it was returned.
func TestConcurrent(t *testing.T) {
	for _, cacheSize := range []int{0, 64} {
		tr := NewTree[int](cacheSize)
		tr.Add("fixed/#", "anchor", 1)
		tr.Add("$share/g/fixed/+", "member", 1)
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 7))
				for i := 0; !stop.Load(); i++ {
					f := randomFilter(r)
					if r.IntN(5) == 0 {
						f = "$share/g/" + f
					}
					k := fmt.Sprint("w", w, "-", r.IntN(10))
					if r.IntN(2) == 0 {
						tr.Add(f, k, i)
					} else {
						tr.Remove(f, k)
					}
				}
			}()
		}
		var failed atomic.Bool
		var readers sync.WaitGroup
		for w := range 8 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				r := rand.New(rand.NewPCG(uint64(w), 8))
				for range 5000 {
					m := tr.Match("fixed/" + topicLevels[r.IntN(len(topicLevels))])
					n := len(m.Entries)
					found := false
					for _, e := range m.Entries {
						found = found || e.Key == "anchor"
					}
					if !found || len(m.Groups) == 0 {
						failed.Store(true)
					}
					for _, g := range m.Groups {
						_ = g.Members[g.Next()]
					}
					tr.Match(randomTopic(r))
					if len(m.Entries) != n {
						failed.Store(true)
					}
				}
			}()
		}
		readers.Wait()
		stop.Store(true)
		wg.Wait()
		if failed.Load() {
			t.Fatalf("cache %d: a Match missed the fixed subscription", cacheSize)
		}
		// Drain and check the tree prunes to nothing.
		var all [][2]string
		tr.Walk(func(filter, group, key string, v int) bool {
			if group != "" {
				filter = "$share/" + group + "/" + filter
			}
			all = append(all, [2]string{filter, key})
			return true
		})
		for _, s := range all {
			if !tr.Remove(s[0], s[1]) {
				t.Fatalf("Remove(%q, %q) = false", s[0], s[1])
			}
		}
		if tr.Len() != 0 || tr.nodeCount() != 0 {
			t.Fatalf("cache %d: Len %d, nodes %d after draining", cacheSize, tr.Len(), tr.nodeCount())
		}
	}
}
