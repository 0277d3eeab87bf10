package scram

import (
	"context"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/password"
)

// FuzzClientFirst checks that parsing a client-first-message never panics,
// that what it accepts splits back into what was sent, and that the
// Authenticator answers every input with Continue or Deny.
func FuzzClientFirst(f *testing.F) {
	for _, s := range []string{
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", // RFC 7677
		"y,,n=alice,r=abc",
		"n,a=alice,n=alice,r=abc,x=ext",
		"n,a=a=3Db,n=a=3Db=2Cc,r=!~",
		"p=tls-unique,,n=alice,r=abc",
		"n,,m=ext,n=alice,r=abc",
		"n,,n=al=2cice,r=abc",
		"n,,n=alice,r=a b",
		"n,,n=alice,r=abc,",
		"n,,n=alice",
		"n,",
		"",
	} {
		f.Add([]byte(s))
	}
	a, _ := newMem(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, perr := parseClientFirst(data)
		if perr == nil {
			if m.gs2Header+m.bare != string(data) || m.user == "" || !validNonce(m.nonce) {
				t.Fatalf("accepted %q as %+v", data, m)
			}
			if !strings.HasPrefix(m.bare, "n=") || strings.Contains(m.gs2Header[2:len(m.gs2Header)-1], ",") {
				t.Fatalf("accepted %q as %+v", data, m)
			}
		}
		res, err := a.Authenticate(context.Background(), &auth.Request{Method: password.SCRAMSHA256, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		// Continue exactly when the message parses and the authzid is
		// absent or the user; Deny otherwise.
		want := auth.Deny
		if perr == nil && (m.authzid == "" || m.authzid == m.user) {
			want = auth.Continue
		}
		if res.Decision != want {
			t.Fatalf("%q: %v %q, want %v", data, res.Decision, res.Detail, want)
		}
	})
}

// FuzzClientFinal checks that parsing a client-final-message never panics,
// that the part without the proof is a prefix of the message, and that
// the Authenticator never allows a message the test client did not sign.
func FuzzClientFinal(f *testing.F) {
	a, _ := newMem(f)
	c := &Client{Mechanism: password.SCRAMSHA256, User: "alice", Password: "alice-pw", Nonce: "fuzz"}
	r0, err := a.Authenticate(context.Background(), &auth.Request{Method: c.Mechanism, Data: c.First()})
	if err != nil {
		f.Fatal(err)
	}
	good, err := c.Final(r0.Data)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, s := range []string{
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", // RFC 7677
		"c=biws,r=fuzz,x=ext,p=AAAA",
		"c=biws,r=fuzz,p=",
		"c=,r=fuzz,p=AAAA",
		"c=biws,p=AAAA,r=fuzz",
		"c=biws,r=fuzz",
		",,",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseClientFinal(data)
		if err == nil {
			if !strings.HasPrefix(string(data), m.withoutProof+",p=") || len(m.proof) == 0 || !validNonce(m.nonce) {
				t.Fatalf("accepted %q as %+v", data, m)
			}
		}
		res, err := a.Authenticate(context.Background(), &auth.Request{Method: c.Mechanism, Data: data, Step: 1, State: r0.State})
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision == auth.Allow && string(data) != string(good) {
			t.Fatalf("allowed %q", data)
		}
		if res.Decision != auth.Allow && res.Decision != auth.Deny {
			t.Fatalf("%q: %v", data, res.Decision)
		}
	})
}
