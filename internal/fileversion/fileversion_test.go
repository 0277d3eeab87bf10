package fileversion

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSame(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(p)
	b, _ := os.Stat(p)
	if !Same(a, b) || !Same(nil, nil) || Same(a, nil) || Same(nil, a) {
		t.Fatal("Same on equal or missing stats")
	}
	if err := os.WriteFile(p, []byte("three"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	c, _ := os.Stat(p)
	if Same(a, c) {
		t.Fatal("a rewritten file looks the same")
	}
	if !SameAll([]os.FileInfo{a, nil}, []os.FileInfo{b, nil}) || SameAll([]os.FileInfo{a}, []os.FileInfo{c}) || SameAll(nil, []os.FileInfo{a}) {
		t.Fatal("SameAll")
	}
}
