package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/admin"
)

func TestAdminTokenCommands(t *testing.T) {
	dir := t.TempDir()
	run1 := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := capture(t, func() int { return run(append([]string{"admin", "token", "--data-dir", dir}, args...)) })
		if code != want {
			t.Fatalf("moat admin token %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
	out, _ := run1(0, "add", "grafana")
	token := strings.TrimSpace(out)
	tokens, err := admin.NewTokens(filepath.Join(dir, "admin-tokens"))
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := tokens.Check(token); !ok || name != "grafana" {
		t.Fatalf("the printed token does not check: %q %v", name, ok)
	}
	if _, ok := tokens.Check(token + "x"); ok {
		t.Fatal("a wrong token checks")
	}
	if _, errOut := run1(1, "add", "grafana"); !strings.Contains(errOut, "exists") {
		t.Errorf("duplicate: %s", errOut)
	}
	if _, errOut := run1(1, "add", "bad name"); !strings.Contains(errOut, "token name") {
		t.Errorf("bad name: %s", errOut)
	}
	if out, _ := run1(0, "list"); strings.TrimSpace(out) != "grafana" {
		t.Errorf("list: %q", out)
	}
	run1(0, "remove", "grafana")
	if _, ok := tokens.Check(token); ok {
		t.Fatal("a removed token still checks")
	}
	run1(1, "remove", "grafana")
	run1(2, "frobnicate")
}
