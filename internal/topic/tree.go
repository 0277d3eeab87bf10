package topic

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Tree is a subscription trie: filters are paths of levels, each node holds
// the subscriptions whose filter ends there, non-shared ones by key and
// shared ones by group. The value V is per subscription (the broker keeps
// the subscription options there).
//
// Locking. mu, a sync.RWMutex, guards the trie: nodes, subscription lists
// and group membership. Add and Remove hold it for writing, so they are
// serialized; Match on a cache miss and Walk hold it for reading, so they
// run concurrently with each other. A cache hit does not touch mu. The match
// cache has its own lock (see matchCache), which is never held together with
// mu: Match releases mu before it stores a result. gen, count, and the group
// snapshot pointers and counters are atomics. No lock is held while a
// caller uses a result, because Match returns an immutable snapshot and Walk
// calls its function on a copy.
//
// Add and Remove do not validate: pass filters that ValidateFilter accepts.
// Another string is stored as given and matched by MatchFilter's rules, so a
// missed check cannot break the tree, but the subscription may never match.
//
// Create a Tree with NewTree; the zero value is not usable.
type Tree[V any] struct {
	mu    sync.RWMutex
	root  *node[V]
	nodes int // nodes below the root; guarded by mu

	count atomic.Int64  // subscriptions stored
	gen   atomic.Uint64 // bumped by every change, under mu held for writing

	none  *Matches[V]    // the shared empty result
	cache *matchCache[V] // nil when disabled
}

// node is one level of a filter. Literal children are held in one when there
// is a single one (the common case for long, client-specific filters) and in
// many, a map, when there are several; at most one of them is non-nil. The
// '+' and '#' children have their own fields, so a literal level "+" or "#"
// of a topic name can never reach them by lookup.
type node[V any] struct {
	parent *node[V]
	filter string // the filter path from the root to this node, e.g. "a/+/b"
	level  string // the last level of filter

	one        *node[V]
	many       map[string]*node[V]
	plus, hash *node[V]

	subs   keyed[Entry[V]]  // non-shared subscriptions ending here, by key
	groups keyed[*group[V]] // shared subscriptions ending here, by ShareName
}

// NewTree returns an empty tree whose match cache holds at most cacheSize
// topics; 0 or less disables the cache. See matchCache for the bounds.
func NewTree[V any](cacheSize int) *Tree[V] {
	t := &Tree[V]{root: &node[V]{}, none: &Matches[V]{}}
	if cacheSize > 0 {
		t.cache = newMatchCache[V](cacheSize)
	}
	return t
}

// literal returns n's literal child for level, or nil.
func (n *node[V]) literal(level string) *node[V] {
	if n.one != nil {
		if n.one.level == level {
			return n.one
		}
		return nil
	}
	return n.many[level]
}

