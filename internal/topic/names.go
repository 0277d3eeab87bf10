package topic

import "strings"

// Names indexes topic names (the retained messages' topics) by level, so
// that the names a filter matches are found by walking the filter, not by
// testing every name: the cost follows the filter and the matches, not the
// number of names. It holds a value per name. It is not safe for
// concurrent use; its owner locks it.
type Names[V any] struct {
	root namesNode[V]
	n    int
}

// smallChildren is how many children a node keeps in a slice before it
// switches to a map: most nodes have one or a few children, and walking a
// short slice is far cheaper than iterating a map.
const smallChildren = 8

type namesNode[V any] struct {
	level string
	small []*namesNode[V]          // children while few
	big   map[string]*namesNode[V] // children once many (small is then nil)
	name  string                   // the full name, while has
	value V
	has   bool
}

// child returns the child for level.
func (n *namesNode[V]) child(level string) *namesNode[V] {
	if n.big != nil {
		return n.big[level]
	}
	for _, c := range n.small {
		if c.level == level {
			return c
		}
	}
	return nil
}

// addChild adds a new child for level.
func (n *namesNode[V]) addChild(level string) *namesNode[V] {
	c := &namesNode[V]{level: level}
	switch {
	case n.big != nil:
		n.big[level] = c
	case len(n.small) < smallChildren:
		n.small = append(n.small, c)
	default:
		n.big = make(map[string]*namesNode[V], 2*smallChildren)
		for _, s := range n.small {
			n.big[s.level] = s
		}
		n.big[level] = c
		n.small = nil
	}
	return c
}

// removeChild drops the child for level.
func (n *namesNode[V]) removeChild(level string) {
	if n.big != nil {
		delete(n.big, level)
		return
	}
	for i, c := range n.small {
		if c.level == level {
			n.small = append(n.small[:i], n.small[i+1:]...)
			return
		}
	}
}

func (n *namesNode[V]) childCount() int { return len(n.small) + len(n.big) }

// each calls fn for every child until it returns false.
func (n *namesNode[V]) each(fn func(*namesNode[V]) bool) bool {
	for _, c := range n.small {
		if !fn(c) {
			return false
		}
	}
	for _, c := range n.big {
		if !fn(c) {
			return false
		}
	}
	return true
}

// Len reports the names held.
func (t *Names[V]) Len() int { return t.n }

// Set stores v for name, replacing its value.
func (t *Names[V]) Set(name string, v V) {
	n := &t.root
	for level := range strings.SplitSeq(name, "/") {
		c := n.child(level)
		if c == nil {
			c = n.addChild(level)
		}
		n = c
	}
	if !n.has {
		t.n++
	}
	n.name, n.value, n.has = name, v, true
}

// Get returns the value of name.
func (t *Names[V]) Get(name string) (V, bool) {
	n := &t.root
	for level := range strings.SplitSeq(name, "/") {
		if n = n.child(level); n == nil {
			var zero V
			return zero, false
		}
	}
	return n.value, n.has
}

// Delete removes name and the nodes it alone kept.
func (t *Names[V]) Delete(name string) {
	levels := strings.Split(name, "/")
	path := make([]*namesNode[V], 0, len(levels)+1)
	n := &t.root
	path = append(path, n)
	for _, level := range levels {
		if n = n.child(level); n == nil {
			return
		}
		path = append(path, n)
	}
	if !n.has {
		return
	}
	var zero V
	n.name, n.value, n.has = "", zero, false
	t.n--
	for i := len(levels) - 1; i >= 0; i-- {
		c := path[i+1]
		if c.has || c.childCount() > 0 {
			break
		}
		path[i].removeChild(levels[i])
	}
}

// Match calls fn for each name filter matches, by the rules of
// MatchFilter ('+' one level, '#' the parent and every level below, no
// wildcard at the first level matching a name starting with '$'), until fn
// returns false. Names are visited in no particular order.
func (t *Names[V]) Match(filter string, fn func(name string, v V) bool) {
	if filter == "" {
		return
	}
	t.root.match(strings.Split(filter, "/"), 0, fn)
}

// match walks filter levels from i under n. It returns false when fn
// asked to stop.
func (n *namesNode[V]) match(filter []string, i int, fn func(string, V) bool) bool {
	if i == len(filter) {
		if n.has {
			return fn(n.name, n.value)
		}
		return true
	}
	switch level := filter[i]; level {
	case "#":
		// The parent level itself [MQTT-4.7.1-2], then everything below.
		if i > 0 && n.has && !fn(n.name, n.value) {
			return false
		}
		return n.each(func(c *namesNode[V]) bool {
			if i == 0 && strings.HasPrefix(c.level, "$") {
				return true // [MQTT-4.7.2-1]
			}
			return c.all(fn)
		})
	case "+":
		return n.each(func(c *namesNode[V]) bool {
			if i == 0 && strings.HasPrefix(c.level, "$") {
				return true // [MQTT-4.7.2-1]
			}
			return c.match(filter, i+1, fn)
		})
	default:
		if c := n.child(level); c != nil {
			return c.match(filter, i+1, fn)
		}
	}
	return true
}

// all calls fn for n and every name below it.
func (n *namesNode[V]) all(fn func(string, V) bool) bool {
	if n.has && !fn(n.name, n.value) {
		return false
	}
	return n.each(func(c *namesNode[V]) bool { return c.all(fn) })
}
