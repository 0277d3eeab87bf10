package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// matchCases are the examples of MQTT 5 section 4.7 and the edge cases of
// empty levels and '$' topics.
var matchCases = []struct {
	filter, topic string
	want          bool
}{
	// 4.7.1.2: multi-level wildcard.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/tennis/player1/#", "sport/tennis", false},
	{"sport/#", "sport", true}, // [MQTT-4.7.1-1]: '#' includes the parent level
	{"sport/#", "sport/", true},
	{"sport/#", "sports", false},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	// 4.7.1.3: single-level wildcard.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+", "sport", true},
	{"+", "/finance", false},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+/tennis/#", "sport/tennis/player1", true},
	{"+/tennis/#", "sport/tennis", true},
	{"sport/+/player1", "sport/tennis/player1", true},
	{"sport/+/player1", "sport//player1", true},
	{"+/+/+", "a/b", false},
	// 4.7.2: topics beginning with '$' [MQTT-4.7.2-1].
	{"#", "$SYS/monitor/Clients", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"+", "$SYS", false},
	{"a/+", "a/$b", true}, // only the first character of the topic counts
	{"#", "a/$b", true},
	// 4.7.3: case-sensitive, no normalization, empty levels.
	{"ACCOUNTS", "Accounts", false},
	{"Accounts payable", "Accounts payable", true},
	{"/finance", "/finance", true},
	{"/finance", "finance", false},
	{"a//b", "a//b", true},
	{"a//b", "a/b", false},
	{"a/+/b", "a//b", true},
	{"a/", "a/", true},
	{"a/", "a", false},
	{"a", "a/", false},
	{"/", "/", true},
	{"+/+", "/", true},
	{"+", "/", false},
	// Nothing matches an empty topic, and an empty filter matches nothing.
	{"#", "", false},
	{"", "", false},
	{"", "a", false},
	// A topic's '+' or '#' is an ordinary character.
	{"a/+", "a/#", true},
	{"a/b", "a/+", false},
	// Invalid filters: defined, consistent with Tree, rarely matching.
	{"a/#/b", "a/x/b", false},
	{"a/#/b", "a", false},
	{"a+", "a+", true},
	{"a#", "a#", true},
}

func TestMatchFilter(t *testing.T) {
	for _, tt := range matchCases {
		if got := MatchFilter(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

// TestTreeMatchCases runs the same cases through a Tree, with and without
// cache, as a plain and as a shared subscription.
func TestTreeMatchCases(t *testing.T) {
	for _, cacheSize := range []int{0, 16} {
		for _, tt := range matchCases {
			tr := NewTree[int](cacheSize)
			tr.Add(tt.filter, "c", 1)
			if tt.filter != "" {
				tr.Add("$share/g/"+tt.filter, "s", 2)
			}
			for range 2 { // the second round hits the cache
				m := tr.Match(tt.topic)
				if got := len(m.Entries) == 1; got != tt.want {
					t.Errorf("cache %d: Tree{%q}.Match(%q) = %v, want %v", cacheSize, tt.filter, tt.topic, m.Entries, tt.want)
				}
				if tt.filter == "" {
					continue
				}
				if got := len(m.Groups) == 1; got != tt.want {
					t.Errorf("cache %d: Tree{$share/g/%s}.Match(%q) groups = %d, want match %v", cacheSize, tt.filter, tt.topic, len(m.Groups), tt.want)
				}
			}
		}
	}
}

func TestMatchFilterAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		MatchFilter("sport/+/player1/#", "sport/tennis/player1/score/wimbledon")
	})
	if n != 0 {
		t.Fatalf("MatchFilter allocates %v times", n)
	}
}

// Random filters and topics over a small alphabet, so that they collide.
var (
	filterLevels = []string{"a", "b", "", "$x", "+", "+", "#"}
	topicLevels  = []string{"a", "b", "", "$x", "c"}
)

func randomFilter(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	levels := make([]string, n)
	for i := range levels {
		l := filterLevels[r.IntN(len(filterLevels))]
		if l == "#" && i != n-1 {
			l = "+"
		}
		levels[i] = l
	}
	if f := strings.Join(levels, "/"); f != "" {
		return f
	}
	return "/"
}

