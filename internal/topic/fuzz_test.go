package topic

import (
	"errors"
	"strings"
	"testing"
)

func seedFilters(f *testing.F) {
	for _, tt := range matchCases {
		f.Add(tt.filter, tt.topic)
	}
	for _, s := range []string{"$share/g/a/+", "$share//a", "$share/g", "$share/g/", "$share/a+/b",
		"a/\x00", "+#", "a/#/b", "#/", "//", "\xff/+", "$share/g/$share/h/#"} {
		f.Add(s, "a/b")
	}
}

// FuzzValidateFilter checks that the validators never panic and agree with
// each other: outside "$share/", a valid name is a valid filter without
// wildcards; a valid filter's errors and parts are consistent.
func FuzzValidateFilter(f *testing.F) {
	seedFilters(f)
	f.Fuzz(func(t *testing.T, filter, _ string) {
		ferr := ValidateFilter(filter, Limits{})
		nerr := ValidateName(filter, Limits{})
		for _, err := range []error{ferr, nerr} {
			var te *Error
			if err != nil && (!errors.As(err, &te) || te.Offset < 0 || te.Offset > len(filter) || te.Error() == "") {
				t.Fatalf("%q: bad error %#v", filter, err)
			}
		}
		group, inner, shared, perr := ParseShared(filter)
		if shared != strings.HasPrefix(filter, sharePrefix) {
			t.Fatalf("%q: ParseShared ok = %v", filter, shared)
		}
		if !shared {
			if (nerr == nil) != (ferr == nil && !HasWildcard(filter)) {
				t.Fatalf("%q: ValidateName %v, ValidateFilter %v", filter, nerr, ferr)
			}
			if ferr == nil && !HasWildcard(filter) && !MatchFilter(filter, filter) {
				t.Fatalf("%q: a valid literal filter does not match itself", filter)
			}
			return
		}
		// ParseShared applies no Limits: compare with ValidateFilter under
		// the most permissive ones (control characters allowed).
		if lerr := ValidateFilter(filter, Limits{AllowControl: true}); (perr == nil) != (lerr == nil) {
			t.Fatalf("%q: ParseShared %v, ValidateFilter %v", filter, perr, lerr)
		}
		if perr == nil {
			if sharePrefix+group+"/"+inner != filter || group == "" || strings.ContainsAny(group, "/+#") {
				t.Fatalf("%q: ParseShared = %q, %q", filter, group, inner)
			}
			if err := ValidateFilter(inner, Limits{AllowControl: true}); err != nil {
				t.Fatalf("%q: inner %q invalid: %v", filter, inner, err)
			}
		}
	})
}

// FuzzMatchFilter checks that MatchFilter never panics and that a Tree
// holding filter (as given, valid or not) agrees with it on topic.
func FuzzMatchFilter(f *testing.F) {
	seedFilters(f)
	f.Fuzz(func(t *testing.T, filter, topic string) {
		want := MatchFilter(filter, topic)
		_, inner, shared := treeFilter(filter)
		if shared {
			want = MatchFilter(inner, topic)
		}
		for _, cacheSize := range []int{0, 4} {
			tr := NewTree[int](cacheSize)
			tr.Add(filter, "k", 1)
			for range 2 {
				m := tr.Match(topic)
				got := len(m.Entries)+len(m.Groups) > 0
				if got != want {
					t.Fatalf("Tree{%q}.Match(%q) = %v, MatchFilter says %v", filter, topic, got, want)
				}
			}
			if !tr.Remove(filter, "k") || tr.nodeCount() != 0 {
				t.Fatalf("%q: Remove failed or left %d nodes", filter, tr.nodeCount())
			}
		}
		if ValidateName(topic, Limits{}) == nil && ValidateFilter(filter, Limits{}) == nil && !shared &&
			!HasWildcard(filter) && want != (filter == topic) {
			t.Fatalf("literal filter %q vs topic %q: MatchFilter = %v", filter, topic, want)
		}
	})
}
