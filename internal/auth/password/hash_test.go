package password

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// floorParams are the cheapest parameters Hash accepts, to keep tests fast.
var floorParams = Params{Memory: minMemory, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// tinyParams are far below the floor; only Verify and the tests' own
// fixtures use them.
var tinyParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashArgon2id(t *testing.T) {
	enc, err := Hash([]byte("correct horse"), floorParams)
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(enc) {
		t.Fatalf("hash %q is not in PHC format", enc)
	}
	ok, legacy, err := Verify(enc, []byte("correct horse"))
	if !ok || legacy || err != nil {
		t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, legacy, err)
	}
	ok, legacy, err = Verify(enc, []byte("correct horsE"))
	if ok || legacy || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, legacy, err)
	}
	again, err := Hash([]byte("correct horse"), floorParams)
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashRefusesBelowFloor(t *testing.T) {
	mod := func(f func(*Params)) Params {
		p := DefaultParams()
		f(&p)
		return p
	}
	cases := map[string]Params{
		"zero":           {},
		"low memory":     mod(func(p *Params) { p.Memory = minMemory - 1 }),
		"memory*time":    mod(func(p *Params) { p.Memory, p.Time = minMemory, 1 }),
		"zero time":      mod(func(p *Params) { p.Time = 0 }),
		"zero threads":   mod(func(p *Params) { p.Threads = 0 }),
		"short salt":     mod(func(p *Params) { p.SaltLen = 8 }),
		"short key":      mod(func(p *Params) { p.KeyLen = 8 }),
		"huge memory":    mod(func(p *Params) { p.Memory = maxMemory + 1 }),
		"too many times": mod(func(p *Params) { p.Time = maxTime + 1 }),
	}
	for name, p := range cases {
		if _, err := Hash([]byte("pw"), p); err == nil {
			t.Errorf("%s: Hash(%+v) succeeded; want an error", name, p)
		}
	}
	if _, err := Hash(nil, floorParams); err == nil {
		t.Error("Hash accepted an empty password")
	}
	if err := DefaultParams().Validate(); err != nil {
		t.Errorf("DefaultParams are refused: %v", err)
	}
	// OWASP's alternative minimum: more memory, one pass.
	if err := (Params{Memory: 46 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}).Validate(); err != nil {
		t.Errorf("46 MiB with one pass is refused: %v", err)
	}
}

func TestVerifyBcrypt(t *testing.T) {
	b, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// $2a$, $2b$ and $2y$ differ only in historical bugs of other
	// implementations; the computation is the same.
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + string(b[4:])
		ok, legacy, err := Verify(enc, []byte("s3cret"))
		if !ok || !legacy || err != nil {
			t.Errorf("%s: Verify(right) = %v, %v, %v; want true, true, nil", prefix, ok, legacy, err)
		}
		ok, _, err = Verify(enc, []byte("s3creT"))
		if ok || err != nil {
			t.Errorf("%s: Verify(wrong) = %v, %v; want false, nil", prefix, ok, err)
		}
	}
}

// mosquittoPasswords are the passwords of testdata/mosquitto.passwd, which
// Debian's mosquitto_passwd 2.0.11 wrote.
var mosquittoPasswords = map[string]string{
	"alice":            "alice-secret",
	"bob":              "bob pässwörd",
	"carol with space": "",
	"dave":             "x",
}

func TestVerifyMosquittoGolden(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Scheme{"alice": PBKDF2SHA512, "bob": SHA512, "carol with space": PBKDF2SHA512, "dave": PBKDF2SHA512}
	if f.Len() != len(want) {
		t.Fatalf("loaded %d users, want %d", f.Len(), len(want))
	}
	for _, u := range f.Users() {
		if u.Scheme != want[u.Name] || !u.Legacy || len(u.Groups) != 0 {
			t.Errorf("user %q: %+v; want scheme %s, legacy, no groups", u.Name, u, want[u.Name])
		}
		enc, _ := f.Lookup(u.Name)
		pw := mosquittoPasswords[u.Name]
		if ok, legacy, err := Verify(enc, []byte(pw)); !ok || !legacy || err != nil {
			t.Errorf("user %q: Verify(right) = %v, %v, %v", u.Name, ok, legacy, err)
		}
		if ok, _, err := Verify(enc, []byte(pw+"!")); ok || err != nil {
			t.Errorf("user %q: Verify(wrong) = %v, %v", u.Name, ok, err)
		}
	}
}

