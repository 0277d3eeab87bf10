package password

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinySCRAM returns a SCRAM credential for pw at the minimum iteration
// count, for fixtures.
func tinySCRAM(t testing.TB, mechanism, pw string) SCRAMCredential {
	t.Helper()
	c, err := NewSCRAMCredential(mechanism, []byte(pw), MinSCRAMIterations)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RFC 7677 section 3: user "user", password "pencil", salt
// W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. StoredKey and ServerKey follow
// from the exchange there; the scram package checks the exchange itself.
func TestDeriveSCRAMRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	c, err := deriveSCRAM(SCRAMSHA256, []byte("pencil"), salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verify([]byte("pencil")) || c.Verify([]byte("pencil ")) {
		t.Error("Verify disagrees with deriveSCRAM")
	}
	enc := c.encode()
	if !strings.HasPrefix(enc, "$scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$") {
		t.Errorf("encoding %q", enc)
	}
	back, err := parseSCRAM(enc)
	if err != nil || back.encode() != enc {
		t.Fatalf("round trip: %v %q", err, back.encode())
	}
	if strings.Contains(c.String(), base64.StdEncoding.EncodeToString(c.StoredKey)) {
		t.Error("String() shows the StoredKey")
	}
}

func TestNewSCRAMCredential(t *testing.T) {
	for _, m := range SCRAMMechanisms() {
		a, b := tinySCRAM(t, m, "pw"), tinySCRAM(t, m, "pw")
		if bytes.Equal(a.Salt, b.Salt) || len(a.Salt) != SCRAMSaltLen {
			t.Errorf("%s: salts %x and %x, want fresh %d-byte salts", m, a.Salt, b.Salt, SCRAMSaltLen)
		}
		if err := a.validate(); err != nil {
			t.Errorf("%s: %v", m, err)
		}
		if !a.Verify([]byte("pw")) || a.Verify([]byte("other")) {
			t.Errorf("%s: Verify", m)
		}
	}
	for _, c := range []struct {
		mech string
		pw   string
		iter int
	}{
		{SCRAMSHA256, "", 4096},
		{"SCRAM-SHA-1", "pw", 4096},
		{SCRAMSHA256, "pw", 4095},
		{SCRAMSHA512, "pw", MaxSCRAMIterations + 1},
	} {
		if _, err := NewSCRAMCredential(c.mech, []byte(c.pw), c.iter); err == nil {
			t.Errorf("NewSCRAMCredential(%q, %q, %d) succeeded", c.mech, c.pw, c.iter)
		}
	}
}

func TestParseSCRAMFields(t *testing.T) {
	h := tinyHash(t, "x")
	s256, s512 := tinySCRAM(t, SCRAMSHA256, "x").encode(), tinySCRAM(t, SCRAMSHA512, "x").encode()
	content := "# with SCRAM\n" +
		"alice:" + h + ":sensors,ops:" + s256 + ":" + s512 + "\n" +
		"bob:" + h + "::" + s512 + "\n" +
		"carol:" + h + "\n" +
		"dave:" + h + ":ops\n"
	f, err := Parse("p", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.Bytes()); got != content {
		t.Errorf("not round-tripped:\n%s\nwant\n%s", got, content)
	}
	users := f.Users()
	want := [][]string{{SCRAMSHA256, SCRAMSHA512}, {SCRAMSHA512}, nil, nil}
	for i, u := range users {
		if !slices.Equal(u.SCRAM, want[i]) {
			t.Errorf("%s: SCRAM %v, want %v", u.Name, u.SCRAM, want[i])
		}
	}
	if !slices.Equal(users[0].Groups, []string{"sensors", "ops"}) || users[1].Groups != nil {
		t.Errorf("groups %v %v", users[0].Groups, users[1].Groups)
	}
	if cs := f.SCRAMCredentials("alice"); len(cs) != 2 || !cs[0].Verify([]byte("x")) || !cs[1].Verify([]byte("x")) {
		t.Errorf("alice's credentials %v", cs)
	}
	if f.SCRAMCredentials("carol") != nil || f.SCRAMCredentials("nobody") != nil {
		t.Error("credentials for a user without any")
	}
}

func TestParseSCRAMErrorsNameLines(t *testing.T) {
	h := tinyHash(t, "x")
	c := tinySCRAM(t, SCRAMSHA256, "x")
	good := c.encode()
	b64 := base64.StdEncoding.EncodeToString
	with := func(f func(*SCRAMCredential)) string {
		d := c.clone()
		f(&d)
		return d.encode()
	}
	f := strings.Split(good, "$")
	lines := []string{
		"a:" + h + "::" + good,                                                                                  // 1: fine
		"b:" + h + "::" + good + ":" + good,                                                                     // 2
		"c:" + h + "::" + "$scram-sha-1$4096$x$y$z",                                                             // 3
		"d:" + h + "::" + with(func(d *SCRAMCredential) { d.Iterations = 4095 }),                                // 4
		"e:" + h + "::" + with(func(d *SCRAMCredential) { d.Iterations = 10000001 }),                            // 5
		"f:" + h + "::" + with(func(d *SCRAMCredential) { d.Salt = d.Salt[:15] }),                               // 6
		"g:" + h + "::" + with(func(d *SCRAMCredential) { d.StoredKey = d.StoredKey[:31] }),                     // 7
		"h:" + h + "::" + strings.Join([]string{"", f[1], "04096", f[3], f[4], f[5]}, "$"),                      // 8
		"i:" + h + "::" + strings.Join([]string{"", f[1], f[2], strings.TrimRight(f[3], "="), f[4], f[5]}, "$"), // 9
		"j:" + h + "::" + strings.Join(f[:5], "$"),                                                              // 10
		"k:" + h + "::",              // 11
		"l:" + h + ":ops:",           // 12
		"m:" + h + "::" + good + ":", // 13
		"n:" + h + "::" + "$scram-sha-256$4096$" + b64(c.Salt) + "$!$" + b64(c.ServerKey), // 14
	}
	_, err := Parse("s.passwd", []byte(strings.Join(lines, "\n")))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		"s.passwd:2: user \"b\": field 5: a second SCRAM-SHA-256 credential",
		"s.passwd:3: user \"c\": field 4: unknown SCRAM mechanism",
		"s.passwd:4: user \"d\": field 4: SCRAM-SHA-256 iteration count 4095 is outside 4096..10000000",
		"s.passwd:5: user \"e\": field 4: SCRAM-SHA-256 iteration count 10000001 is outside",
		"s.passwd:6: user \"f\": field 4: SCRAM-SHA-256 salt of 15 bytes is outside 16..",
		"s.passwd:7: user \"g\": field 4: SCRAM-SHA-256 keys must be 32 bytes",
		"s.passwd:8: user \"h\": field 4: malformed SCRAM-SHA-256 iteration count",
		"s.passwd:9: user \"i\": field 4: malformed SCRAM-SHA-256 salt",
		"s.passwd:10: user \"j\": field 4: malformed SCRAM-SHA-256 credential",
		"s.passwd:11: user \"k\": field 4 is empty",
		"s.passwd:12: user \"l\": field 4 is empty",
		"s.passwd:13: user \"m\": field 5 is empty",
		"s.passwd:14: user \"n\": field 4: malformed SCRAM-SHA-256 StoredKey",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, notWant := range []string{"s.passwd:1:", f[4], b64(c.ServerKey)} {
		if strings.Contains(msg, notWant) {
			t.Errorf("error contains %q:\n%s", notWant, msg)
		}
	}
}

func TestSetDropsSCRAM(t *testing.T) {
	f := NewFile()
	if err := f.Set("alice", tinyHash(t, "old")); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSCRAM("nobody", tinySCRAM(t, SCRAMSHA256, "old")); err == nil {
		t.Error("SetSCRAM for an unknown user succeeded")
	}
	c512, c256 := tinySCRAM(t, SCRAMSHA512, "old"), tinySCRAM(t, SCRAMSHA256, "old")
	if err := f.SetSCRAM("alice", c512, c256); err != nil {
		t.Fatal(err)
	}
	if u := f.Users()[0]; !slices.Equal(u.SCRAM, []string{SCRAMSHA256, SCRAMSHA512}) {
		t.Errorf("SCRAM %v, want file order", u.SCRAM)
	}
	if err := f.SetSCRAM("alice", c256, c256); err == nil {
		t.Error("two credentials of one mechanism accepted")
	}
	bad := c256.clone()
	bad.Iterations = 1
	if err := f.SetSCRAM("alice", bad); err == nil {
		t.Error("a credential below the iteration floor accepted")
	}
	if err := f.SetGroups("alice", []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	// Setting the same hash keeps them; a new one drops them.
	enc, _ := f.Lookup("alice")
	if err := f.Set("alice", enc); err != nil {
		t.Fatal(err)
	}
	if len(f.SCRAMCredentials("alice")) != 2 {
		t.Error("the same hash dropped the SCRAM credentials")
	}
	if err := f.Set("alice", tinyHash(t, "new")); err != nil {
		t.Fatal(err)
	}
	if f.SCRAMCredentials("alice") != nil {
		t.Error("a new hash kept stale SCRAM credentials")
	}
	if !strings.HasSuffix(string(f.Bytes()), ":ops\n") {
		t.Errorf("line %q", f.Bytes())
	}
	if err := f.SetSCRAM("alice", c256); err != nil {
		t.Fatal(err)
	}
	if err := f.SetSCRAM("alice"); err != nil || f.SCRAMCredentials("alice") != nil {
		t.Errorf("SetSCRAM with none: %v", err)
	}
}

func TestAuthenticatorSCRAM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	h := tinyHash(t, "pw")
	a256, a512 := tinySCRAM(t, SCRAMSHA256, "pw"), tinySCRAM(t, SCRAMSHA512, "pw")
	slow, err := NewSCRAMCredential(SCRAMSHA256, []byte("pw"), 5000)
	if err != nil {
		t.Fatal(err)
	}
	writePasswd(t, path, "alice:"+h+":ops:"+a256.encode()+":"+a512.encode()+"\n"+
		"bob:"+h+"::"+tinySCRAM(t, SCRAMSHA256, "pw").encode()+"\n"+
		"carol:"+h+"::"+slow.encode()+"\n"+
		"dave:"+h+"\n")
	a, err := New(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c, groups, ok := a.SCRAM("alice", SCRAMSHA512)
	if !ok || !bytes.Equal(c.StoredKey, a512.StoredKey) || !slices.Equal(groups, []string{"ops"}) {
		t.Errorf("alice: %v %v %v", c, groups, ok)
	}
	c.StoredKey[0] ^= 1
	if again, _, _ := a.SCRAM("alice", SCRAMSHA512); !bytes.Equal(again.StoredKey, a512.StoredKey) {
		t.Error("SCRAM returned the snapshot's slice")
	}
	for _, q := range [][2]string{{"bob", SCRAMSHA512}, {"dave", SCRAMSHA256}, {"nobody", SCRAMSHA256}, {"alice", "SCRAM-SHA-1"}} {
		if _, _, ok := a.SCRAM(q[0], q[1]); ok {
			t.Errorf("SCRAM(%q, %q) found a credential", q[0], q[1])
		}
	}
	if i, s := a.SCRAMShape(SCRAMSHA256); i != MinSCRAMIterations || s != SCRAMSaltLen {
		t.Errorf("SHA-256 shape %d %d", i, s)
	}
	if i, s := a.SCRAMShape(SCRAMSHA512); i != MinSCRAMIterations || s != SCRAMSaltLen {
		t.Errorf("SHA-512 shape %d %d", i, s)
	}

	// A reload applies: alice loses her SCRAM-SHA-512 credential, dave
	// gains one, and the common shape follows.
	d512, err := NewSCRAMCredential(SCRAMSHA512, []byte("pw"), 6000)
	if err != nil {
		t.Fatal(err)
	}
	writePasswd(t, path, "alice:"+h+":ops:"+a256.encode()+"\ndave:"+h+"::"+d512.encode()+"\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.SCRAM("alice", SCRAMSHA512); ok {
		t.Error("alice kept SCRAM-SHA-512 after the reload")
	}
	if _, _, ok := a.SCRAM("dave", SCRAMSHA512); !ok {
		t.Error("dave has no SCRAM-SHA-512 after the reload")
	}
	if i, _ := a.SCRAMShape(SCRAMSHA512); i != 6000 {
		t.Errorf("SHA-512 shape after reload: %d iterations", i)
	}
	writePasswd(t, path, "dave:"+h+"\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if i, s := a.SCRAMShape(SCRAMSHA256); i != 0 || s != 0 {
		t.Errorf("shape without credentials %d %d", i, s)
	}
}

func TestSCRAMCredentialRedacted(t *testing.T) {
	c := tinySCRAM(t, SCRAMSHA512, "x")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cred", "cred", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), buf.String()} {
		for _, k := range [][]byte{c.StoredKey, c.ServerKey} {
			if strings.Contains(s, base64.StdEncoding.EncodeToString(k)) || strings.Contains(s, fmt.Sprint(k)) {
				t.Errorf("%q shows a key", s)
			}
		}
	}
}