// child returns n's child for a filter level, wildcards included, or nil.
func (n *node[V]) child(level string) *node[V] {
	switch level {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.literal(level)
}

// attach makes c a child of n; n has no child for c.level yet.
func (n *node[V]) attach(c *node[V]) {
	switch {
	case c.level == "+":
		n.plus = c
	case c.level == "#":
		n.hash = c
	case n.one == nil && n.many == nil:
		n.one = c
	case n.many == nil:
		n.many = map[string]*node[V]{n.one.level: n.one, c.level: c}
		n.one = nil
	default:
		n.many[c.level] = c
	}
}

// detach removes the child c from n.
func (n *node[V]) detach(c *node[V]) {
	switch {
	case n.plus == c:
		n.plus = nil
	case n.hash == c:
		n.hash = nil
	case n.one == c:
		n.one = nil
	default:
		delete(n.many, c.level)
		if len(n.many) == 1 {
			for _, last := range n.many {
				n.one = last
			}
			n.many = nil
		}
	}
}

// empty reports whether n holds nothing and can be pruned.
func (n *node[V]) empty() bool {
	return n.subs.len() == 0 && n.groups.len() == 0 &&
		n.one == nil && n.many == nil && n.plus == nil && n.hash == nil
}

// treeFilter splits a filter as Add and Remove see it: a shared filter with
// a non-empty ShareName and inner filter, or else a plain filter.
func treeFilter(filter string) (share, inner string, shared bool) {
	share, inner, shared = splitShared(filter)
	if !shared || share == "" || inner == "" {
		return "", filter, false
	}
	return share, inner, true
}

// Add inserts key's subscription on filter with value v, or replaces it.
// A shared filter "$share/g/f" makes key a member of group g on filter f.
// Add reports whether the subscription is new; false means it replaced the
// one key already had on the same (group, filter). Add keeps key as given
// and copies filter, so filter may alias a reused buffer.
func (t *Tree[V]) Add(filter, key string, v V) bool {
	share, inner, shared := treeFilter(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodeLocked(inner)
	e := Entry[V]{Key: key, Filter: n.filter, Value: v}
	var added bool
	if shared {
		g, ok := n.groups.get(share)
		if !ok {
			g = &group[V]{name: strings.Clone(share), filter: n.filter}
			n.groups.put(g)
		}
		added = g.members.put(e)
		g.snap.Store(nil)
	} else {
		added = n.subs.put(e)
	}
	if added {
		t.count.Add(1)
	}
	t.gen.Add(1)
	return added
}

// nodeLocked returns the node for filter, creating the missing part of the
// path. Created nodes share one copy of filter.
func (t *Tree[V]) nodeLocked(filter string) *node[V] {
	n := t.root
	owned, cloned := filter, false
	for i := 0; ; {
		j := levelEnd(filter, i)
		c := n.child(filter[i:j])
		if c == nil {
			if !cloned {
				owned, cloned = strings.Clone(filter), true
			}
			c = &node[V]{parent: n, filter: owned[:j], level: owned[i:j]}
			n.attach(c)
			t.nodes++
		}
		n = c
		if j == len(filter) {
			return n
		}
		i = j + 1
	}
}

// findLocked returns the node for filter, or nil.
func (t *Tree[V]) findLocked(filter string) *node[V] {
	n := t.root
	for i := 0; ; {
		j := levelEnd(filter, i)
		if n = n.child(filter[i:j]); n == nil || j == len(filter) {
			return n
		}
		i = j + 1
	}
}

// Remove deletes key's subscription on filter (a shared filter removes key
// from that group) and reports whether it existed. Nodes left empty are
// pruned, so memory follows the live subscriptions, not their history.
func (t *Tree[V]) Remove(filter, key string) bool {
	share, inner, shared := treeFilter(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.findLocked(inner)
	if n == nil {
		return false
	}
	if shared {
		g, ok := n.groups.get(share)
		if !ok || !g.members.remove(key) {
			return false
		}
		g.snap.Store(nil)
		if g.members.len() == 0 {
			n.groups.remove(share)
		}
	} else if !n.subs.remove(key) {
		return false
	}
	t.count.Add(-1)
	t.gen.Add(1)
	t.pruneLocked(n)
	return true
}

// pruneLocked detaches n and its ancestors while they are empty.
func (t *Tree[V]) pruneLocked(n *node[V]) {
	for n.parent != nil && n.empty() {
		p := n.parent
		p.detach(n)
		n.parent = nil
		t.nodes--
		n = p
	}
}

// Len reports the number of subscriptions stored, shared ones included.
func (t *Tree[V]) Len() int { return int(t.count.Load()) }

// Match returns every subscription whose filter matches the topic name
// topic. The result is an immutable snapshot, possibly shared with other
// callers and the cache: do not mutate it. A cache hit takes no lock of the
// trie and does not allocate.
func (t *Tree[V]) Match(topic string) *Matches[V] {
	if topic == "" {
		return t.none
	}
	c := t.cache
	if c != nil {
		if m := c.get(topic, t.gen.Load()); m != nil {
			return m
		}
	}
	t.mu.RLock()
	gen := t.gen.Load() // stable while mu is held
	m := t.matchLocked(topic)
	t.mu.RUnlock()
	if c != nil {
		c.put(topic, gen, m)
	}
	return m
}

// matchLocked builds the result for topic; mu is held for reading.
func (t *Tree[V]) matchLocked(topic string) *Matches[V] {
	var res Matches[V]
	t.root.collect(topic, 0, topic[0] == '$', &res)
	if len(res.Entries) == 0 && len(res.Groups) == 0 {
		return t.none
	}
	if res.nodes > 1 {
		// Keys are unique within one node; entries from several filters
		// are ordered by key so that a key's entries are adjacent. Done
		// once per result (the cache keeps it), it spares every routed
		// message a search for repeated keys.
		slices.SortStableFunc(res.Entries, func(a, b Entry[V]) int { return strings.Compare(a.Key, b.Key) })
	}
	res.nodes = 0
	m := new(Matches[V])
	*m = res
	return m
}

// collect appends to m what matches the levels of topic from offset i on,
// n having matched the levels before i. i > len(topic) when no level is
// left. dollar says the topic starts with '$'.
func (n *node[V]) collect(topic string, i int, dollar bool, m *Matches[V]) {
	for {
		// A topic starting with '$' is not matched by a first-level
		// wildcard [MQTT-4.7.2-1].
		wild := i != 0 || !dollar
		if wild && n.hash != nil {
			// '#' matches the parent level too [MQTT-4.7.1-1].
			n.hash.emit(m)
		}
		if i > len(topic) {
			n.emit(m)
			return
		}
		j := levelEnd(topic, i)
		if wild && n.plus != nil {
			n.plus.collect(topic, j+1, dollar, m)
		}
		c := n.literal(topic[i:j])
		if c == nil {
			return
		}
		n, i = c, j+1
	}
}

// emit appends n's subscriptions to m.
func (n *node[V]) emit(m *Matches[V]) {
	if len(n.subs.items) > 0 {
		m.nodes++
	}
	m.Entries = append(m.Entries, n.subs.items...)
	for _, g := range n.groups.items {
		m.Groups = append(m.Groups, g.snapshot())
	}
}

// Walk calls fn for every subscription until fn returns false: filter is the
// filter (the inner filter of a shared subscription), group its ShareName or
// "" for a non-shared one. Walk copies the subscriptions under the read lock
// and calls fn without it, so fn may call Add and Remove; it sees the tree
// as it was when Walk started. The order is unspecified.
func (t *Tree[V]) Walk(fn func(filter, group, key string, v V) bool) {
	type sub struct {
		group string
		e     Entry[V]
	}
	t.mu.RLock()
	all := make([]sub, 0, t.Len())
	var visit func(n *node[V])
	visit = func(n *node[V]) {
		for _, e := range n.subs.items {
			all = append(all, sub{e: e})
		}
		for _, g := range n.groups.items {
			for _, e := range g.members.items {
				all = append(all, sub{group: g.name, e: e})
			}
		}
		if n.one != nil {
			visit(n.one)
		}
		for _, c := range n.many {
			visit(c)
		}
		if n.plus != nil {
			visit(n.plus)
		}
		if n.hash != nil {
			visit(n.hash)
		}
	}
	visit(t.root)
	t.mu.RUnlock()
	for _, s := range all {
		if !fn(s.e.Filter, s.group, s.e.Key, s.e.Value) {
			return
		}
	}
}

// nodeCount reports the nodes below the root, for tests.
func (t *Tree[V]) nodeCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.nodes
}
