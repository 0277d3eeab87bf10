package acl

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/topic"
)

// refSelect is the package contract read literally: every rule, every who
// entry, every pattern with %u and %c substituted in one pass, matched with
// topic.MatchFilter or topic.Covers. It is slow and obviously right; the
// trie must agree with it.
func refSelect(p *Policy, s *Subject, a Action, t string) *entry {
	var best *entry
	for _, r := range p.rules {
		if !r.actions.has(a) {
			continue
		}
		for wi := range r.who {
			w := &r.who[wi]
			if !refWho(w, s) {
				continue
			}
			for pi, pat := range r.topics {
				f, ok := refSubstitute(pat, s)
				if !ok {
					continue
				}
				var m bool
				if a == Subscribe {
					m = topic.Covers(f, t)
				} else {
					m = topic.MatchFilter(f, t)
				}
				if !m {
					continue
				}
				e := &entry{r: r, w: w, pattern: pat, pi: pi, wi: wi,
					score: patternScore(pat) | w.kind.rank(), dollar: strings.HasPrefix(pat, "$")}
				if better(e, best) {
					best = e
				}
			}
		}
	}
	return best
}

func refWho(w *who, s *Subject) bool {
	var id *auth.Identity
	if s != nil {
		id = s.Identity
	}
	anon := id == nil || id.Anonymous
	switch w.kind {
	case whoAll:
		return true
	case whoAnonymous:
		return anon
	case whoAuthenticated:
		return !anon
	case whoUser:
		return !anon && id.Method != "certificate" && id.Name == w.name
	case whoCert:
		return !anon && id.Method == "certificate" && id.Name == w.name
	case whoGroup:
		return !anon && slices.Contains(id.Groups, w.name)
	}
	return false
}

// refSubstitute replaces %u and %c in one pass; ok is false when the
// pattern uses a value that may not be substituted.
func refSubstitute(pat string, s *Subject) (string, bool) {
	var name, client string
	anon := true
	if s != nil {
		client = s.ClientID
		if s.Identity != nil {
			name, anon = s.Identity.Name, s.Identity.Anonymous
		}
	}
	bad := func(v string) bool {
		return v == "" || strings.HasPrefix(v, "$") || strings.ContainsAny(v, "+#/\x00")
	}
	if strings.Contains(pat, "%u") && (anon || bad(name)) {
		return "", false
	}
	if strings.Contains(pat, "%c") && bad(client) {
		return "", false
	}
	return strings.NewReplacer("%u", name, "%c", client).Replace(pat), true
}

func refAuthorize(p *Policy, s *Subject, r Request) Result {
	t, res, decided := precheck(r)
	if decided {
		return res
	}
	return outcome(refSelect(p, s, r.Action, t), r)
}

var (
	patternLevels = []string{"a", "b", "$s", "%u", "%c", "t-%u", "%u%c", "x%cy", "+", "+", "#", "%"}
	topicLevels   = []string{"a", "b", "$s", "alice", "t-alice", "c1", "alicec1", "", "x%c", "%u", "bob", "xc1y", "x%cy", "%"}
	whoEntries    = []string{"all", "anonymous", "authenticated", "user:alice", "user:bob", "group:g1", "group:g2", "cert:alice", "user:#", "user:x%c"}
	actionWords   = []string{"publish", "subscribe", "receive", "retain", "all"}
)

func refSubjects() []*Subject {
	return []*Subject{
		user("alice", "g1"), withClient(user("alice"), "c1"), withClient(user("bob", "g1", "g2"), "c1"),
		certSubject("alice"), withClient(certSubject("alice"), "c1"), anonymous("c1"), anonymous(""), nil,
		withClient(user("#"), "+"), withClient(user("x%c"), "c1"), withClient(user("%u"), "%u"),
		withClient(user("$s"), "$s"), {ClientID: "alice"}, withClient(user("alice", "g2"), "a/b"),
	}
}

// randomPattern returns a valid pattern of 1..4 levels.
func randomPattern(rng *rand.Rand) string {
	n := 1 + rng.IntN(4)
	levels := make([]string, 0, n)
	for i := range n {
		l := patternLevels[rng.IntN(len(patternLevels))]
		if l == "#" && i != n-1 {
			l = "+"
		}
		levels = append(levels, l)
	}
	return strings.Join(levels, "/")
}

// randomTopic returns a topic name, or a filter when filter is set.
func randomTopic(rng *rand.Rand, filter bool) string {
	n := 1 + rng.IntN(4)
	levels := make([]string, 0, n)
	for i := range n {
		l := topicLevels[rng.IntN(len(topicLevels))]
		if filter && rng.IntN(4) == 0 {
			l = "+"
			if i == n-1 && rng.IntN(2) == 0 {
				l = "#"
			}
		}
		levels = append(levels, l)
	}
	t := strings.Join(levels, "/")
	if filter && rng.IntN(8) == 0 {
		t = "$share/g/" + t
	}
	return t
}

