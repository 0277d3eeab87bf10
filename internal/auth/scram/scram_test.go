package scram

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/packet"
)

// memSource is a CredentialSource over a map, for tests.
type memSource struct {
	mu     sync.Mutex
	creds  map[[2]string]password.SCRAMCredential // {user, mechanism}
	groups map[string][]string
	shape  [2]int
}

func (s *memSource) SCRAM(user, mech string) (password.SCRAMCredential, []string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[[2]string{user, mech}]
	if !ok {
		return password.SCRAMCredential{}, nil, false
	}
	return c, slices.Clone(s.groups[user]), true
}

func (s *memSource) SCRAMShape(string) (int, int) { return s.shape[0], s.shape[1] }

func (s *memSource) set(user, pw string, groups ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range Mechanisms() {
		salt := make([]byte, password.SCRAMSaltLen)
		copy(salt, user+m)
		s.creds[[2]string{user, m}] = credential(m, pw, salt, password.MinSCRAMIterations)
	}
	s.groups[user] = groups
}

// newMem returns an Authenticator over alice ("alice-pw", groups ops and
// dev) and bob ("bob-pw", SCRAM-SHA-256 only), at 4096 iterations.
func newMem(t testing.TB) (*Authenticator, *memSource) {
	t.Helper()
	src := &memSource{creds: map[[2]string]password.SCRAMCredential{}, groups: map[string][]string{},
		shape: [2]int{password.MinSCRAMIterations, password.SCRAMSaltLen}}
	src.set("alice", "alice-pw", "ops", "dev")
	src.set("bob", "bob-pw")
	delete(src.creds, [2]string{"bob", password.SCRAMSHA512})
	a, err := New(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return a, src
}

// step0 sends the client-first-message in a CONNECT.
func step0(t testing.TB, a *Authenticator, c *Client, data []byte) auth.Result {
	t.Helper()
	res, err := a.Authenticate(context.Background(), &auth.Request{Version: packet.V5, Method: c.Mechanism, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// step1 sends the client-final-message in an AUTH.
func step1(t testing.TB, a *Authenticator, mech string, prev auth.Result, data []byte) auth.Result {
	t.Helper()
	res, err := a.Authenticate(context.Background(), &auth.Request{Version: packet.V5, Method: mech, Data: data, Step: 1, State: prev.State})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// login runs a whole exchange with c; it fails the test if the server
// stops after the first step.
func login(t testing.TB, a *Authenticator, c *Client) auth.Result {
	t.Helper()
	r0 := step0(t, a, c, c.First())
	if r0.Decision != auth.Continue {
		t.Fatalf("step 0: %v %v %q", r0.Decision, r0.Reason, r0.Detail)
	}
	fin, err := c.Final(r0.Data)
	if err != nil {
		t.Fatal(err)
	}
	return step1(t, a, c.Mechanism, r0, fin)
}

// noSecrets fails if the detail holds the client's nonce, the password or
// anything from its final message.
func noSecrets(t testing.TB, res auth.Result, c *Client, extra ...string) {
	t.Helper()
	for _, s := range append([]string{c.Nonce, c.Password}, extra...) {
		if s != "" && strings.Contains(res.Detail, s) {
			t.Errorf("detail %q contains %q", res.Detail, s)
		}
	}
}

func wantDeny(t testing.TB, res auth.Result, code packet.ReasonCode, detail string) {
	t.Helper()
	if res.Decision != auth.Deny || res.Reason != code || !strings.Contains(res.Detail, detail) || res.Data != nil {
		t.Errorf("got %v %v %q data %q; want deny %v with %q", res.Decision, res.Reason, res.Detail, res.Data, code, detail)
	}
}

func TestSuccess(t *testing.T) {
	a, _ := newMem(t)
	if a.Name() != "scram" {
		t.Errorf("Name() = %q", a.Name())
	}
	for _, mech := range Mechanisms() {
		t.Run(mech, func(t *testing.T) {
			c := &Client{Mechanism: mech, User: "alice", Password: "alice-pw"}
			res := login(t, a, c)
			if res.Decision != auth.Allow {
				t.Fatalf("%v %v %q", res.Decision, res.Reason, res.Detail)
			}
			id := res.Identity
			if id == nil || id.Name != "alice" || id.Method != "scram" || !slices.Equal(id.Groups, []string{"ops", "dev"}) {
				t.Errorf("identity %+v", id)
			}
			if err := c.Verify(res.Data); err != nil {
				t.Error(err)
			}
			noSecrets(t, res, c)
		})
	}
}

func TestConnectUserName(t *testing.T) {
	a, _ := newMem(t)
	c := &Client{Mechanism: password.SCRAMSHA256, User: "alice", Password: "alice-pw"}
	req := func(user string, has bool) *auth.Request {
		return &auth.Request{Method: c.Mechanism, Data: c.First(), Username: user, HasUsername: has}
	}
	ctx := context.Background()
	if res, _ := a.Authenticate(ctx, req("alice", true)); res.Decision != auth.Continue {
		t.Errorf("same CONNECT user name: %v %q", res.Decision, res.Detail)
	}
	res, _ := a.Authenticate(ctx, req("bob", true))
	wantDeny(t, res, packet.NotAuthorized, "differs from the CONNECT user name")
	res, _ = a.Authenticate(ctx, req("", true))
	wantDeny(t, res, packet.NotAuthorized, "differs from the CONNECT user name")
}

func TestWrongPassword(t *testing.T) {
	a, _ := newMem(t)
	for _, mech := range Mechanisms() {
		c := &Client{Mechanism: mech, User: "alice", Password: "alice-PW"}
		res := login(t, a, c)
		wantDeny(t, res, packet.NotAuthorized, "wrong "+mech+" proof")
		noSecrets(t, res, c)
	}
}

// TestUnknownUserLooksKnown checks that an unknown user, or one without a
// credential for the mechanism, gets a server-first-message of the same
// shape as a known one, the same salt when asking again, and the same
// refusal as a wrong password.
func TestUnknownUserLooksKnown(t *testing.T) {
	a, _ := newMem(t)
	shape := func(user, mech string) (sf serverFirst, nonceLen int) {
		c := &Client{Mechanism: mech, User: user, Password: "x", Nonce: "fixed-client-nonce"}
		r0 := step0(t, a, c, c.First())
		if r0.Decision != auth.Continue {
			t.Fatalf("%s: %v %q", user, r0.Decision, r0.Detail)
		}
		sf, err := parseServerFirst(r0.Data)
		if err != nil {
			t.Fatal(err)
		}
		fin, err := c.Final(r0.Data)
		if err != nil {
			t.Fatal(err)
		}
		res := step1(t, a, mech, r0, fin)
		if res.Decision != auth.Deny || res.Reason != packet.NotAuthorized || res.Data != nil {
			t.Errorf("%s %s: %v %v %q", user, mech, res.Decision, res.Reason, res.Detail)
		}
		return sf, len(r0.Data) - len(base64.StdEncoding.EncodeToString(sf.salt))
	}
	for _, mech := range Mechanisms() {
		known, kl := shape("alice", mech)
		for _, who := range []string{"mallory", "b=2Cob"} {
			unknown, ul := shape(who, mech)
			if len(unknown.salt) != len(known.salt) || unknown.iter != known.iter || len(unknown.nonce) != len(known.nonce) || ul != kl {
				t.Errorf("%s %s: server-first shape %d/%d/%d differs from a known user's %d/%d/%d",
					mech, who, len(unknown.salt), unknown.iter, ul, len(known.salt), known.iter, kl)
			}
			again, _ := shape(who, mech)
			if !bytes.Equal(again.salt, unknown.salt) {
				t.Errorf("%s %s: the salt changed between attempts", mech, who)
			}
		}
	}
	// bob has no SCRAM-SHA-512 credential: he looks like everyone else.
	k, _ := shape("alice", password.SCRAMSHA512)
	b, _ := shape("bob", password.SCRAMSHA512)
	if len(b.salt) != len(k.salt) || b.iter != k.iter {
		t.Errorf("bob without SCRAM-SHA-512: %d/%d", len(b.salt), b.iter)
	}
	// Unknown users of different names get different salts.
	x, _ := shape("x", password.SCRAMSHA256)
	y, _ := shape("y", password.SCRAMSHA256)
	if bytes.Equal(x.salt, y.salt) {
		t.Error("two unknown users share a salt")
	}
}

// An empty source shows unknown users Options.DefaultIterations.
func TestUnknownUserDefaultIterations(t *testing.T) {
	src := &memSource{creds: map[[2]string]password.SCRAMCredential{}}
	a, err := New(src, Options{DefaultIterations: 20000})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Mechanism: password.SCRAMSHA512, User: "nobody"}
	sf, err := parseServerFirst(step0(t, a, c, c.First()).Data)
	if err != nil {
		t.Fatal(err)
	}
	if sf.iter != 20000 || len(sf.salt) != password.SCRAMSaltLen {
		t.Errorf("iterations %d, salt %d bytes", sf.iter, len(sf.salt))
	}
	for _, bad := range []int{-1, 4095, password.MaxSCRAMIterations + 1} {
		if _, err := New(src, Options{DefaultIterations: bad}); err == nil {
			t.Errorf("New accepted %d iterations", bad)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted a nil source")
	}
}

func TestFinalMessageChecks(t *testing.T) {
	a, _ := newMem(t)
	mech := password.SCRAMSHA256
	cases := []struct {
		name   string
		gs2    string
		mangle func(c *Client, fin string, r0 auth.Result) string
		detail string
	}{
		{"wrong nonce", "", func(c *Client, fin string, r0 auth.Result) string {
			return strings.Replace(fin, ",r="+c.Nonce, ",r="+c.Nonce+"x", 1)
		}, "nonce does not match"},
		{"client nonce only", "", func(c *Client, fin string, r0 auth.Result) string {
			sf, _ := parseServerFirst(r0.Data)
			return strings.Replace(fin, sf.nonce, c.Nonce, 1)
		}, "nonce does not match"},
		{"binding of another header", "", func(c *Client, fin string, r0 auth.Result) string {
			return strings.Replace(fin, "c=biws", "c=eSws", 1) // "y,,"
		}, "channel binding attribute does not match"},
		{"binding echo after y", "y,,", func(c *Client, fin string, r0 auth.Result) string {
			return strings.Replace(fin, "c=eSws", "c=biws", 1)
		}, "channel binding attribute does not match"},
		{"short proof", "", func(c *Client, fin string, r0 auth.Result) string {
			i := strings.LastIndex(fin, ",p=")
			return fin[:i] + ",p=" + base64.StdEncoding.EncodeToString(make([]byte, 31))
		}, "malformed client proof"},
		{"proof of another message", "", func(c *Client, fin string, r0 auth.Result) string {
			i := strings.LastIndex(fin, ",p=")
			return fin[:i] + ",x=extension" + fin[i:]
		}, "wrong SCRAM-SHA-256 proof"},
	}
	for _, tc := range cases {
		c := &Client{Mechanism: mech, User: "alice", Password: "alice-pw", GS2: tc.gs2}
		r0 := step0(t, a, c, c.First())
		fin, err := c.Final(r0.Data)
		if err != nil {
			t.Fatal(err)
		}
		bad := tc.mangle(c, string(fin), r0)
		if bad == string(fin) {
			t.Fatalf("%s: the message did not change", tc.name)
		}
		res := step1(t, a, mech, r0, []byte(bad))
		t.Run(tc.name, func(t *testing.T) {
			wantDeny(t, res, packet.NotAuthorized, tc.detail)
			sf, _ := parseServerFirst(r0.Data)
			noSecrets(t, res, c, sf.nonce, string(fin[strings.LastIndex(string(fin), "p=")+2:]))
		})
	}
	// "y,," is accepted as no channel binding, with its own echo.
	c := &Client{Mechanism: mech, User: "alice", Password: "alice-pw", GS2: "y,,"}
	if res := login(t, a, c); res.Decision != auth.Allow {
		t.Errorf("y,,: %v %q", res.Decision, res.Detail)
	}
	// An extension the client signed is accepted.
	c = &Client{Mechanism: mech, User: "alice", Password: "alice-pw"}
	r0 := step0(t, a, c, c.First())
	fin, _ := c.Final(r0.Data)
	withExt := string(fin[:bytes.LastIndex(fin, []byte(",p="))]) + ",x=ext"
	sf := string(r0.Data)
	signed := withExt + ",p=" + c.proof(sf, withExt)
	if res := step1(t, a, mech, r0, []byte(signed)); res.Decision != auth.Allow {
		t.Errorf("signed extension: %v %q", res.Decision, res.Detail)
	}
}

func TestMalformedClientFirst(t *testing.T) {
	a, _ := newMem(t)
	long := "n,,n=alice,r=" + strings.Repeat("x", maxClientFirst)
	cases := []struct {
		msg    string
		detail string
	}{
		{"", "malformed gs2 header"},
		{"n", "malformed gs2 header"},
		{"n,", "malformed gs2 header"},
		{"x,,n=alice,r=abc", "malformed gs2 header"},
		{"p=tls-unique,,n=alice,r=abc", "channel binding"},
		{"n,b=alice,n=alice,r=abc", "malformed gs2 header"},
		{"n,a=,n=alice,r=abc", "malformed authorization identity"},
		{"n,a=al=ice,n=alice,r=abc", "malformed authorization identity"},
		{"n,,m=ext,n=alice,r=abc", "mandatory extension"},
		{"n,,n=alice", "attributes missing"},
		{"n,,r=abc,n=alice", "attributes missing"},
		{"n,,n=alice,x=abc", "attributes missing"},
		{"n,,n=,r=abc", "malformed SCRAM user name"},
		{"n,,n=al=2cice,r=abc", "malformed SCRAM user name"},
		{"n,,n=al=ice,r=abc", "malformed SCRAM user name"},
		{"n,,n=al\x00ice,r=abc", "malformed SCRAM user name"},
		{"n,,n=alice=,r=abc", "malformed SCRAM user name"},
		{"n,,n=alice,r=", "malformed nonce"},
		{"n,,n=alice,r=a b", "malformed nonce"},
		{"n,,n=alice,r=ab\x7f", "malformed nonce"},
		{"n,,n=alice,r=abc,", "malformed extension"},
		{"n,,n=alice,r=abc,x", "malformed extension"},
		{"n,,n=alice,r=abc,x=", "malformed extension"},
		{"n,,n=alice,r=abc,1=a", "malformed extension"},
		{"n,,n=alice,r=abc,r=abc", "malformed extension"},
		{"n,,n=alice,r=abc,m=abc", "malformed extension"},
		{"n,,n=al\xffice,r=abc", "not valid UTF-8"},
		{long, "too long"},
	}
	for _, tc := range cases {
		c := &Client{Mechanism: password.SCRAMSHA256}
		res := step0(t, a, c, []byte(tc.msg))
		t.Run(fmt.Sprintf("%.40q", tc.msg), func(t *testing.T) {
			wantDeny(t, res, packet.NotAuthorized, tc.detail)
			if strings.Contains(res.Detail, "abc") || strings.Contains(res.Detail, "alice") {
				t.Errorf("detail %q quotes the message", res.Detail)
			}
		})
	}
	// Well-formed variants are accepted.
	for _, msg := range []string{
		"n,,n=alice,r=abc",
		"y,,n=alice,r=abc",
		"n,a=alice,n=alice,r=abc",
		"n,,n=alice,r=abc,x=ext,y=caf\u00e9",
		"n,,n=a=3Db=2Cc,r=!\"#$%&'()*+-./~",
	} {
		c := &Client{Mechanism: password.SCRAMSHA256}
		if res := step0(t, a, c, []byte(msg)); res.Decision != auth.Continue {
			t.Errorf("%q: %v %q", msg, res.Decision, res.Detail)
		}
	}
}

func TestMalformedClientFinal(t *testing.T) {
	a, _ := newMem(t)
	c := &Client{Mechanism: password.SCRAMSHA256, User: "alice", Password: "alice-pw", Nonce: "cn"}
	r0 := step0(t, a, c, c.First())
	fin, err := c.Final(r0.Data)
	if err != nil {
		t.Fatal(err)
	}
	good := string(fin)
	i := strings.Index(good, ",r=")
	j := strings.LastIndex(good, ",p=")
	cbind, nonce, proof := good[:i], good[i+1:j], good[j+1:]
	cases := []struct {
		msg    string
		detail string
	}{
		{"", "attributes missing"},
		{cbind + "," + nonce, "attributes missing"},
		{nonce + "," + cbind + "," + proof, "attributes missing"},
		{cbind + "," + proof + "," + nonce, "attributes missing"},
		{"c=," + nonce + "," + proof, "malformed channel binding"},
		{"c=biws=," + nonce + "," + proof, "malformed channel binding"},
		{"c=biw," + nonce + "," + proof, "malformed channel binding"},
		{cbind + ",r=," + proof, "malformed nonce"},
		{cbind + "," + nonce + "," + "p=", "malformed client proof"},
		{cbind + "," + nonce + "," + "p=@@@@", "malformed client proof"},
		{cbind + "," + nonce + ",x," + proof, "malformed extension"},
		{cbind + "," + nonce + ",p=AAAA," + proof, "malformed extension"},
		{cbind + "," + nonce + "," + proof + "\xff", "not valid UTF-8"},
		{cbind + "," + nonce + ",x=" + strings.Repeat("y", maxClientFinal) + "," + proof, "too long"},
	}
	for _, tc := range cases {
		res := step1(t, a, c.Mechanism, r0, []byte(tc.msg))
		t.Run(fmt.Sprintf("%.40q", tc.msg), func(t *testing.T) {
			wantDeny(t, res, packet.NotAuthorized, tc.detail)
			noSecrets(t, res, c, nonce[2:], proof[2:])
		})
	}
	if res := step1(t, a, c.Mechanism, r0, fin); res.Decision != auth.Allow {
		t.Errorf("the good message after the bad: %v %q", res.Decision, res.Detail)
	}
}

func TestAuthzid(t *testing.T) {
	a, _ := newMem(t)
	c := &Client{Mechanism: password.SCRAMSHA512, User: "alice", Password: "alice-pw", GS2: "n,a=alice,"}
	if res := login(t, a, c); res.Decision != auth.Allow {
		t.Errorf("authzid equal to the user: %v %q", res.Decision, res.Detail)
	}
	c = &Client{Mechanism: password.SCRAMSHA512, User: "alice", Password: "alice-pw", GS2: "n,a=bob,"}
	res := step0(t, a, c, c.First())
	wantDeny(t, res, packet.NotAuthorized, "authorization identity differs")
}

func TestMethodsAndSteps(t *testing.T) {
	a, _ := newMem(t)
	ctx := context.Background()
	first := []byte("n,,n=alice,r=abc")
	for _, m := range []string{"", "PLAIN", "GS2-KRB5", "SCRAMBLE"} {
		if res, err := a.Authenticate(ctx, &auth.Request{Method: m, Data: first}); err != nil || res.Decision != auth.Abstain {
			t.Errorf("method %q: %v %v", m, res.Decision, err)
		}
	}
	for _, m := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256-PLUS", "scram-sha-256", "SCRAM-" + strings.Repeat("X", 100)} {
		res, err := a.Authenticate(ctx, &auth.Request{Method: m, Data: first})
		if err != nil {
			t.Fatal(err)
		}
		wantDeny(t, res, packet.BadAuthenticationMethod, "unsupported SCRAM mechanism")
		if len(res.Detail) > 80 {
			t.Errorf("detail of %d bytes", len(res.Detail))
		}
	}
	c := &Client{Mechanism: password.SCRAMSHA256, User: "alice", Password: "alice-pw"}
	r0 := step0(t, a, c, c.First())
	fin, _ := c.Final(r0.Data)
	res, _ := a.Authenticate(ctx, &auth.Request{Method: c.Mechanism, Data: fin, Step: 1})
	wantDeny(t, res, packet.NotAuthorized, "without an exchange")
	res, _ = a.Authenticate(ctx, &auth.Request{Method: c.Mechanism, Data: fin, Step: 1, State: "forged"})
	wantDeny(t, res, packet.NotAuthorized, "without an exchange")
	res, _ = a.Authenticate(ctx, &auth.Request{Method: password.SCRAMSHA512, Data: fin, Step: 1, State: r0.State})
	wantDeny(t, res, packet.NotAuthorized, "without an exchange")
	res, _ = a.Authenticate(ctx, &auth.Request{Method: c.Mechanism, Data: fin, Step: 2, State: r0.State})
	wantDeny(t, res, packet.NotAuthorized, "unexpected AUTH")
	if s := fmt.Sprint(r0.State); strings.Contains(s, "alice") || strings.Contains(s, c.Nonce) {
		t.Errorf("the exchange prints as %q", s)
	}
}

func TestReAuth(t *testing.T) {
	a, _ := newMem(t)
	ctx := context.Background()
	run := func(connUser, user, pw string) auth.Result {
		c := &Client{Mechanism: password.SCRAMSHA256, User: user, Password: pw}
		r0, err := a.Authenticate(ctx, &auth.Request{Method: c.Mechanism, Data: c.First(), Username: connUser, ReAuth: true})
		if err != nil || r0.Decision != auth.Continue {
			return r0
		}
		fin, _ := c.Final(r0.Data)
		res, err := a.Authenticate(ctx, &auth.Request{Method: c.Mechanism, Data: fin, Step: 1, State: r0.State, Username: connUser, ReAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision == auth.Allow {
			if err := c.Verify(res.Data); err != nil {
				t.Error(err)
			}
		}
		return res
	}
	if res := run("alice", "alice", "alice-pw"); res.Decision != auth.Allow || res.Identity.Name != "alice" {
		t.Errorf("re-authentication: %v %q", res.Decision, res.Detail)
	}
	if res := run("", "alice", "alice-pw"); res.Decision != auth.Allow {
		t.Errorf("re-authentication without a CONNECT user name: %v %q", res.Decision, res.Detail)
	}
	wantDeny(t, run("alice", "bob", "bob-pw"), packet.NotAuthorized, "another user")
	wantDeny(t, run("alice", "alice", "nope"), packet.NotAuthorized, "wrong")
}

// TestRFC7677 replays the SCRAM-SHA-256 exchange of RFC 7677 section 3.
func TestRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	src := &memSource{creds: map[[2]string]password.SCRAMCredential{
		{"user", password.SCRAMSHA256}: credential(password.SCRAMSHA256, "pencil", salt, 4096),
	}}
	a, err := New(src, Options{nonce: func() (string, error) { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", nil }})
	if err != nil {
		t.Fatal(err)
	}
	const (
		clientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	r0 := step0(t, a, &Client{Mechanism: password.SCRAMSHA256}, []byte(clientFirst))
	if r0.Decision != auth.Continue || string(r0.Data) != serverFirst {
		t.Fatalf("server-first-message %v %q, want %q", r0.Decision, r0.Data, serverFirst)
	}
	r1 := step1(t, a, password.SCRAMSHA256, r0, []byte(clientFinal))
	if r1.Decision != auth.Allow || string(r1.Data) != serverFinal {
		t.Fatalf("server-final-message %v %q %q, want %q", r1.Decision, r1.Data, r1.Detail, serverFinal)
	}
	// The test client agrees with the RFC too.
	c := &Client{Mechanism: password.SCRAMSHA256, User: "user", Password: "pencil", Nonce: "rOprNGfwEbeRWgbNEkqO"}
	if string(c.First()) != clientFirst {
		t.Fatalf("test client first %q", c.First())
	}
	fin, err := c.Final([]byte(serverFirst))
	if err != nil || string(fin) != clientFinal {
		t.Fatalf("test client final %q %v", fin, err)
	}
	if err := c.Verify([]byte(serverFinal)); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes a password file with alice and bob whose SCRAM
// credentials are for the given passwords.
func writeFile(t *testing.T, path string, users ...[2]string) {
	t.Helper()
	f := password.NewFile()
	p := password.Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	for _, u := range users {
		h, err := password.Hash([]byte(u[1]), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Set(u[0], h); err != nil {
			t.Fatal(err)
		}
		var creds []password.SCRAMCredential
		for _, m := range Mechanisms() {
			c, err := password.NewSCRAMCredential(m, []byte(u[1]), password.MinSCRAMIterations)
			if err != nil {
				t.Fatal(err)
			}
			creds = append(creds, c)
		}
		if err := f.SetSCRAM(u[0], creds...); err != nil {
			t.Fatal(err)
		}
		if err := f.SetGroups(u[0], []string{"g-" + u[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordFile runs over a real password file and its reloads.
func TestPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	writeFile(t, path, [2]string{"alice", "one"})
	pa, err := password.New(path, password.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(pa, Options{})
	if err != nil {
		t.Fatal(err)
	}
	chain := auth.Chain{a, pa}
	chainLogin := func(c *Client) auth.Result {
		t.Helper()
		ctx := context.Background()
		req := &auth.Request{Version: packet.V5, Method: c.Mechanism, Data: c.First()}
		r0, who := chain.Authenticate(ctx, req)
		if r0.Decision != auth.Continue || who != "scram" {
			t.Fatalf("step 0 by %q: %v %q", who, r0.Decision, r0.Detail)
		}
		fin, err := c.Final(r0.Data)
		if err != nil {
			t.Fatal(err)
		}
		req.Data, req.State, req.Step = fin, r0.State, 1
		res, _ := chain.Authenticate(ctx, req)
		return res
	}
	for _, m := range Mechanisms() {
		res := chainLogin(&Client{Mechanism: m, User: "alice", Password: "one"})
		if res.Decision != auth.Allow || !slices.Equal(res.Identity.Groups, []string{"g-one"}) {
			t.Fatalf("%s: %v %q %+v", m, res.Decision, res.Detail, res.Identity)
		}
	}
	// A new password, and a new user, take effect on reload.
	writeFile(t, path, [2]string{"alice", "two"}, [2]string{"carol", "three"})
	if err := pa.Reload(); err != nil {
		t.Fatal(err)
	}
	wantDeny(t, chainLogin(&Client{Mechanism: password.SCRAMSHA256, User: "alice", Password: "one"}), packet.NotAuthorized, "wrong")
	if res := chainLogin(&Client{Mechanism: password.SCRAMSHA256, User: "alice", Password: "two"}); res.Decision != auth.Allow ||
		!slices.Equal(res.Identity.Groups, []string{"g-two"}) {
		t.Errorf("alice after reload: %v %q", res.Decision, res.Detail)
	}
	if res := chainLogin(&Client{Mechanism: password.SCRAMSHA512, User: "carol", Password: "three"}); res.Decision != auth.Allow {
		t.Errorf("carol after reload: %v %q", res.Decision, res.Detail)
	}

	// A reload between the two steps is noticed.
	c := &Client{Mechanism: password.SCRAMSHA512, User: "carol", Password: "three"}
	r0 := step0(t, a, c, c.First())
	writeFile(t, path, [2]string{"alice", "two"}, [2]string{"carol", "four"})
	if err := pa.Reload(); err != nil {
		t.Fatal(err)
	}
	fin, _ := c.Final(r0.Data)
	wantDeny(t, step1(t, a, c.Mechanism, r0, fin), packet.NotAuthorized, "changed during the exchange")

	// Without SCRAM credentials, carol looks unknown.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := password.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetSCRAM("carol"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := pa.Reload(); err != nil {
		t.Fatal(err)
	}
	res := login(t, a, &Client{Mechanism: password.SCRAMSHA512, User: "carol", Password: "four"})
	wantDeny(t, res, packet.NotAuthorized, "unknown user")
}

// credential derives what a server stores for password.
func credential(mech, pw string, salt []byte, iter int) password.SCRAMCredential {
	h := clientHash(mech)
	salted, err := pbkdf2.Key(h, pw, salt, iter, h().Size())
	if err != nil {
		panic(err)
	}
	clientKey := hmacOf(h, salted, "Client Key")
	d := h()
	d.Write(clientKey)
	return password.SCRAMCredential{
		Mechanism:  mech,
		Iterations: iter,
		Salt:       salt,
		StoredKey:  d.Sum(nil),
		ServerKey:  hmacOf(h, salted, "Server Key"),
	}
}
