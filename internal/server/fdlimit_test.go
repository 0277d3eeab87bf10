package server

import (
	"strings"
	"testing"
)

func TestFDLimitWarning(t *testing.T) {
	if w := fdLimitWarning(1<<20, 100000); w != "" {
		t.Fatalf("warned with room to spare: %s", w)
	}
	if w := fdLimitWarning(100000+fdReserve, 100000); w != "" {
		t.Fatalf("warned at exactly enough: %s", w)
	}
	w := fdLimitWarning(20000, 100000)
	for _, want := range []string{"(20000)", "about 19744 client connections", "(100000)", "at least 100256", "LimitNOFILE"} {
		if !strings.Contains(w, want) {
			t.Fatalf("warning %q lacks %q", w, want)
		}
	}
	if w := fdLimitWarning(100, 100000); !strings.Contains(w, "about 0 client connections") {
		t.Fatalf("a limit below the reserve: %q", w)
	}
}
