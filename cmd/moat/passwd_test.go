package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/auth/password"
)

// withStdin runs f with os.Stdin reading input from a pipe.
func withStdin(t *testing.T, input string, f func() int) int {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(input); err != nil {
		t.Fatal(err)
	}
	w.Close()
	saved := os.Stdin
	os.Stdin = r
	defer func() {
		os.Stdin = saved
		r.Close()
	}()
	return f()
}

// passwdRun runs "moat passwd args..." with input on stdin and returns
// the exit code and output. Cheap argon2id parameters keep it fast.
func passwdRun(t *testing.T, input string, args ...string) (int, string, string) {
	t.Helper()
	full := append([]string{"passwd", "--memory", "19456", "--time", "2", "--threads", "1"}, args...)
	var code int
	var stdout, stderr string
	withStdin(t, input, func() int {
		code, stdout, stderr = capture(t, func() int { return run(full) })
		return code
	})
	return code, stdout, stderr
}

func TestPasswdLifecycle(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	const secret = "s3cret pässword"

	// The file must exist unless --create is given.
	if code, _, stderr := passwdRun(t, secret+"\n", file, "add", "alice"); code != 1 || !strings.Contains(stderr, "--create") {
		t.Fatalf("add without --create: %d %q", code, stderr)
	}
	code, stdout, stderr := passwdRun(t, secret+"\n", "--create", file, "add", "alice", "--groups", "ops,dev")
	if code != 0 {
		t.Fatalf("add: %d %q", code, stderr)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Fatal("the password was printed")
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("created file mode %04o, want 0600", st.Mode().Perm())
	}
	if code, _, stderr := passwdRun(t, "other\r\n", file, "add", "bob"); code != 0 {
		t.Fatalf("add bob: %d %q", code, stderr)
	}

	f, err := password.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := f.Lookup("alice")
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("alice's hash %q does not carry the flags' parameters", enc)
	}
	if ok, _, _ := password.Verify(enc, []byte(secret)); !ok {
		t.Error("alice's stored hash does not verify")
	}
	bob, _ := f.Lookup("bob")
	if ok, _, _ := password.Verify(bob, []byte("other")); !ok {
		t.Error("bob's password kept its \\r")
	}

	if code, stdout, _ := passwdRun(t, secret+"\n", file, "verify", "alice"); code != 0 || !strings.Contains(stdout, "matches") {
		t.Errorf("verify right: %d %q", code, stdout)
	}
	if code, stdout, _ := passwdRun(t, "wrong\n", file, "verify", "alice"); code != 1 || !strings.Contains(stdout, "does not match") {
		t.Errorf("verify wrong: %d %q", code, stdout)
	}
	if code, _, stderr := passwdRun(t, secret+"\n", file, "verify", "nobody"); code != 1 || !strings.Contains(stderr, "no such user") {
		t.Errorf("verify unknown: %d %q", code, stderr)
	}

	code, stdout, _ = passwdRun(t, "", file, "list")
	if code != 0 {
		t.Fatalf("list: %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "USER") ||
		strings.Join(strings.Fields(lines[1]), " ") != "alice argon2id no - ops,dev" ||
		strings.Join(strings.Fields(lines[2]), " ") != "bob argon2id no -" {
		t.Errorf("list:\n%s", stdout)
	}
	if strings.Contains(stdout, "$argon2id") {
		t.Error("list printed a hash")
	}

	// Changing the password keeps the groups; --groups "" clears them.
	if code, _, _ := passwdRun(t, "new\n", file, "add", "alice"); code != 0 {
		t.Fatal("re-add failed")
	}
	f, _ = password.Load(file)
	if u := f.Users()[0]; u.Name != "alice" || strings.Join(u.Groups, ",") != "ops,dev" {
		t.Errorf("after re-add: %+v", u)
	}
	if code, _, _ := passwdRun(t, "new\n", file, "add", "alice", "--groups="); code != 0 {
		t.Fatal("re-add with --groups= failed")
	}
	f, _ = password.Load(file)
	if u := f.Users()[0]; len(u.Groups) != 0 {
		t.Errorf("groups not cleared: %+v", u)
	}

	if code, _, _ := passwdRun(t, "", file, "delete", "alice"); code != 0 {
		t.Fatal("delete failed")
	}
	if code, _, _ := passwdRun(t, "", file, "delete", "alice"); code != 1 {
		t.Error("deleting a missing user succeeded")
	}
	f, _ = password.Load(file)
	if f.Len() != 1 {
		t.Errorf("%d users left, want 1", f.Len())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory; a temporary file was left behind", len(entries))
	}
}

func TestPasswdMosquittoFile(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "internal", "auth", "password", "testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := passwdRun(t, "", file, "list")
	if code != 0 || !strings.Contains(stdout, "pbkdf2-sha512") || !strings.Contains(stdout, "sha512") || !strings.Contains(stdout, "yes") {
		t.Errorf("list of a Mosquitto file: %d\n%s", code, stdout)
	}
	code, stdout, stderr := passwdRun(t, "alice-secret\n", file, "verify", "alice")
	if code != 0 || !strings.Contains(stdout, "matches") || !strings.Contains(stderr, "legacy") {
		t.Errorf("verify of a $7$ hash: %d %q %q", code, stdout, stderr)
	}
}

func TestPasswdErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	cases := []struct {
		name  string
		input string
		args  []string
		code  int
		want  string
	}{
		{"no args", "", nil, 2, "Usage"},
		{"no command", "", []string{file}, 2, "Usage"},
		{"unknown command", "", []string{file, "frobnicate", "x"}, 2, "unknown command"},
		{"add without user", "", []string{file, "add"}, 2, "one USER"},
		{"list with user", "", []string{file, "list", "x"}, 2, "no argument"},
		{"bad flag", "", []string{"--nope", file, "list"}, 2, "nope"},
		{"memory below floor", "pw\n", []string{"--create", "--memory", "1024", file, "add", "a"}, 1, "below the minimum"},
		{"bad memory", "pw\n", []string{"--memory", "lots", file, "add", "a"}, 2, "integer"},
		{"threads overflow", "pw\n", []string{"--threads", "256", file, "add", "a"}, 2, "integer"},
		{"bad user name", "pw\n", []string{"--create", file, "add", "a:b"}, 1, "':'"},
		{"empty password", "\n", []string{"--create", file, "add", "a"}, 1, "empty password"},
		{"no password", "", []string{"--create", file, "add", "a"}, 1, "no password"},
		{"missing file", "", []string{file, "list"}, 1, "does not exist"},
	}
	for _, c := range cases {
		code, _, stderr := passwdRun(t, c.input, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("a failed add created the file")
	}

	// A user name that looks like a flag goes after "--".
	if code, _, stderr := passwdRun(t, "pw\n", "--create", file, "add", "--", "-dash"); code != 0 {
		t.Fatalf("add -- -dash: %d %q", code, stderr)
	}
	if code, stdout, _ := passwdRun(t, "", file, "list"); code != 0 || !strings.Contains(stdout, "-dash") {
		t.Errorf("list: %q", stdout)
	}

	// A file readable by others is used, with a warning.
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := passwdRun(t, "", file, "list"); code != 0 || !strings.Contains(stderr, "chmod 600") {
		t.Errorf("list of a 0644 file: %d %q", code, stderr)
	}
}

func TestPasswdSCRAM(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	const secret = "scram-secret"
	code, stdout, stderr := passwdRun(t, secret+"\n", "--create", file, "add", "alice", "--scram", "--scram-iterations", "4096", "--groups", "ops")
	if code != 0 || !strings.Contains(stdout, "SCRAM-SHA-256 and SCRAM-SHA-512 with 4096 iterations") {
		t.Fatalf("add --scram: %d %q %q", code, stdout, stderr)
	}
	f, err := password.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	creds := f.SCRAMCredentials("alice")
	if len(creds) != 2 || creds[0].Mechanism != password.SCRAMSHA256 || creds[1].Mechanism != password.SCRAMSHA512 {
		t.Fatalf("credentials %v", creds)
	}
	for _, c := range creds {
		if c.Iterations != 4096 || len(c.Salt) != password.SCRAMSaltLen || !c.Verify([]byte(secret)) {
			t.Errorf("%v does not hold the password", c)
		}
	}
	if string(creds[0].Salt) == string(creds[1].Salt) {
		t.Error("both mechanisms share a salt")
	}
	if enc, _ := f.Lookup("alice"); !strings.HasPrefix(enc, "$argon2id$") {
		t.Errorf("hash %q", enc)
	}

	// The default iteration count, and a user without SCRAM, in the list.
	if code, _, stderr := passwdRun(t, "bob-pw\n", file, "add", "bob", "--scram"); code != 0 {
		t.Fatalf("add bob --scram: %d %q", code, stderr)
	}
	f, _ = password.Load(file)
	if cs := f.SCRAMCredentials("bob"); len(cs) != 2 || cs[0].Iterations != password.DefaultSCRAMIterations {
		t.Errorf("bob's credentials %v", cs)
	}
	if code, _, _ := passwdRun(t, "carol-pw\n", file, "add", "carol"); code != 0 {
		t.Fatal("add carol failed")
	}
	code, stdout, _ = passwdRun(t, "", file, "list")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 4 || !strings.Contains(lines[0], "SCRAM") ||
		strings.Join(strings.Fields(lines[1]), " ") != "alice argon2id no SCRAM-SHA-256,SCRAM-SHA-512 ops" ||
		strings.Join(strings.Fields(lines[3]), " ") != "carol argon2id no -" {
		t.Errorf("list:\n%s", stdout)
	}
	if strings.Contains(stdout, "$scram") {
		t.Error("list printed a credential")
	}

	// verify checks the SCRAM credentials too.
	if code, stdout, stderr := passwdRun(t, secret+"\n", file, "verify", "alice"); code != 0 || !strings.Contains(stdout, "matches") || stderr != "" {
		t.Errorf("verify: %d %q %q", code, stdout, stderr)
	}
	stale, err := password.NewSCRAMCredential(password.SCRAMSHA512, []byte("old"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetSCRAM("alice", creds[0], stale); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(file); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := passwdRun(t, secret+"\n", file, "verify", "alice"); code != 0 ||
		!strings.Contains(stderr, "SCRAM-SHA-512 credential does not match") || strings.Contains(stderr, "SCRAM-SHA-256") {
		t.Errorf("verify with a stale credential: %d %q", code, stderr)
	}

	// add without --scram drops the credentials of the old password and
	// keeps the groups.
	code, _, stderr = passwdRun(t, "new\n", file, "add", "alice")
	if code != 0 || !strings.Contains(stderr, "dropped") {
		t.Errorf("re-add without --scram: %d %q", code, stderr)
	}
	f, _ = password.Load(file)
	if f.SCRAMCredentials("alice") != nil || strings.Join(f.Users()[0].Groups, ",") != "ops" {
		t.Errorf("after re-add: %v %+v", f.SCRAMCredentials("alice"), f.Users()[0])
	}

	// A password SASLprep could change is stored, with a warning.
	if code, _, stderr := passwdRun(t, "pässword\n", file, "add", "dave", "--scram", "--scram-iterations=4096"); code != 0 || !strings.Contains(stderr, "SASLprep") {
		t.Errorf("non-ASCII password: %d %q", code, stderr)
	}
	if code, _, stderr := passwdRun(t, "ascii\n", file, "add", "erin", "--scram", "--scram-iterations=4096"); code != 0 || strings.Contains(stderr, "SASLprep") {
		t.Errorf("ASCII password: %d %q", code, stderr)
	}
}

func TestPasswdSCRAMErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"iterations below floor", []string{"--create", file, "add", "a", "--scram", "--scram-iterations", "4095"}, 1, "outside 4096..10000000"},
		{"iterations above ceiling", []string{"--create", file, "add", "a", "--scram", "--scram-iterations", "10000001"}, 1, "outside 4096..10000000"},
		{"bad iterations", []string{"--create", file, "add", "a", "--scram", "--scram-iterations", "many"}, 2, "integer"},
		{"iterations without --scram", []string{"--create", file, "add", "a", "--scram-iterations", "5000"}, 2, "needs --scram"},
	}
	for _, c := range cases {
		code, _, stderr := passwdRun(t, "pw\n", c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Error("a failed add created the file")
	}
}
