package didyoumean

import (
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	known := []string{"address", "allow", "deny", "topics"}
	for _, tc := range []struct{ word, want string }{
		{"adress", ` (did you mean "address"?)`},
		{"Topic", ` (did you mean "topics"?)`},
		{"alow", ` (did you mean "allow"?)`},
		{"frobnicate", ""},
		{strings.Repeat("x", 1<<20), ""},
	} {
		if got := Suggest(tc.word, known); got != tc.want {
			t.Errorf("Suggest(%.10q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
