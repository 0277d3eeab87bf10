package password

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// writePasswd writes content to path with mode 0600.
func writePasswd(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newTestAuth writes a file with alice (password "alice-pw", groups ops and
// dev) and bob ("bob-pw"), hashed with cheap parameters, and returns an
// Authenticator over it.
func newTestAuth(t testing.TB, opts Options) (*Authenticator, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, path, "# test users\nalice:"+tinyHash(t, "alice-pw")+":ops,dev\nbob:"+tinyHash(t, "bob-pw")+"\n")
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	a, err := New(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a, path
}

func req(user, pw string) *auth.Request {
	return &auth.Request{Username: user, HasUsername: true, Password: []byte(pw), HasPassword: true, Version: packet.V5}
}

func TestAuthenticateDecisions(t *testing.T) {
	a, _ := newTestAuth(t, Options{CacheTTL: -1})
	ctx := t.Context()
	if a.Name() != "password" {
		t.Errorf("Name() = %q", a.Name())
	}

	abstain := map[string]*auth.Request{
		"no user name": {Password: []byte("alice-pw"), HasPassword: true},
		"no password":  {Username: "alice", HasUsername: true},
		"enhanced":     {Username: "alice", HasUsername: true, Password: []byte("alice-pw"), HasPassword: true, Method: "SCRAM-SHA-256"},
	}
	for name, r := range abstain {
		res, err := a.Authenticate(ctx, r)
		if err != nil || res.Decision != auth.Abstain {
			t.Errorf("%s: %v, %v; want abstain", name, res.Decision, err)
		}
	}
	if n := a.Verifications(); n != 0 {
		t.Errorf("abstaining ran %d verifications", n)
	}

	res, err := a.Authenticate(ctx, req("alice", "alice-pw"))
	if err != nil || res.Decision != auth.Allow {
		t.Fatalf("alice: %v, %v (%s); want allow", res.Decision, err, res.Detail)
	}
	want := auth.Identity{Name: "alice", Groups: []string{"ops", "dev"}, Method: "password"}
	if id := res.Identity; id == nil || id.Name != want.Name || !slices.Equal(id.Groups, want.Groups) || id.Method != want.Method || id.Anonymous {
		t.Errorf("identity %+v, want %+v", res.Identity, want)
	}

	deny := map[string]*auth.Request{
		"wrong password":    req("alice", "bob-pw"),
		"empty password":    req("alice", ""),
		"unknown user":      req("mallory", "alice-pw"),
		"user name case":    req("Alice", "alice-pw"),
		"name with colon":   req("alice:x", "alice-pw"),
		"other's password":  req("bob", "alice-pw"),
		"password prefixed": req("alice", "alice-pw\x00"),
	}
	for name, r := range deny {
		before := a.Verifications()
		res, err := a.Authenticate(ctx, r)
		if err != nil || res.Decision != auth.Deny || res.Reason != packet.BadUserNameOrPassword {
			t.Errorf("%s: %v %v, %v; want deny 0x86", name, res.Decision, res.Reason, err)
		}
		// Unknown users cost a verification like known ones.
		if got := a.Verifications() - before; got != 1 {
			t.Errorf("%s: %d verifications, want 1", name, got)
		}
	}

	// Through the chain: the password method decides before anonymous.
	chain := auth.Chain{a, auth.Anonymous{}}
	if res, by := chain.Authenticate(ctx, req("bob", "nope")); res.Decision != auth.Deny || by != "password" {
		t.Errorf("chain: %v by %q; want deny by password", res.Decision, by)
	}
	if res, by := chain.Authenticate(ctx, &auth.Request{}); res.Decision != auth.Allow || by != "anonymous" {
		t.Errorf("chain without credentials: %v by %q; want allow by anonymous", res.Decision, by)
	}
}

func TestUnknownUserDummyMirrorsFile(t *testing.T) {
	a, _ := newTestAuth(t, Options{})
	s := a.cur.Load()
	if got, want := s.dummy.shape(), s.users["alice"].parsed.shape(); got != want {
		t.Errorf("dummy shape %q, want the users' %q", got, want)
	}
	// An empty file falls back to DummyParams.
	path := filepath.Join(t.TempDir(), "empty")
	writePasswd(t, path, "# nobody\n")
	b, err := New(path, Options{Logger: quiet, DummyParams: floorParams})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.cur.Load().dummy.params; got != floorParams {
		t.Errorf("empty file dummy params %+v, want %+v", got, floorParams)
	}
	res, _ := b.Authenticate(t.Context(), req("anyone", "pw"))
	if res.Decision != auth.Deny || res.Reason != packet.BadUserNameOrPassword || b.Verifications() != 1 {
		t.Errorf("empty file: %v %v after %d verifications", res.Decision, res.Reason, b.Verifications())
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestSuccessCache(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	a, path := newTestAuth(t, Options{CacheTTL: time.Minute, now: clock.now})
	ctx := t.Context()
	mustAllow := func(user, pw string, wantVerifs int64) {
		t.Helper()
		res, err := a.Authenticate(ctx, req(user, pw))
		if err != nil || res.Decision != auth.Allow {
			t.Fatalf("%s: %v, %v (%s); want allow", user, res.Decision, err, res.Detail)
		}
		if got := a.Verifications(); got != wantVerifs {
			t.Fatalf("%s: %d verifications so far, want %d", user, got, wantVerifs)
		}
		res.Release() // the connection ends at once
	}
	mustAllow("alice", "alice-pw", 1)
	mustAllow("alice", "alice-pw", 1) // hit
	mustAllow("alice", "alice-pw", 1) // hit
	mustAllow("bob", "bob-pw", 2)

	// A wrong password is never a hit and never cached.
	for range 2 {
		if res, _ := a.Authenticate(ctx, req("alice", "alice-pw!")); res.Decision != auth.Deny {
			t.Fatal("wrong password allowed after a cached success")
		}
	}
	mustAllow("alice", "alice-pw", 4)

	// Entries expire.
	clock.advance(time.Minute)
	mustAllow("alice", "alice-pw", 5)
	mustAllow("alice", "alice-pw", 5)

	// A reload empties the cache, even if nothing changed.
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	mustAllow("alice", "alice-pw", 6)
	mustAllow("alice", "alice-pw", 6)

	// A changed password: the old one fails, the new one is verified.
	writePasswd(t, path, "alice:"+tinyHash(t, "new-pw")+"\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if res, _ := a.Authenticate(ctx, req("alice", "alice-pw")); res.Decision != auth.Deny {
		t.Fatal("old password allowed after the hash changed")
	}
	mustAllow("alice", "new-pw", 8)
	mustAllow("alice", "new-pw", 8)
}

// TestCacheKeepsCredentialsInUse: a credential stays cached while a
// connection it admitted is open, however long, and for the TTL after the
// last such connection ended: a fleet connected for days that reconnects at
// once is not verified again.
func TestCacheKeepsCredentialsInUse(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	a, _ := newTestAuth(t, Options{CacheTTL: time.Minute, now: clock.now})
	login := func(wantVerifs int64) auth.Result {
		t.Helper()
		res, err := a.Authenticate(t.Context(), req("alice", "alice-pw"))
		if err != nil || res.Decision != auth.Allow || res.Release == nil {
			t.Fatalf("%v, %v (%s), release %v; want allow with a release", res.Decision, err, res.Detail, res.Release != nil)
		}
		if got := a.Verifications(); got != wantVerifs {
			t.Fatalf("%d verifications so far, want %d", got, wantVerifs)
		}
		return res
	}
	first := login(1)
	clock.advance(24 * time.Hour) // connected for a day
	second := login(1)            // in use: still cached
	first.Release()
	first.Release() // a second call changes nothing
	clock.advance(2 * time.Minute)
	third := login(1) // second still open
	second.Release()
	third.Release()
	clock.advance(59 * time.Second)
	login(1).Release() // within the TTL after the last one ended
	clock.advance(time.Minute)
	login(2) // the TTL ran out: verified again

	// A wrong password is not helped by a credential in use.
	if res, _ := a.Authenticate(t.Context(), req("alice", "alice-pw!")); res.Decision != auth.Deny {
		t.Fatal("a wrong password was allowed while the right one is in use")
	}
	// A reload forgets credentials in use, as it forgets the rest.
	held := login(3)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	login(4)
	held.Release()
}

func TestCacheKeyBindsStoredHash(t *testing.T) {
	a, _ := newTestAuth(t, Options{})
	h1, h2 := tinyHash(t, "pw"), tinyHash(t, "pw")
	keys := map[cacheKey]string{}
	for name, k := range map[string]cacheKey{
		"base":         a.cacheKey("alice", []byte("pw"), h1),
		"other hash":   a.cacheKey("alice", []byte("pw"), h2),
		"other user":   a.cacheKey("alicf", []byte("pw"), h1),
		"shifted NUL":  a.cacheKey("alice\x00pw", nil, h1),
		"other passwd": a.cacheKey("alice", []byte("pX"), h1),
	} {
		if prev, dup := keys[k]; dup {
			t.Errorf("%s and %s share a cache key", name, prev)
		}
		keys[k] = name
	}
	b, _ := newTestAuth(t, Options{})
	if a.cacheKey("alice", []byte("pw"), h1) == b.cacheKey("alice", []byte("pw"), h1) {
		t.Error("two authenticators share an HMAC key")
	}
}

func TestSuccessCacheBounded(t *testing.T) {
	c := newSuccessCache(time.Hour, 3)
	now := time.Unix(0, 0)
	key := func(i byte) cacheKey { return cacheKey{i} }
	for i := range byte(5) {
		c.add(key(i), now)
	}
	if n := c.len(); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if got := c.hit(key(byte(i)), now); got != want {
			t.Errorf("hit(%d) = %v, want %v (oldest evicted first)", i, got, want)
		}
	}
	if newSuccessCache(-1, 10) != nil || newSuccessCache(time.Minute, -1) != nil {
		t.Error("a negative TTL or size does not disable the cache")
	}
	var off *successCache
	off.add(key(1), now)
	if off.hit(key(1), now) {
		t.Error("a disabled cache hit")
	}
}

// gate is a fake check that blocks until released and records how many
// run at once.
type gate struct {
	release  chan struct{}
	inflight atomic.Int32
	max      atomic.Int32
}

func (g *gate) check(*hash, []byte) bool {
	n := g.inflight.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	<-g.release
	g.inflight.Add(-1)
	return true
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrencyBound(t *testing.T) {
	a, _ := newTestAuth(t, Options{MaxConcurrent: 2, CacheTTL: -1})
	g := &gate{release: make(chan struct{})}
	a.check = g.check
	const clients = 8
	var wg sync.WaitGroup
	results := make(chan auth.Decision, clients)
	for range clients {
		wg.Go(func() {
			res, _ := a.Authenticate(t.Context(), req("alice", "alice-pw"))
			results <- res.Decision
		})
	}
	waitFor(t, "two verifications in flight", func() bool { return g.inflight.Load() == 2 })
	for range clients {
		g.release <- struct{}{}
	}
	wg.Wait()
	close(results)
	for d := range results {
		if d != auth.Allow {
			t.Errorf("decision %v, want allow", d)
		}
	}
	if m := g.max.Load(); m != 2 {
		t.Errorf("at most %d verifications ran at once, want 2", m)
	}
}

func TestWaitRespectsContext(t *testing.T) {
	a, _ := newTestAuth(t, Options{MaxConcurrent: 1, CacheTTL: -1})
	g := &gate{release: make(chan struct{})}
	a.check = g.check
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Authenticate(t.Context(), req("alice", "alice-pw"))
	}()
	waitFor(t, "the slot taken", func() bool { return g.inflight.Load() == 1 })

	// Waiting for the slot, then the deadline passes.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	res, err := a.Authenticate(ctx, req("bob", "bob-pw"))
	if err != nil || res.Decision != auth.Deny || res.Reason != packet.ServerBusy {
		t.Errorf("waiting past the deadline: %v %v, %v; want deny ServerBusy", res.Decision, res.Reason, err)
	}
	// Already cancelled: no wait at all, even for an unknown user.
	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	res, _ = a.Authenticate(cancelled, req("mallory", "x"))
	if res.Decision != auth.Deny || res.Reason != packet.ServerBusy {
		t.Errorf("cancelled context: %v %v; want deny ServerBusy", res.Decision, res.Reason)
	}
	g.release <- struct{}{}
	<-done
	if n := g.max.Load(); n != 1 {
		t.Errorf("%d verifications ran at once, want 1", n)
	}
}

func TestReloadKeepsOldOnFailure(t *testing.T) {
	a, path := newTestAuth(t, Options{CacheTTL: -1})
	writePasswd(t, path, "alice:plaintext\n")
	if err := a.Reload(); err == nil {
		t.Fatal("Reload of a bad file succeeded")
	}
	if res, _ := a.Authenticate(t.Context(), req("alice", "alice-pw")); res.Decision != auth.Allow {
		t.Errorf("after a failed reload: %v; want the old file in force", res.Decision)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if _, err := New(path, Options{Logger: quiet}); err == nil {
		t.Error("New on a missing file succeeded")
	}
}

func TestWatchReloads(t *testing.T) {
	a, path := newTestAuth(t, Options{CacheTTL: -1})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, 5*time.Millisecond)
	}()
	allowed := func(user, pw string) bool {
		res, _ := a.Authenticate(t.Context(), req(user, pw))
		return res.Decision == auth.Allow
	}

	// A broken file is not applied.
	writePasswd(t, path, "carol:plaintext-and-more-bytes\n")
	// A good file replacing it atomically (new inode) is.
	tmp := path + ".new"
	writePasswd(t, tmp, "carol:"+tinyHash(t, "carol-pw")+"\n")
	if !allowed("alice", "alice-pw") {
		t.Fatal("the broken file was applied")
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "carol after the reload", func() bool { return allowed("carol", "carol-pw") })
	if allowed("alice", "alice-pw") {
		t.Error("alice still allowed after the reload removed her")
	}
	cancel()
	<-done
}

func TestNewRejectsBadOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, path, "")
	if _, err := New(path, Options{MaxConcurrent: -1}); err == nil {
		t.Error("negative MaxConcurrent accepted")
	}
	if _, err := New(path, Options{DummyParams: tinyParams}); err == nil {
		t.Error("dummy params below the floor accepted")
	}
}

