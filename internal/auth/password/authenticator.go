package password

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/fileversion"
	"github.com/moatmq/moat/internal/packet"
)

// Defaults for Options.
const (
	DefaultCacheTTL  = 5 * time.Minute
	DefaultCacheSize = 10000
)

// Options tune an Authenticator. The zero value is usable.
type Options struct {
	// MaxConcurrent bounds how many hash verifications run at once; a
	// request waits for a slot until its context ends. Zero means
	// GOMAXPROCS.
	MaxConcurrent int
	// CacheTTL is how long a successful verification is remembered, so that
	// a reconnecting client skips the hash. Zero means DefaultCacheTTL; a
	// negative value disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the success cache. Zero means DefaultCacheSize; a
	// negative value disables the cache.
	CacheSize int
	// DummyParams are the argon2id parameters of the hash verified for
	// unknown users while the file holds no user at all. Otherwise that
	// hash copies the scheme and cost of the file's most common hash, so
	// that an unknown user costs what a known one does. Zero means
	// DefaultParams.
	DummyParams Params
	// Logger receives file warnings and the outcome of reloads by Watch.
	// Nil means slog.Default().
	Logger *slog.Logger

	now func() time.Time // tests
}

// Authenticator checks CONNECT user names and passwords against a password
// file. It is safe for concurrent use. It serves from an immutable
// snapshot of the file that Reload swaps atomically; reloadMu only
// serializes reloads.
type Authenticator struct {
	path   string
	opts   Options
	log    *slog.Logger
	key    []byte        // per-process HMAC key for the success cache
	slots  chan struct{} // verification semaphore
	check  func(h *hash, password []byte) bool
	verifs atomic.Int64 // hash verifications run, for tests and metrics

	reloadMu sync.Mutex
	cur      atomic.Pointer[snapshot]
}

// snapshot is one loaded version of the file. It is never mutated.
type snapshot struct {
	users    map[string]user
	scram    map[string]scramShape // per mechanism, the most common shape
	dummy    *hash
	cache    *successCache
	stat     os.FileInfo
	warnings []string
}

