package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBanCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ban := func(want int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := capture(t, func() int { return run(append([]string{"ban", "--data-dir", dir}, args...)) })
		if code != want {
			t.Fatalf("moat ban %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout, stderr
	}
	if out, _ := ban(0, "list"); !strings.Contains(out, "no active bans") {
		t.Fatalf("empty list: %q", out)
	}
	ban(0, "add", "203.0.113.7", "--for", "2h", "--reason", "scanner")
	ban(0, "add", "2001:db8::/48")
	ban(0, "add", "user:mallory")
	out, _ := ban(0, "list")
	for _, want := range []string{"203.0.113.7", "scanner", "2001:db8::/48", "user:mallory", "TARGET"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "bans.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bans.json: %v %v", st, err)
	}
	ban(0, "remove", "203.0.113.7")
	if out, _ := ban(0, "list"); strings.Contains(out, "203.0.113.7") {
		t.Errorf("removed ban still listed:\n%s", out)
	}
	if _, errOut := ban(1, "remove", "203.0.113.7"); !strings.Contains(errOut, "not banned") {
		t.Errorf("second remove: %q", errOut)
	}
	if _, errOut := ban(1, "add", "not-an-address"); !strings.Contains(errOut, "not an IP, a CIDR or user:NAME") {
		t.Errorf("bad target: %q", errOut)
	}
	ban(2, "frobnicate")
	ban(2, "add")
	ban(2)
	// A corrupt bans file is reported, not overwritten.
	if err := os.WriteFile(filepath.Join(dir, "bans.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut := ban(1, "list"); !strings.Contains(errOut, "bans.json") {
		t.Errorf("corrupt file: %q", errOut)
	}
}
