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
	s256, s512 := tinySCRAM(f, SCRAMSHA256, "x").encode(), tinySCRAM(f, SCRAMSHA512, "x").encode()
	f.Add([]byte("alice:" + tinyHash(f, "x") + ":sensors,ops:" + s256 + ":" + s512 + "\n"))
	f.Add([]byte("bob:" + tinyHash(f, "x") + "::" + s512 + " \r\ncarol:" + tinyHash(f, "y") + ":ops\n"))
	f.Add([]byte("dave:" + tinyHash(f, "x") + "::" + s256 + ":" + s256 + "\n"))
	f.Add([]byte("erin:" + tinyHash(f, "x") + "::$scram-sha-256$4096$AAAAAAAAAAAAAAAAAAAAAA==$AAAA$AAAA:\n"))
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
			return a.Name == b.Name && a.Scheme == b.Scheme && slices.Equal(a.Groups, b.Groups) && slices.Equal(a.SCRAM, b.SCRAM)
		}) {
			t.Fatalf("users changed: %+v vs %+v", pu, qu)
		}
		for _, u := range pu {
			if err := CheckUserName(u.Name); err != nil {
				t.Fatalf("accepted a bad user name: %v", err)
			}
			for _, c := range p.SCRAMCredentials(u.Name) {
				if err := c.validate(); err != nil {
					t.Fatalf("accepted a bad SCRAM credential: %v", err)
				}
			}
		}
	})
}
