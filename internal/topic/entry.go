package topic

import (
	"slices"
	"sync/atomic"
)

// Entry is one subscription: the key of its owner (a client id), the filter
// as subscribed (the inner filter for a shared subscription) and its value.
type Entry[V any] struct {
	Key    string
	Filter string
	Value  V
}

func (e Entry[V]) itemKey() string { return e.Key }

// Group is an immutable snapshot of one shared subscription: the members of
// ShareName Name on Filter at the time of a Match. It is never empty. Each
// matching message goes to one member; Next picks where to start looking.
type Group[V any] struct {
	Name    string     // the ShareName
	Filter  string     // the inner filter
	Members []Entry[V] // one per member key, in no particular order; do not mutate
	next    *atomic.Uint64
}

// Next returns a round-robin start index in [0, len(Members)). The counter
// belongs to the live group, so every snapshot of the group, older or newer,
// advances the same sequence and distribution stays fair across cache
// invalidations and membership changes. Safe for concurrent use.
func (g *Group[V]) Next() int {
	if len(g.Members) == 0 {
		return 0
	}
	return int((g.next.Add(1) - 1) % uint64(len(g.Members)))
}

// Matches is the immutable result of Tree.Match, shared between callers and
// the match cache: do not mutate it. It stays valid after later Add and
// Remove calls, which build new results instead of changing this one.
type Matches[V any] struct {
	// Entries are the non-shared subscriptions that match. A key appears
	// once per matching filter, so possibly several times; the entries of
	// one key are adjacent, so that the caller merges them in one pass.
	Entries []Entry[V]
	// Groups are the shared subscriptions that match, one per
	// (ShareName, filter) pair.
	Groups []*Group[V]

	nodes int // nodes whose subscriptions are in Entries, while collecting
}

// group is the live state of one shared subscription, owned by its node.
// members changes only under Tree.mu held for writing; snap and next are
// atomics because Match reads and fills them under the read lock.
type group[V any] struct {
	name    string
	filter  string
	members keyed[Entry[V]]
	next    atomic.Uint64 // shared by every snapshot, see Group.Next
	snap    atomic.Pointer[Group[V]]
}

func (g *group[V]) itemKey() string { return g.name }

// snapshot returns the current immutable view of g, building it on first
// use after a change. Called with Tree.mu held for reading: members cannot
// change meanwhile, so concurrent builders build equal snapshots and all
// callers end up with the one that was stored.
func (g *group[V]) snapshot() *Group[V] {
	if s := g.snap.Load(); s != nil {
		return s
	}
	s := &Group[V]{Name: g.name, Filter: g.filter, Members: slices.Clone(g.members.items), next: &g.next}
	if !g.snap.CompareAndSwap(nil, s) {
		if cur := g.snap.Load(); cur != nil {
			return cur
		}
	}
	return s
}

// keyer is an item of a keyed list.
type keyer interface{ itemKey() string }

// indexAbove is the list length above which a keyed list keeps a map from
// key to position. Below it a linear scan is cheaper than a map, in time and
// in memory: most filters have one subscriber.
const indexAbove = 8

// keyed is a list of items with unique keys: a slice that Match copies
// quickly, plus an index map once the list is long, so Add and Remove stay
// O(1) when thousands of clients share one filter. Removal swaps the last
// item into the hole, so order is not kept.
type keyed[T keyer] struct {
	items []T
	index map[string]int // nil while len(items) <= indexAbove
}

func (l *keyed[T]) find(k string) int {
	if l.index != nil {
		if i, ok := l.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range l.items {
		if l.items[i].itemKey() == k {
			return i
		}
	}
	return -1
}

// get returns the item with key k.
func (l *keyed[T]) get(k string) (T, bool) {
	if i := l.find(k); i >= 0 {
		return l.items[i], true
	}
	var zero T
	return zero, false
}

// put inserts it, or replaces the item with the same key; it reports
// whether it is new.
func (l *keyed[T]) put(it T) bool {
	k := it.itemKey()
	if i := l.find(k); i >= 0 {
		l.items[i] = it
		return false
	}
	l.items = append(l.items, it)
	switch {
	case l.index != nil:
		l.index[k] = len(l.items) - 1
	case len(l.items) > indexAbove:
		l.index = make(map[string]int, len(l.items))
		for i := range l.items {
			l.index[l.items[i].itemKey()] = i
		}
	}
	return true
}

// remove deletes the item with key k and reports whether it existed. It
// releases the index and spare capacity as the list shrinks.
func (l *keyed[T]) remove(k string) bool {
	i := l.find(k)
	if i < 0 {
		return false
	}
	last := len(l.items) - 1
	if i != last {
		l.items[i] = l.items[last]
		if l.index != nil {
			l.index[l.items[i].itemKey()] = i
		}
	}
	var zero T
	l.items[last] = zero
	l.items = l.items[:last]
	if l.index != nil {
		delete(l.index, k)
		if len(l.items) <= indexAbove/2 {
			l.index = nil
		}
	}
	switch {
	case len(l.items) == 0:
		l.items = nil
	case cap(l.items) > 16 && len(l.items) < cap(l.items)/4:
		l.items = slices.Clip(slices.Clone(l.items))
	}
	return true
}

func (l *keyed[T]) len() int { return len(l.items) }
