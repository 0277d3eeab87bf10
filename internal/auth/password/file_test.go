package password

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyHash returns a cheap argon2id hash of pw, for fixtures.
func tinyHash(t testing.TB, pw string) string {
	t.Helper()
	enc, err := hashArgon2id([]byte(pw), tinyParams)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestParseErrorsNameLines(t *testing.T) {
	h := tinyHash(t, "x")
	content := strings.Join([]string{
		"# users",                  // 1
		"alice:" + h,               // 2
		"",                         // 3
		"no-colon-here",            // 4
		":" + h,                    // 5
		"bad\x01name:" + h,         // 6
		"carol:plaintext",          // 7
		"alice:" + h,               // 8
		"dave:" + h + ":ops,,dev",  // 9
		"erin:" + h + ":a:b",       // 10
		"#frank:" + h,              // 11: a comment, not a user
		" gina:" + h,               // 12
		"harry:" + h + ":ops, dev", // 13: fine
		"# caf\xe9 (Latin-1)",      // 14: a comment, kept verbatim
		"caf\xe9:" + h,             // 15
	}, "\n")
	_, err := Parse("users.passwd", []byte(content))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		"users.passwd:4: want user:hash",
		"users.passwd:5: empty user name",
		"users.passwd:6: user name \"bad\\x01name\" contains a control character",
		"users.passwd:7: user \"carol\": unknown hash format",
		"users.passwd:8: duplicate user \"alice\" (first on line 2)",
		"users.passwd:9: user \"dave\": empty group name",
		"users.passwd:10: user \"erin\": field 4 is not a SCRAM credential (a group name cannot contain ':')",
		"users.passwd:12: user name \" gina\" has leading or trailing space",
		"users.passwd:15: user name is not valid UTF-8",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, notWant := range []string{"users.passwd:1:", "users.passwd:2:", "users.passwd:3:", "users.passwd:11:", "users.passwd:13:", "users.passwd:14:"} {
		if strings.Contains(msg, notWant) {
			t.Errorf("error names a good line %q:\n%s", notWant, msg)
		}
	}
}

func TestParseGroupsCommentsRoundTrip(t *testing.T) {
	h1, h2 := tinyHash(t, "one"), tinyHash(t, "two")
	content := "# a comment\n\nalice:" + h1 + ":ops, sensors,ops\r\nbob:" + h2 + "\n"
	f, err := Parse("p", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	users := f.Users()
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" {
		t.Fatalf("users %+v", users)
	}
	if !slices.Equal(users[0].Groups, []string{"ops", "sensors"}) || users[1].Groups != nil {
		t.Errorf("groups %v, %v", users[0].Groups, users[1].Groups)
	}
	if users[0].Scheme != Argon2id || users[0].Legacy {
		t.Errorf("alice: %+v", users[0])
	}
	want := "# a comment\n\nalice:" + h1 + ":ops,sensors\nbob:" + h2 + "\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("Bytes:\n%s\nwant:\n%s", got, want)
	}
}

func TestSetDelete(t *testing.T) {
	f := NewFile()
	h1, h2 := tinyHash(t, "one"), tinyHash(t, "two")
	for _, bad := range []string{"", "a:b", "#a", "a\nb", " a"} {
		if err := f.Set(bad, h1); err == nil {
			t.Errorf("Set(%q) succeeded", bad)
		}
	}
	if err := f.Set("alice", "plaintext"); err == nil {
		t.Error("Set accepted a plaintext password")
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := f.Set(u, h1); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetGroups("bob", []string{"ops", "dev"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetGroups("nobody", nil); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("SetGroups(nobody) = %v", err)
	}
	if err := f.SetGroups("bob", []string{"a,b"}); err == nil {
		t.Error("SetGroups accepted a group with ','")
	}
	if err := f.Set("bob", h2); err != nil {
		t.Fatal(err)
	}
	if enc, _ := f.Lookup("bob"); enc != h2 {
		t.Error("Set did not replace bob's hash")
	}
	if !f.Delete("alice") || f.Delete("alice") {
		t.Error("Delete(alice) twice did not report true then false")
	}
	if enc, ok := f.Lookup("carol"); !ok || enc != h1 {
		t.Error("carol lost after deleting alice")
	}
	want := "bob:" + h2 + ":ops,dev\ncarol:" + h1 + "\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("Bytes:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoadWarnsAboutMode(t *testing.T) {
	dir := t.TempDir()
	content := []byte("alice:" + tinyHash(t, "x") + "\n")
	private := filepath.Join(dir, "private")
	public := filepath.Join(dir, "public")
	if err := os.WriteFile(private, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(public, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(private)
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Warnings(); len(w) != 0 {
		t.Errorf("0600 file warned: %v", w)
	}
	f, err = Load(public)
	if err != nil {
		t.Fatal(err)
	}
	if w := f.Warnings(); len(w) != 1 || !strings.Contains(w[0], "0644") {
		t.Errorf("0644 file warnings %v; want one naming the mode", w)
	}
	if _, err := Load(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(absent) = %v", err)
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load(directory) succeeded")
	}
}

func TestSaveIsAtomicAnd0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	if err := os.WriteFile(path, []byte("# old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f := NewFile()
	if err := f.Set("alice", tinyHash(t, "x")); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("saved file mode %04o, want 0600", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after Save; temporary file left behind?", len(entries))
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Warnings()) != 0 || g.Len() != 1 {
		t.Errorf("reloaded: %d users, warnings %v", g.Len(), g.Warnings())
	}
	if err := f.Save(filepath.Join(dir, "missing-dir", "passwd")); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}
