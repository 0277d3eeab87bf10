package topic

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		grant, filter string
		want          bool
	}{
		{"#", "a/b", true},
		{"#", "#", true},
		{"#", "$SYS/x", false},
		{"+/#", "$SYS/#", false},
		{"$SYS/#", "$SYS/broker/+", true},
		{"a/#", "a", true},
		{"a/#", "a/b/+", true},
		{"a/#", "a/#", true},
		{"a/#", "b/#", false},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/b", "a/+", false},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"+", "#", false},
		{"+/x", "b/x", true},
		{"+/x", "+/x", true},
		{"a/+/c", "a/+/c", true},
		{"a//c", "a//c", true},
		{"a/+/c", "a//c", true},
		{"", "a", false},
		{"a", "", false},
	} {
		if got := Covers(tc.grant, tc.filter); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.grant, tc.filter, got, tc.want)
		}
	}
}

// Covers agrees with MatchFilter: when grant covers filter, every topic the
// filter matches is matched by grant; when it does not, some topic proves it.
func TestCoversAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "$s", "+", "#", ""}
	gen := func(wild bool) string {
		n := 1 + r.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			l := levels[r.IntN(len(levels))]
			if !wild && (l == "+" || l == "#") {
				l = "a"
			}
			if l == "#" && i != n-1 {
				l = "b"
			}
			if l == "$s" && i != 0 {
				l = "a"
			}
			parts[i] = l
		}
		return strings.Join(parts, "/")
	}
	for range 20000 {
		g, f := gen(true), gen(true)
		covers := Covers(g, f)
		counter := ""
		for range 200 {
			tp := gen(false)
			if MatchFilter(f, tp) && !MatchFilter(g, tp) {
				counter = tp
				break
			}
		}
		if covers && counter != "" {
			t.Fatalf("Covers(%q, %q) but %q matches the filter and not the grant", g, f, counter)
		}
	}
}
