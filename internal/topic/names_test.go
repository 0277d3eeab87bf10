package topic

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Names.Match agrees with MatchFilter on random names and filters, after
// random sets and deletes.
func TestNamesMatchAgreesWithMatchFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "$SYS", "$x", "", "c"}
	randName := func() string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = words[r.IntN(len(words))]
		}
		return strings.Join(parts, "/")
	}
	randFilter := func() string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			switch k := r.IntN(5); {
			case k == 0:
				parts[i] = "+"
			case k == 1 && i == n-1:
				parts[i] = "#"
			default:
				parts[i] = words[r.IntN(len(words))]
			}
		}
		return strings.Join(parts, "/")
	}
	var idx Names[int]
	live := map[string]int{}
	for round := range 2000 {
		name := randName()
		if name == "" {
			continue // not a topic name (ValidateName refuses it)
		}
		if r.IntN(3) == 0 {
			idx.Delete(name)
			delete(live, name)
		} else {
			idx.Set(name, round)
			live[name] = round
		}
		if idx.Len() != len(live) {
			t.Fatalf("Len %d, want %d", idx.Len(), len(live))
		}
		f := randFilter()
		var got, want []string
		idx.Match(f, func(name string, v int) bool {
			if live[name] != v {
				t.Fatalf("%q: value %d, want %d", name, v, live[name])
			}
			got = append(got, name)
			return true
		})
		for name := range live {
			if MatchFilter(f, name) {
				want = append(want, name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("filter %q: got %q, want %q", f, got, want)
		}
	}
	// Deleting everything leaves no nodes behind.
	for name := range live {
		idx.Delete(name)
	}
	if idx.Len() != 0 || idx.root.childCount() != 0 {
		t.Fatalf("after deleting all: %d names, %d root children", idx.Len(), idx.root.childCount())
	}
}

// Match stops when fn says so.
func TestNamesMatchStops(t *testing.T) {
	var idx Names[int]
	for i := range 100 {
		idx.Set("a/"+strings.Repeat("x", i+1), i)
	}
	n := 0
	idx.Match("a/#", func(string, int) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("visited %d, want 10", n)
	}
}
