package test

// Brute-force defence end to end: a guessing address is slowed down, then
// banned before any TLS or CONNECT work; other addresses are unaffected;
// the ban survives a restart and can be lifted.

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/testutil"
)

// writeUsers writes a password file holding users (name: password) hashed
// with argon2id at the lowest parameters Moat accepts, and returns its path.
func writeUsers(t testing.TB, users map[string]string) string {
	t.Helper()
	f := password.NewFile()
	p := password.DefaultParams()
	p.Memory, p.Time, p.Threads = 19*1024, 2, 1
	for name, pw := range users {
		testutil.Secret(pw) // never in a log or an audit record
		h, err := password.Hash([]byte(pw), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Set(name, h); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// loginResult is what one raw MQTT 5 login attempt saw.
type loginResult struct {
	code    byte // CONNACK reason code
	connack bool // false: closed without CONNACK (banned at accept)
	took    time.Duration
}

// login connects from local (a 127.0.0.0/8 address) as user with pw.
func login(t *testing.T, addr, local, user, pw string) loginResult {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitTimeout}
	start := time.Now()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	defer conn.Close()
	c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn), v5: true}
	c.sendMaybe(rawConnect{Version: 5, ClientID: "bf-" + user, Clean: true, Username: &user, Password: []byte(pw)}.bytes())
	p, err := c.read(10 * time.Second)
	took := time.Since(start)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("login from %s: no answer: %v", local, err)
		}
		return loginResult{took: took}
	}
	return loginResult{code: parseConnack(t, p, true).Code, connack: true, took: took}
}

func TestAuth_BruteForceDelaysThenBans(t *testing.T) {
	dataDir := t.TempDir()
	pwFile := writeUsers(t, map[string]string{"alice": "alice-secret", "bob": "bob-secret"})
	const maxDelay = 800 * time.Millisecond
	mutate := func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = pwFile
		c.DataDir = dataDir
		c.Auth.BruteForce.FreeFailures = 5
		c.Auth.BruteForce.BanAfter = 10
		c.Auth.BruteForce.MaxDelay = config.Duration(maxDelay)
	}
	addr, srv := testutil.Start(t, mutate)

	// 50 wrong passwords for alice from 127.0.0.1.
	for i := 1; i <= 50; i++ {
		r := login(t, addr, "127.0.0.1", "alice", "guess")
		switch {
		case i <= 10:
			if !r.connack || r.code != 0x86 {
				t.Fatalf("attempt %d: %+v, want CONNACK 0x86", i, r)
			}
			if i > 5 {
				// Failure n beyond the free ones waits 100ms * 2^(n-6), capped.
				want := min(100*time.Millisecond<<(i-6), maxDelay)
				if r.took < want {
					t.Fatalf("attempt %d refused after %v, want a delay of at least %v", i, r.took, want)
				}
			}
		default:
			if r.connack {
				t.Fatalf("attempt %d after the ban: got CONNACK %#x, want the connection dropped at accept", i, r.code)
			}
		}
	}
	// Another address logs in at once; the guessed account itself is banned
	// by name (the lockout trade-off documented in docs/authentication.md).
	if r := login(t, addr, "127.0.0.2", "bob", "bob-secret"); !r.connack || r.code != 0 || r.took >= maxDelay {
		t.Fatalf("bob from another address: %+v, want an immediate CONNACK 0", r)
	}
	if r := login(t, addr, "127.0.0.2", "alice", "alice-secret"); !r.connack || r.code != 0x8A {
		t.Fatalf("alice from another address: %+v, want CONNACK 0x8A (user name banned)", r)
	}

	// The bans survive a restart.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dataDir, "bans.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bans file: %v, mode %v; want 0600", err, st)
	}
	addr, srv = testutil.Start(t, mutate)
	if r := login(t, addr, "127.0.0.1", "bob", "bob-secret"); r.connack {
		t.Fatalf("banned address after restart: %+v, want the connection dropped", r)
	}
	if r := login(t, addr, "127.0.0.3", "bob", "bob-secret"); !r.connack || r.code != 0 {
		t.Fatalf("other address after restart: %+v", r)
	}

	// Lifting the ban in the file (as moat ban remove does) takes effect on
	// reload.
	other, err := limits.NewBruteForce(limits.BruteForceOptions{BansFile: filepath.Join(dataDir, "bans.json")})
	if err != nil {
		t.Fatal(err)
	}
	if !other.Unban("127.0.0.1") {
		t.Fatalf("127.0.0.1 not in the bans file: %+v", other.Bans())
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := login(t, addr, "127.0.0.1", "bob", "bob-secret"); !r.connack || r.code != 0 {
		t.Fatalf("after unban: %+v", r)
	}
}