func randomTopic(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	levels := make([]string, n)
	for i := range levels {
		levels[i] = topicLevels[r.IntN(len(topicLevels))]
	}
	if tp := strings.Join(levels, "/"); tp != "" {
		return tp
	}
	return "//"
}

// sub is one subscription of a property test, as the tree should hold it.
type sub struct{ filter, group, key string }

// expected lists what Match(topic) must return according to MatchFilter:
// non-shared "key filter" pairs and shared "group filter" pairs, sorted.
func expected(subs map[sub]int, topic string) (entries, groups []string) {
	seen := map[string]bool{}
	for s := range subs {
		if !MatchFilter(s.filter, topic) {
			continue
		}
		if s.group == "" {
			entries = append(entries, s.key+" "+s.filter)
		} else if id := s.group + " " + s.filter; !seen[id] {
			seen[id] = true
			groups = append(groups, id)
		}
	}
	slices.Sort(entries)
	slices.Sort(groups)
	return entries, groups
}

func got(m *Matches[int]) (entries, groups []string) {
	for _, e := range m.Entries {
		entries = append(entries, e.Key+" "+e.Filter)
	}
	for _, g := range m.Groups {
		groups = append(groups, g.Name+" "+g.Filter)
	}
	slices.Sort(entries)
	slices.Sort(groups)
	return entries, groups
}

// TestTreeAgainstMatchFilter cross-checks Tree.Match against MatchFilter
// over random subscriptions, topics and removals, with a fixed seed.
func TestTreeAgainstMatchFilter(t *testing.T) {
	for _, cacheSize := range []int{0, 8, 1000} {
		t.Run(fmt.Sprint("cache", cacheSize), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(cacheSize)))
			tr := NewTree[int](cacheSize)
			subs := map[sub]int{}
			for step := range 3000 {
				s := sub{filter: randomFilter(r), key: fmt.Sprint("k", r.IntN(6))}
				if r.IntN(4) == 0 {
					s.group = fmt.Sprint("g", r.IntN(2))
				}
				full := s.filter
				if s.group != "" {
					full = "$share/" + s.group + "/" + s.filter
				}
				if err := ValidateFilter(full, Limits{}); err != nil {
					t.Fatalf("random filter %q invalid: %v", full, err)
				}
				if r.IntN(3) == 0 {
					_, had := subs[s]
					if removed := tr.Remove(full, s.key); removed != had {
						t.Fatalf("Remove(%q, %q) = %v, want %v", full, s.key, removed, had)
					}
					delete(subs, s)
				} else {
					_, had := subs[s]
					if added := tr.Add(full, s.key, step); added == had {
						t.Fatalf("Add(%q, %q) = %v, want %v", full, s.key, added, !had)
					}
					subs[s] = step
				}
				if tr.Len() != len(subs) {
					t.Fatalf("Len() = %d, want %d", tr.Len(), len(subs))
				}
				for range 3 {
					topic := randomTopic(r)
					we, wg := expected(subs, topic)
					ge, gg := got(tr.Match(topic))
					if !slices.Equal(we, ge) || !slices.Equal(wg, gg) {
						t.Fatalf("step %d: Match(%q) = %q %q, want %q %q", step, topic, ge, gg, we, wg)
					}
				}
			}
			// Values: the latest Add wins.
			tr.Walk(func(filter, group, key string, v int) bool {
				if want := subs[sub{filter, group, key}]; v != want {
					t.Errorf("Walk: %s %s %s = %d, want %d", filter, group, key, v, want)
				}
				return true
			})
			for s := range subs {
				full := s.filter
				if s.group != "" {
					full = "$share/" + s.group + "/" + s.filter
				}
				if !tr.Remove(full, s.key) {
					t.Fatalf("Remove(%q, %q) = false", full, s.key)
				}
			}
			if n := tr.nodeCount(); n != 0 || tr.Len() != 0 {
				t.Fatalf("after removing all: %d nodes, Len %d", n, tr.Len())
			}
		})
	}
}
