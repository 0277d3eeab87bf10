package acl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/moatmq/moat/internal/topic"
)

// Result.Rule texts for requests decided before any rule.
const (
	ruleBadAction = "invalid request: unknown action"
	ruleBadQoS    = "invalid request: QoS above 2"
	ruleBadTopic  = "invalid request: malformed topic"
	ruleDollar    = "builtin: a topic starting with '$' needs a rule whose pattern starts with '$'"
	ruleNoPolicy  = "no policy (default deny)"
)

// certMethod is the auth.Identity.Method of certificate identities.
const certMethod = "certificate"

// view is what the matcher needs of a Subject.
type view struct {
	name, client string
	groups       []string
	anon, cert   bool
	// userOK and clientOK cache whether name and client may be
	// substituted: 0 not yet known, 1 yes, -1 no.
	userOK, clientOK int8
}

// makeView reads s. A nil Subject or Identity is anonymous.
func makeView(s *Subject) view {
	v := view{anon: true}
	if s == nil {
		return v
	}
	v.client = s.ClientID
	if id := s.Identity; id != nil {
		v.name, v.groups, v.anon = id.Name, id.Groups, id.Anonymous
		v.cert = id.Method == certMethod
	}
	return v
}

// safeValue reports whether s may replace %u or %c: non-empty, not
// starting with '$', without '+', '#', '/' or U+0000. This keeps a
// substituted level literal and inside its own level (CVE-2017-7650).
func safeValue(s string) bool {
	return s != "" && s[0] != '$' && !strings.ContainsAny(s, "+#/\x00")
}

func tri(ok bool) int8 {
	if ok {
		return 1
	}
	return -1
}

// user returns the value for %u and whether it may be used.
func (v *view) user() (string, bool) {
	if v.userOK == 0 {
		v.userOK = tri(!v.anon && safeValue(v.name))
	}
	return v.name, v.userOK > 0
}

// clientID returns the value for %c and whether it may be used.
func (v *view) clientID() (string, bool) {
	if v.clientOK == 0 {
		v.clientOK = tri(safeValue(v.client))
	}
	return v.client, v.clientOK > 0
}

// match reports whether the template, with v's values substituted, equals
// level.
func (t *template) match(level string, v *view) bool {
	for _, p := range t.parts {
		s, ok := p.text, true
		switch p.kind {
		case partUser:
			s, ok = v.user()
		case partClient:
			s, ok = v.clientID()
		}
		if !ok || !strings.HasPrefix(level, s) {
			return false
		}
		level = level[len(s):]
	}
	return level == ""
}

// matcher walks a trie for one request and keeps the best entry.
type matcher struct {
	v    view // a copy: a pointer would make the caller's view escape
	best *entry
	all  []*entry // every matching entry, for Explain only
	keep bool     // fill all
}

// take considers e, whose who entry matched.
func (m *matcher) take(e *entry) {
	if better(e, m.best) {
		m.best = e
	}
	if m.keep {
		m.all = append(m.all, e)
	}
}

// consider takes the entries of b whose who entry matches the subject.
func (m *matcher) consider(b *bucket) {
	if b == nil {
		return
	}
	v := &m.v
	for _, e := range b.generic {
		switch e.w.kind {
		case whoAll:
			m.take(e)
		case whoAnonymous:
			if v.anon {
				m.take(e)
			}
		case whoAuthenticated:
			if !v.anon {
				m.take(e)
			}
		}
	}
	if v.anon {
		return
	}
	if v.cert {
		for _, e := range b.cert[v.name] {
			m.take(e)
		}
	} else {
		for _, e := range b.user[v.name] {
			m.take(e)
		}
	}
	if b.group != nil {
		for _, g := range v.groups {
			for _, e := range b.group[g] {
				m.take(e)
			}
		}
	}
}

// levelEnd returns the offset of the '/' ending the level starting at i,
// or len(s).
func levelEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '/'); j >= 0 {
		return i + j
	}
	return len(s)
}

// name walks the trie for a topic name t from node n, whose next level
// starts at i (i > len(t) when t is used up). root is set at the trie's
// root, where '+' and '#' never match a topic starting with '$'.
func (m *matcher) name(n *node, t string, i int, root bool) {
	blocked := root && t[0] == '$' // [MQTT-4.7.2-1]
	if !blocked {
		m.consider(n.hash)
	}
	if i > len(t) {
		m.consider(n.end)
		return
	}
	j := levelEnd(t, i)
	level := t[i:j]
	if c := n.lit[level]; c != nil {
		m.name(c, t, j+1, false)
	}
	if n.plus != nil && !blocked {
		m.name(n.plus, t, j+1, false)
	}
	for _, tc := range n.tmpls {
		if tc.t.match(level, &m.v) {
			m.name(tc.next, t, j+1, false)
		}
	}
}

