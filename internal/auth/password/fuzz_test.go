package password

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse checks that Parse never panics and that what it accepts
// survives Bytes and Parse again unchanged.
func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "mosquitto.passwd"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte("alice:" + tinyHash(f, "x") + ":ops, dev\r\n# c\n\n"))
	f.Add([]byte("bob:$2y$04$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0" + "\n"))
	f.Add([]byte("a:$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + "AAAAAAAAAAAAAAAAAAAAAA\n"))
	f.Add([]byte("a:$6$c2FsdA==$\nb::\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		out := p.Bytes()
		q, err := Parse("again", out)
		if err != nil {
			t.Fatalf("re-parse of accepted file failed: %v\n%q", err, out)
		}
		if !bytes.Equal(q.Bytes(), out) {
			t.Fatalf("not stable:\n%q\n%q", out, q.Bytes())
		}
		pu, qu := p.Users(), q.Users()
		if !slices.EqualFunc(pu, qu, func(a, b UserInfo) bool {
			return a.Name == b.Name && a.Scheme == b.Scheme && slices.Equal(a.Groups, b.Groups)
		}) {
			t.Fatalf("users changed: %+v vs %+v", pu, qu)
		}
		for _, u := range pu {
			if err := CheckUserName(u.Name); err != nil {
				t.Fatalf("accepted a bad user name: %v", err)
			}
		}
	})
}