// requireMosquittoPasswd returns the path of mosquitto_passwd, or skips
// the test (fails it when CI is set: a missing peer in CI is a failure).
func requireMosquittoPasswd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		msg := "mosquitto_passwd is not installed (Debian package mosquitto; scripts/deps installs it)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func TestVerifyMosquittoLive(t *testing.T) {
	bin := requireMosquittoPasswd(t)
	path := filepath.Join(t.TempDir(), "passwd")
	users := []struct {
		name, pw, alg string
		scheme        Scheme
	}{
		{"pbkdf2", "Tr0ub4dor&3", "sha512-pbkdf2", PBKDF2SHA512},
		{"sha512", "naïve pässwörd €", "sha512", SHA512},
		{"long", strings.Repeat("0123456789", 30), "sha512-pbkdf2", PBKDF2SHA512},
	}
	for i, u := range users {
		args := []string{"-H", u.alg, "-b", path, u.name, u.pw}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args[:len(args)-1], err, out)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(path, data)
	if err != nil {
		t.Fatalf("a file mosquitto_passwd wrote does not load: %v\n%s", err, data)
	}
	for _, u := range users {
		enc, ok := f.Lookup(u.name)
		if !ok {
			t.Fatalf("user %q missing", u.name)
		}
		h, err := parseHash(enc)
		if err != nil || h.scheme != u.scheme {
			t.Fatalf("user %q: scheme %v, err %v; want %s", u.name, h, err, u.scheme)
		}
		if ok, legacy, err := Verify(enc, []byte(u.pw)); !ok || !legacy || err != nil {
			t.Errorf("user %q: Verify(right) = %v, %v, %v", u.name, ok, legacy, err)
		}
		if ok, _, err := Verify(enc, []byte(u.pw[1:])); ok || err != nil {
			t.Errorf("user %q: Verify(wrong) = %v, %v", u.name, ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, err := hashArgon2id([]byte("x"), tinyParams)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	key64 := strings.Repeat("A", 86) + "=="
	cases := []string{
		"",
		"plaintext",
		"$1$abc$def",
		"$argon2i$v=19$m=64,t=1,p=1$" + f[4] + "$" + f[5],
		"$argon2id$v=16$m=64,t=1,p=1$" + f[4] + "$" + f[5],
		"$argon2id$v=19$t=1,m=64,p=1$" + f[4] + "$" + f[5],
		"$argon2id$v=19$m=64,t=0,p=1$" + f[4] + "$" + f[5],
		"$argon2id$v=19$m=64,t=1,p=0$" + f[4] + "$" + f[5],
		"$argon2id$v=19$m=99999999,t=1,p=1$" + f[4] + "$" + f[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + f[4] + "==$" + f[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + f[4],
		"$argon2id$v=19$m=64,t=1,p=1$" + f[4] + "$" + f[5] + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + f[4] + "$AAAA",
		"$7$0$c2FsdA==$" + key64,
		"$7$abc$c2FsdA==$" + key64,
		"$7$101$c2FsdA==$AAAA",
		"$7$101$!!!!$" + key64,
		"$7$101$$" + key64,
		"$6$c2FsdA==",
		"$6$c2FsdA==$AAAA",
		// crypt(3) SHA-512 is not Mosquitto's $6$.
		"$6$rounds=5000$saltsalt$" + strings.Repeat("a", 86),
		"$2a$04$short",
		"$2a$99$" + strings.Repeat("a", 53),
	}
	for _, enc := range cases {
		if ok, _, err := Verify(enc, []byte("x")); err == nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
		}
	}
}

func TestDummyLikeMatchesShape(t *testing.T) {
	argon, _ := hashArgon2id([]byte("x"), tinyParams)
	b, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	f, err := Load(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := f.Lookup("alice")
	bob, _ := f.Lookup("bob")
	for _, enc := range []string{argon, string(b), alice, bob} {
		h, err := parseHash(enc)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dummyLike(h)
		if err != nil {
			t.Fatal(err)
		}
		dh, err := parseHash(d)
		if err != nil {
			t.Fatalf("dummy %q does not parse: %v", d, err)
		}
		if dh.shape() != h.shape() {
			t.Errorf("dummy shape %q, want %q", dh.shape(), h.shape())
		}
	}
}