// BenchmarkAuthenticate compares a known user with a wrong password and an
// unknown user, with DefaultParams hashes and no cache: the two should
// cost the same. The two are timed alternately in the same loop, so that
// the machine's noise hits both alike; it reports known-ns, unknown-ns and
// their ratio. It reports, it does not assert.
func BenchmarkAuthenticate(b *testing.B) {
	path := filepath.Join(b.TempDir(), "passwd")
	enc, err := Hash([]byte("right"), DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	writePasswd(b, path, "alice:"+enc+"\n")
	a, err := New(path, Options{CacheTTL: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	known, unknown := req("alice", "wrong"), req("mallory", "wrong")
	var tk, tu time.Duration
	order := []*auth.Request{known, unknown}
	for b.Loop() {
		order[0], order[1] = order[1], order[0] // neither always goes first
		for _, r := range order {
			start := time.Now()
			res, _ := a.Authenticate(b.Context(), r)
			if res.Decision != auth.Deny {
				b.Fatal("allowed")
			}
			if r == known {
				tk += time.Since(start)
			} else {
				tu += time.Since(start)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(tk.Nanoseconds())/n, "known-ns")
	b.ReportMetric(float64(tu.Nanoseconds())/n, "unknown-ns")
	b.ReportMetric(float64(tu)/float64(tk), "unknown/known")
}

// A herd of concurrent first logins of one user costs as many
// verifications as there are slots at most, not one per login: waiters
// find the cache filled when their turn comes.
func TestAuthenticateHerdSharesVerification(t *testing.T) {
	// The default (slow) parameters, so that the logins overlap.
	h, err := Hash([]byte("alice-pw"), DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "passwd")
	writePasswd(t, path, "alice:"+h+"\n")
	a, err := New(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := a.Authenticate(t.Context(), req("alice", "alice-pw")); err != nil || res.Decision != auth.Allow {
				t.Errorf("alice: %v, %v", res.Decision, err)
			}
		}()
	}
	wg.Wait()
	if got, most := a.Verifications(), int64(runtime.GOMAXPROCS(0)); got > most {
		t.Fatalf("%d verifications for %d concurrent logins of one user, want at most %d (the slots)", got, n, most)
	}
}

// TestCacheInUseBounded: the entries held for open connections go away
// with their connections, and releasing one twice cannot take another's.
func TestCacheInUseBounded(t *testing.T) {
	c := newSuccessCache(time.Minute, 10)
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	var releases []func()
	for i := range 100 {
		releases = append(releases, c.acquire(cacheKey{byte(i)}, now), c.acquire(cacheKey{byte(i)}, now))
	}
	if n := len(c.inUse); n != 100 {
		t.Fatalf("%d keys in use, want 100", n)
	}
	releases[0]()
	releases[0]() // once only: the other connection of key 0 still holds it
	if c.inUse[cacheKey{0}] != 1 {
		t.Fatalf("key 0 held by %d connections after one release twice, want 1", c.inUse[cacheKey{0}])
	}
	for _, r := range releases {
		r()
	}
	if n := len(c.inUse); n != 0 {
		t.Fatalf("%d keys still in use after every connection ended", n)
	}
	if n := c.len(); n > 10 {
		t.Fatalf("%d entries after release, more than the cache's size 10", n)
	}
}