// filter walks the trie for a topic filter f, keeping the patterns that
// cover it (topic.Covers): a '#' level of f is covered by '#' patterns
// only, a '+' level by '+' and '#'.
func (m *matcher) filter(n *node, f string, i int, root bool) {
	blocked := root && f[0] == '$' // [MQTT-4.7.2-1]
	if !blocked {
		m.consider(n.hash)
	}
	if i > len(f) {
		m.consider(n.end)
		return
	}
	j := levelEnd(f, i)
	level := f[i:j]
	switch level {
	case "#":
		return
	case "+":
		if n.plus != nil && !blocked {
			m.filter(n.plus, f, j+1, false)
		}
		return
	}
	if c := n.lit[level]; c != nil {
		m.filter(c, f, j+1, false)
	}
	if n.plus != nil && !blocked {
		m.filter(n.plus, f, j+1, false)
	}
	for _, tc := range n.tmpls {
		if tc.t.match(level, &m.v) {
			m.filter(tc.next, f, j+1, false)
		}
	}
}

// precheck validates r and applies the builtin rules. It returns the topic
// the trie is walked with (a shared filter's inner filter) or, when the
// request is decided already, decided set and the Result.
func precheck(r Request) (t string, res Result, decided bool) {
	if r.Action < Publish || r.Action > Retain {
		return "", Result{Rule: ruleBadAction}, true
	}
	if r.QoS > 2 {
		return "", Result{Rule: ruleBadQoS}, true
	}
	t = r.Topic
	if r.Action == Subscribe {
		if _, inner, ok, err := topic.ParseShared(t); ok {
			if err != nil {
				return "", Result{Rule: ruleBadTopic}, true
			}
			t = inner
		} else if topic.ValidateFilter(t, topic.Limits{}) != nil {
			return "", Result{Rule: ruleBadTopic}, true
		}
		return t, Result{}, false
	}
	if t == "" || len(t) > topic.MaxTopicLength || strings.ContainsAny(t, "+#\x00") {
		return "", Result{Rule: ruleBadTopic}, true
	}
	if r.Action == Publish || r.Action == Retain {
		if rule := brokerOnly(t); rule != "" {
			return "", Result{Rule: rule}, true
		}
	}
	return t, Result{}, false
}

// selectEntry returns the deciding entry for a prechecked request, nil
// when no rule matches.
func (p *Policy) selectEntry(v *view, a Action, t string) *entry {
	m := matcher{v: *v}
	p.walk(&m, a, t)
	return m.best
}

// walk runs m over the trie of action a for topic or filter t.
func (p *Policy) walk(m *matcher, a Action, t string) {
	if a == Subscribe {
		m.filter(p.trees[a-1], t, 0, true)
	} else {
		m.name(p.trees[a-1], t, 0, true)
	}
}

// outcome turns the deciding entry into the Result for r: a deny rule
// denies, an allow rule allows within its limits.
func outcome(e *entry, r Request) Result {
	switch {
	case e == nil:
		return Result{Rule: ruleNoMatch}
	case e.r.deny:
		return Result{Rule: e.r.label}
	}
	if r.Action == Publish || r.Action == Retain {
		if r.Topic[0] == '$' && !e.dollar {
			return Result{Rule: ruleDollar} // unreachable: such patterns cannot match
		}
		if r.QoS > e.r.maxQoS {
			return Result{Rule: e.r.qosDenied}
		}
		if e.r.maxPayload >= 0 && int64(r.Payload) > e.r.maxPayload {
			return Result{Rule: e.r.payloadDenied}
		}
	}
	return Result{Allowed: true, MaxQoS: e.r.maxQoS, Rule: e.r.label}
}

// Authorize implements Authorizer: the most specific matching rule
// decides, and nothing matching denies (see the package documentation).
// A nil Policy denies everything.
func (p *Policy) Authorize(s *Subject, r Request) Result {
	if p == nil {
		return Result{Rule: ruleNoPolicy}
	}
	t, res, decided := precheck(r)
	if decided {
		return res
	}
	v := makeView(s)
	return outcome(p.selectEntry(&v, r.Action, t), r)
}

// Explain answers like Authorize and also lists every rule that matched,
// most specific first, one line each, the deciding rule marked; for
// `moat acl check`. A request decided before any rule lists that reason.
func (p *Policy) Explain(s *Subject, r Request) (Result, []string) {
	if p == nil {
		return Result{Rule: ruleNoPolicy}, []string{ruleNoPolicy}
	}
	t, res, decided := precheck(r)
	if decided {
		return res, []string{res.Rule}
	}
	v := makeView(s)
	m := matcher{v: v, keep: true}
	p.walk(&m, r.Action, t)
	res = outcome(m.best, r)
	if len(m.all) == 0 {
		return res, []string{ruleNoMatch}
	}
	sort.SliceStable(m.all, func(i, j int) bool { return better(m.all[i], m.all[j]) })
	lines := make([]string, 0, len(m.all))
	for i, e := range m.all {
		line := fmt.Sprintf("%s %s: pattern %q, who %q (%s)", e.r.effect(), e.r.label, e.pattern, e.w.text, describeScore(e))
		if i == 0 {
			line += " <- decides: " + res.Rule
		}
		lines = append(lines, line)
	}
	return res, lines
}

// describeScore spells out an entry's specificity.
func describeScore(e *entry) string {
	lit := e.score >> 23
	hash := "no trailing #"
	if e.score&(1<<22) == 0 {
		hash = "trailing #"
	}
	plus := (1<<20 - 1) - (e.score>>2)&(1<<20-1)
	return fmt.Sprintf("%d literal levels, %s, %d '+' levels, who rank %d", lit, hash, plus, e.score&3)
}
