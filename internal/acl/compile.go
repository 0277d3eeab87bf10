package acl

import (
	"strings"
)

// The compiled form of a Policy is one trie of topic levels per action.
// Each (rule, who entry, pattern) triple becomes an entry stored at the
// node its pattern ends at: in the node's hash bucket when the pattern ends
// in '#', else in its end bucket. A node's children are its literal levels
// (a map), its '+' child and its template children: levels holding %u or
// %c, which are matched by substituting the subject's values.
//
// A lookup walks only the branches the topic's levels select, so its cost
// grows with the topic's depth and the number of matching patterns, not
// with the number of rules. Within a bucket, entries for user:, cert: and
// group: are indexed by name, so ten thousand per-user rules sharing the
// pattern "devices/%u/#" cost one map lookup.

// node is one level of the trie.
type node struct {
	lit   map[string]*node
	plus  *node
	tmpls []*tmplChild
	hash  *bucket // patterns ending "/#" here ('#' alone at the root)
	end   *bucket // patterns ending exactly here
}

// tmplChild is a child level holding %u or %c.
type tmplChild struct {
	t    template
	next *node
}

// template is a level split into literal text and placeholders.
type template struct {
	text  string // as written
	parts []part
}

// part is a piece of a template level.
type part struct {
	kind byte // partLiteral, partUser or partClient
	text string
}

const (
	partLiteral byte = iota
	partUser
	partClient
)

// bucket holds the entries that end at one place in the trie.
type bucket struct {
	generic []*entry            // who: all, anonymous, authenticated
	user    map[string][]*entry // who: user:NAME, by NAME
	cert    map[string][]*entry // who: cert:IDENTITY
	group   map[string][]*entry // who: group:NAME
}

// entry is one (rule, who entry, pattern) triple.
type entry struct {
	r       *rule
	w       *who
	pattern string
	pi, wi  int    // index of the pattern and the who entry in the rule
	score   uint64 // specificity; higher is more specific
	// dollar is set when the pattern's first level literally starts
	// with '$'.
	dollar bool
}

// better reports whether a outranks b: more specific, then deny over
// allow, then the rule written first.
func better(a, b *entry) bool {
	if b == nil {
		return true
	}
	if a.score != b.score {
		return a.score > b.score
	}
	if a.r.deny != b.r.deny {
		return a.r.deny
	}
	if a.r.index != b.r.index {
		return a.r.index < b.r.index
	}
	if a.pi != b.pi {
		return a.pi < b.pi
	}
	return a.wi < b.wi
}

// patternScore is the pattern part of the specificity: literal levels,
// then no trailing '#', then fewer '+' levels, packed so that a larger
// number is more specific. The who rank takes the lowest two bits.
func patternScore(pattern string) uint64 {
	var lit, plus uint64
	hash := uint64(0)
	for level := range strings.SplitSeq(pattern, "/") {
		switch level {
		case "+":
			plus++
		case "#":
			hash = 1
		default:
			lit++
		}
	}
	lit = min(lit, 1<<20-1)
	plus = min(plus, 1<<20-1)
	return lit<<23 | (1-hash)<<22 | (1<<20-1-plus)<<2
}

// compile builds the tries of a parsed, valid policy.
func compile(file string, rules []*rule) *Policy {
	p := &Policy{file: file, rules: rules}
	for i := range p.trees {
		p.trees[i] = &node{}
	}
	for _, r := range rules {
		for pi, pat := range r.topics {
			p.usesClient = p.usesClient || usesClient(pat)
			ps := patternScore(pat)
			dollar := strings.HasPrefix(pat, "$")
			for wi := range r.who {
				w := &r.who[wi]
				p.usesGroups = p.usesGroups || w.kind == whoGroup
				e := &entry{r: r, w: w, pattern: pat, pi: pi, wi: wi, score: ps | w.kind.rank(), dollar: dollar}
				for a := Publish; a <= Retain; a++ {
					if r.actions.has(a) {
						p.trees[a-1].insert(pat, e)
					}
				}
			}
		}
	}
	return p
}

// insert stores e under pattern, a valid non-shared filter.
func (n *node) insert(pattern string, e *entry) {
	for {
		level, rest, more := strings.Cut(pattern, "/")
		if level == "#" {
			n.hash = n.hash.add(e)
			return
		}
		n = n.child(level)
		if !more {
			n.end = n.end.add(e)
			return
		}
		pattern = rest
	}
}

// child returns the child for level, creating it.
func (n *node) child(level string) *node {
	if level == "+" {
		if n.plus == nil {
			n.plus = &node{}
		}
		return n.plus
	}
	if t, ok := parseTemplate(level); ok {
		for _, tc := range n.tmpls {
			if tc.t.text == level {
				return tc.next
			}
		}
		tc := &tmplChild{t: t, next: &node{}}
		n.tmpls = append(n.tmpls, tc)
		return tc.next
	}
	if n.lit == nil {
		n.lit = map[string]*node{}
	}
	c := n.lit[level]
	if c == nil {
		c = &node{}
		n.lit[level] = c
	}
	return c
}

// parseTemplate splits a level holding %u or %c; ok is false for a level
// without them.
func parseTemplate(level string) (t template, ok bool) {
	if !strings.Contains(level, "%u") && !strings.Contains(level, "%c") {
		return t, false
	}
	t.text = level
	start := 0
	for i := 0; i+1 < len(level); i++ {
		if level[i] != '%' || (level[i+1] != 'u' && level[i+1] != 'c') {
			continue
		}
		if i > start {
			t.parts = append(t.parts, part{kind: partLiteral, text: level[start:i]})
		}
		kind := partUser
		if level[i+1] == 'c' {
			kind = partClient
		}
		t.parts = append(t.parts, part{kind: kind})
		i++
		start = i + 1
	}
	if start < len(level) {
		t.parts = append(t.parts, part{kind: partLiteral, text: level[start:]})
	}
	return t, true
}

// usesUser reports whether pattern holds %u; usesClient %c.
func usesUser(pattern string) bool   { return strings.Contains(pattern, "%u") }
func usesClient(pattern string) bool { return strings.Contains(pattern, "%c") }

// add returns b with e added, allocating b when nil.
func (b *bucket) add(e *entry) *bucket {
	if b == nil {
		b = &bucket{}
	}
	index := func(m *map[string][]*entry) {
		if *m == nil {
			*m = map[string][]*entry{}
		}
		(*m)[e.w.name] = append((*m)[e.w.name], e)
	}
	switch e.w.kind {
	case whoUser:
		index(&b.user)
	case whoCert:
		index(&b.cert)
	case whoGroup:
		index(&b.group)
	default:
		b.generic = append(b.generic, e)
	}
	return b
}