// pick returns 1..max distinct entries of list.
func pick(rng *rand.Rand, list []string, max int) []string {
	var out []string
	for range 1 + rng.IntN(max) {
		s := list[rng.IntN(len(list))]
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// randomPolicy writes a random valid policy in YAML.
func randomPolicy(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString(rulesHead)
	for range 1 + rng.IntN(12) {
		effect := "allow"
		if rng.IntN(3) == 0 {
			effect = "deny"
		}
		actions := pick(rng, actionWords[:4], 3)
		if rng.IntN(6) == 0 {
			actions = []string{"all"}
		}
		fmt.Fprintf(&b, "  - {%s: [%s], who: %s, topics: %s", effect, strings.Join(actions, ", "),
			quoteList(pick(rng, whoEntries, 2)), quoteList(pick(rng, three(randomPattern, rng), 3)))
		if effect == "allow" && rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ", max_qos: %d", rng.IntN(3))
		}
		if effect == "allow" && (slices.Contains(actions, "publish") || slices.Contains(actions, "all")) && rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ", max_payload: %d", rng.IntN(20))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// three returns three values of gen.
func three(gen func(*rand.Rand) string, rng *rand.Rand) []string {
	return []string{gen(rng), gen(rng), gen(rng)}
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestAgainstReference compares Authorize, Cached and the reference on
// random policies and requests.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	subjects := refSubjects()
	policies, requests := 400, 300
	var kinds [4]int // requests, allowed, denied by a rule, default deny
	if testing.Short() {
		policies = 50
	}
	for pi := range policies {
		src := randomPolicy(rng)
		p, err := ParsePolicy([]byte(src), "random.yaml")
		if err != nil {
			t.Fatalf("random policy %d does not parse: %v\n%s", pi, err, src)
		}
		c := NewCached(p, 64)
		for range requests {
			kinds[0]++
			a := Action(1 + rng.IntN(4))
			s := subjects[rng.IntN(len(subjects))]
			tp := randomTopic(rng, a == Subscribe)
			if rng.IntN(2) == 0 {
				tp = topicFor(rng, p, s, a == Subscribe)
			}
			r := Request{Action: a, Topic: tp, QoS: byte(rng.IntN(3)), Payload: rng.IntN(25)}
			want := refAuthorize(p, s, r)
			got := p.Authorize(s, r)
			cached := c.Authorize(s, r)
			if got != want || cached != want {
				t.Fatalf("policy:\n%s\nsubject %+v %+v, request %+v:\ntrie   %+v\ncached %+v\nwant   %+v",
					src, s, identityOf(s), r, got, cached, want)
			}
			switch {
			case got.Allowed:
				kinds[1]++
			case strings.HasPrefix(got.Rule, "rules["):
				kinds[2]++
			case got.Rule == ruleNoMatch:
				kinds[3]++
			}
		}
	}
	t.Logf("requests, allowed, denied by a rule, default deny: %v", kinds)
	for _, n := range kinds[1:] {
		if n < kinds[0]/50 {
			t.Errorf("the random cases are lopsided: %v", kinds)
		}
	}
}

// topicFor makes a topic, or a filter, likely to match a pattern of p
// for s: a pattern with s's values substituted and its wildcards replaced
// at random.
func topicFor(rng *rand.Rand, p *Policy, s *Subject, filter bool) string {
	r := p.rules[rng.IntN(len(p.rules))]
	pat := r.topics[rng.IntN(len(r.topics))]
	var name, client string
	if s != nil {
		client = s.ClientID
		if s.Identity != nil {
			name = s.Identity.Name
		}
	}
	var levels []string
	for l := range strings.SplitSeq(strings.NewReplacer("%u", name, "%c", client).Replace(pat), "/") {
		switch {
		case l == "#" && (!filter || rng.IntN(2) == 0):
			if rng.IntN(3) != 0 {
				levels = append(levels, topicLevels[rng.IntN(len(topicLevels))])
			}
		case l == "+" && (!filter || rng.IntN(2) == 0):
			levels = append(levels, topicLevels[rng.IntN(len(topicLevels))])
		default:
			levels = append(levels, l)
		}
	}
	t := strings.Join(levels, "/")
	if t == "" {
		t = "a"
	}
	return t
}

func identityOf(s *Subject) any {
	if s == nil || s.Identity == nil {
		return nil
	}
	return *s.Identity
}

// fuzzPolicy exercises every level and who kind.
const fuzzPolicy = rulesHead + `
  - {allow: [all], who: [authenticated], topics: ["%u/#", "d/%u/+", "t-%u/x", "c/%c/#", "x%cy/%u", "$s/%u"]}
  - {deny: [publish], who: ["group:g"], topics: ["d/+/cmd", "#"]}
  - {allow: [subscribe, receive], who: [all], topics: ["+/p/#", "$SYS/#"], max_qos: 1}
  - {allow: [publish], who: ["cert:dev"], topics: ["$s/#"], max_payload: 10}
  - {deny: [all], who: [anonymous], topics: ["+/p/secret"]}
`

// FuzzAuthorize checks the trie against the reference for hostile names,
// client identifiers and topics.
func FuzzAuthorize(f *testing.F) {
	p, err := ParsePolicy([]byte(fuzzPolicy), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"alice", "#", "+", "a/#", "$SYS", "", "ü/x", "a\x00b", "%c", "x%u"} {
		f.Add(s, s, "alice/x", uint8(Subscribe), false, false)
		f.Add("alice", s, s+"/p/q", uint8(Receive), true, false)
		f.Add(s, "c1", "$share/g/d/"+s+"/#", uint8(Subscribe), false, true)
	}
	f.Fuzz(func(t *testing.T, name, client, tp string, action uint8, cert, inGroup bool) {
		id := &auth.Identity{Name: name, Method: "password"}
		if cert {
			id.Method = certMethod
		}
		if inGroup {
			id.Groups = []string{"g"}
		}
		s := &Subject{ClientID: client, Identity: id}
		r := Request{Action: Action(action % 6), Topic: tp, QoS: action % 3, Payload: int(action)}
		want := refAuthorize(p, s, r)
		if got := p.Authorize(s, r); got != want {
			t.Fatalf("%q %q %+v: got %+v, want %+v", name, client, r, got, want)
		}
	})
}