type user struct {
	encoded string
	parsed  *hash
	groups  []string
	scram   []SCRAMCredential
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New loads the password file at path. It fails if the file does not
// load; file warnings are logged.
func New(path string, opts Options) (*Authenticator, error) {
	if opts.MaxConcurrent < 0 {
		return nil, errors.New("password: max concurrent verifications must not be negative")
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.DummyParams == (Params{}) {
		opts.DummyParams = DefaultParams()
	}
	if err := opts.DummyParams.Validate(); err != nil {
		return nil, fmt.Errorf("password: dummy params: %w", err)
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	a := &Authenticator{
		path:  path,
		opts:  opts,
		log:   opts.Logger,
		key:   make([]byte, 32),
		slots: make(chan struct{}, opts.MaxConcurrent),
		check: (*hash).check,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if _, err := rand.Read(a.key); err != nil {
		return nil, err
	}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Name implements auth.Authenticator.
func (a *Authenticator) Name() string { return "password" }

// Authenticate implements auth.Authenticator. It abstains when the client
// sent no user name or no password, or asked for enhanced authentication.
// It never returns an error: every failure is a Deny with its reason.
func (a *Authenticator) Authenticate(ctx context.Context, r *auth.Request) (auth.Result, error) {
	if r.Method != "" || !r.HasUsername || !r.HasPassword {
		return auth.Result{}, nil
	}
	s := a.cur.Load()
	u, known := s.users[r.Username]
	h, encoded := u.parsed, u.encoded
	if !known {
		h, encoded = s.dummy, ""
	}
	// Unknown users take the same steps as known ones, the cache look-up
	// included, and then fail.
	k := a.cacheKey(r.Username, r.Password, encoded)
	if known && s.cache.hit(k, a.opts.now()) {
		return a.allowCached(s, k, r.Username, u, "password cached"), nil
	}
	if err := ctx.Err(); err != nil {
		return busy(err), nil
	}
	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return busy(ctx.Err()), nil
	}
	// While this login waited for a slot, another login of the same user
	// and password may have verified it: a reconnect storm of one device
	// fleet costs one verification, not one per connection.
	if known && s.cache.hit(k, a.opts.now()) {
		<-a.slots
		return a.allowCached(s, k, r.Username, u, "password cached"), nil
	}
	a.verifs.Add(1)
	ok := a.check(h, r.Password)
	<-a.slots
	if !known {
		return auth.Result{Decision: auth.Deny, Reason: packet.BadUserNameOrPassword, Detail: "unknown user"}, nil
	}
	if !ok {
		return auth.Result{Decision: auth.Deny, Reason: packet.BadUserNameOrPassword, Detail: "wrong password"}, nil
	}
	s.cache.add(k, a.opts.now())
	detail := "password verified"
	if h.scheme.Legacy() {
		detail = "password verified against a legacy " + string(h.scheme) + " hash; rehash it with moat passwd"
	}
	return a.allowCached(s, k, r.Username, u, detail), nil
}

// allowCached allows and keeps k cached while the connection lasts.
func (a *Authenticator) allowCached(s *snapshot, k cacheKey, name string, u user, detail string) auth.Result {
	res := a.allow(name, u, detail)
	res.Release = s.cache.acquire(k, a.opts.now)
	return res
}

func (a *Authenticator) allow(name string, u user, detail string) auth.Result {
	return auth.Result{
		Decision: auth.Allow,
		Identity: &auth.Identity{Name: name, Groups: slices.Clone(u.groups), Method: "password"},
		Detail:   detail,
	}
}

func busy(err error) auth.Result {
	return auth.Result{Decision: auth.Deny, Reason: packet.ServerBusy, Detail: "no verification slot before the deadline: " + err.Error()}
}

// cacheKey binds user, password and the stored hash, NUL-separated (a user
// name holds no NUL, so the split is unambiguous).
func (a *Authenticator) cacheKey(name string, password []byte, encoded string) cacheKey {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(password)
	m.Write([]byte{0})
	m.Write([]byte(encoded))
	var k cacheKey
	m.Sum(k[:0])
	return k
}

// Reload reads the file again and, if it loads, serves from it with an
// empty success cache. On failure the previous version stays in force.
func (a *Authenticator) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	f, st, err := load(a.path)
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	s := &snapshot{
		users:    make(map[string]user, f.Len()),
		cache:    newSuccessCache(a.opts.CacheTTL, a.opts.CacheSize),
		stat:     st,
		warnings: f.Warnings(),
	}
	shapes := map[string]int{}
	var common *hash
	var creds [][]SCRAMCredential
	for _, l := range f.lines {
		if l.user == "" {
			continue
		}
		s.users[l.user] = user{encoded: l.hash, parsed: l.parsed, groups: l.groups, scram: l.scram}
		creds = append(creds, l.scram)
		sh := l.parsed.shape()
		shapes[sh]++
		if common == nil || shapes[sh] > shapes[common.shape()] {
			common = l.parsed
		}
	}
	s.scram = commonSCRAMShapes(creds)
	var dummy string
	if common != nil {
		dummy, err = dummyLike(common)
	} else {
		dummy, err = hashArgon2id([]byte("no user has this password"), a.opts.DummyParams)
	}
	if err == nil {
		s.dummy, err = parseHash(dummy)
	}
	if err != nil {
		return fmt.Errorf("password: dummy hash: %w", err)
	}
	for _, w := range s.warnings {
		a.log.Warn("password file warning", "path", a.path, "warning", w)
	}
	a.cur.Store(s)
	return nil
}

// SCRAM returns user's credential for the SCRAM mechanism (SCRAMSHA256 or
// SCRAMSHA512) and the user's groups, from the file in force, so that a
// reload applies to the next exchange. ok is false when the user is
// unknown or has no credential for mechanism. The results are copies.
func (a *Authenticator) SCRAM(user, mechanism string) (cred SCRAMCredential, groups []string, ok bool) {
	u, known := a.cur.Load().users[user]
	if !known {
		return SCRAMCredential{}, nil, false
	}
	for _, c := range u.scram {
		if c.Mechanism == mechanism {
			return c.clone(), slices.Clone(u.groups), true
		}
	}
	return SCRAMCredential{}, nil, false
}

// SCRAMShape returns the iteration count and salt length most of the file's
// credentials for mechanism have (the first in file order wins a tie), or
// zeros when no user has one. A SCRAM server shows it to unknown users, so
// that they look like known ones.
func (a *Authenticator) SCRAMShape(mechanism string) (iterations, saltLen int) {
	sh := a.cur.Load().scram[mechanism]
	return sh.iter, sh.saltLen
}

// Warnings returns the warnings of the file in force.
func (a *Authenticator) Warnings() []string { return slices.Clone(a.cur.Load().warnings) }

// Verifications returns how many hashes Authenticate has verified, unknown
// users' dummy verifications included and cache hits excluded.
func (a *Authenticator) Verifications() int64 { return a.verifs.Load() }

// Watch polls the file every interval and reloads it when its identity,
// modification time or size changed, until ctx ends. A reload that fails
// is logged and not retried until the file changes again.
func (a *Authenticator) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var tried os.FileInfo // last version a reload failed on
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(a.path)
		if err != nil {
			if err.Error() != lastErr {
				a.log.Warn("password file unreadable; keeping the loaded version", "path", a.path, "error", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if fileversion.Same(st, a.cur.Load().stat) || (tried != nil && fileversion.Same(st, tried)) {
			continue
		}
		if err := a.Reload(); err != nil {
			a.log.Error("password file reload failed; keeping the loaded version", "path", a.path, "error", err)
			tried = st
			continue
		}
		tried = nil
		a.log.Info("password file reloaded", "path", a.path, "users", len(a.cur.Load().users))
	}
}
