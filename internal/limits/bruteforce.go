package limits

import (
	"container/heap"
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// BruteForceOptions configures a BruteForce. Zero fields take the documented
// defaults; negative values are refused.
type BruteForceOptions struct {
	// Window is the sliding window in which failures are counted (default 10m).
	Window time.Duration
	// FreeFailures is how many failures an address (or a user name) may have
	// in the window before refusals are delayed (default 5).
	FreeFailures int
	// MaxDelay caps the delay before a refusal (default 5s).
	MaxDelay time.Duration
	// BanAfter is the number of failures in the window that bans (default 20).
	BanAfter int
	// BanFor is the length of a first automatic ban (default 15m); it doubles
	// with each repeat offence, up to MaxBan.
	BanFor time.Duration
	// MaxBan caps the length of an automatic ban (default 24h). An expired ban
	// is remembered as an offence for another MaxBan.
	MaxBan time.Duration
	// GlobalPerSecond is the ceiling on failed attempts per second across all
	// sources (default 200). While it is reached, Before refuses new attempts
	// with ConnectionRateExceeded.
	GlobalPerSecond int
	// MaxTracked bounds the tracked addresses and user names together, and
	// separately the ban list (default 100000). The least recently failing
	// entry (the earliest ending ban) is evicted first.
	MaxTracked int
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// BansFile is a JSON file holding the bans, loaded by NewBruteForce and
	// rewritten atomically (mode 0600) on every change. Empty: not persisted.
	BansFile string
	// OnBan, when set, hears of each ban the defence applies (target as
	// moat ban lists it, failures in the window). Called without locks.
	OnBan func(target string, failures int)
	// Logger receives persistence errors that have no caller to return to
	// (automatic bans). Nil: slog.Default().
	Logger *slog.Logger
}

// Ban is one entry of the ban list, as reported by BruteForce.Bans.
type Ban struct {
	// Target is an IP address, a CIDR prefix, or "user:NAME".
	Target string `json:"target"`
	// Until is when the ban ends.
	Until time.Time `json:"until"`
	// Reason says why the ban was set.
	Reason string `json:"reason"`
	// Offences counts the bans of this target that are still remembered.
	Offences int `json:"offences"`
}

// initialDelay is the delay after the first failure beyond FreeFailures,
// before doubling: failure n waits initialDelay * 2^(n-FreeFailures).
const initialDelay = 100 * time.Millisecond

// maxBanAfter bounds BanAfter, because each tracked entry keeps up to
// BanAfter failure times.
const maxBanAfter = 10000

// BruteForce slows down and bans sources of failed authentications: per
// address (IPv6 grouped by /64), per user name, and globally.
//
// Locking: mu guards every field below it. fileMu serialises writes of
// BansFile and is always taken before mu, never while holding it. Before and
// Accept take only mu's read lock.
type BruteForce struct {
	o   BruteForceOptions
	log *slog.Logger

	fileMu   sync.Mutex
	fileStat os.FileInfo // BansFile as last read or written; guarded by fileMu

	mu sync.RWMutex
	// tracked maps a failure source to its element in lru, whose value is a
	// *failures; the front of lru is the most recent failure.
	tracked map[trackKey]*list.Element
	lru     *list.List
	// ipBans and userBans hold active bans and expired ones still
	// remembered as offences; len(ipBans)+len(userBans) <= MaxTracked.
	ipBans   map[netip.Prefix]*banEntry
	userBans map[string]*banEntry
	// lens4 and lens6 count the IP bans per prefix length, so that a lookup
	// probes only the lengths in use.
	lens4 [33]int
	lens6 [129]int
	// byUntil orders every ban entry by its end, earliest first, for
	// pruning and eviction.
	byUntil banHeap
	// globalSec is the second counted by globalCur; globalPrev counts the
	// second before it.
	globalSec  int64
	globalCur  int
	globalPrev int
}

var _ Admission = (*BruteForce)(nil)

// trackKey names a failure source: an address prefix, or a user key.
type trackKey struct {
	prefix netip.Prefix
	user   string
}

// failures holds the failure times of one source in the window, oldest
// first, in Unix nanoseconds; len(times) < BanAfter.
type failures struct {
	key   trackKey
	times []int64
}

type banEntry struct {
	target   string
	prefix   netip.Prefix // valid for an IP ban
	user     string       // user key for a user ban
	until    time.Time
	reason   string
	offences int
	index    int // position in byUntil
}

// NewBruteForce validates o, fills in defaults and loads o.BansFile when set.
// A bans file that cannot be read or parsed is an error naming the file; a
// missing one is an empty ban list.
func NewBruteForce(o BruteForceOptions) (*BruteForce, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	b := &BruteForce{
		o:        o,
		log:      o.Logger,
		tracked:  make(map[trackKey]*list.Element),
		lru:      list.New(),
		ipBans:   make(map[netip.Prefix]*banEntry),
		userBans: make(map[string]*banEntry),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if o.BansFile != "" {
		b.fileMu.Lock()
		err := b.load()
		b.fileMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (o *BruteForceOptions) setDefaults() error {
	var errs []error
	durs := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"window", &o.Window, 10 * time.Minute},
		{"max_delay", &o.MaxDelay, 5 * time.Second},
		{"ban_for", &o.BanFor, 15 * time.Minute},
		{"max_ban", &o.MaxBan, 24 * time.Hour},
	}
	for _, d := range durs {
		if *d.v < 0 {
			errs = append(errs, fmt.Errorf("limits: brute force %s must not be negative", d.name))
		} else if *d.v == 0 {
			*d.v = d.def
		}
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"free_failures", &o.FreeFailures, 5},
		{"ban_after", &o.BanAfter, 20},
		{"global_per_second", &o.GlobalPerSecond, 200},
		{"max_tracked", &o.MaxTracked, 100000},
	}
	for _, n := range ints {
		if *n.v < 0 {
			errs = append(errs, fmt.Errorf("limits: brute force %s must not be negative", n.name))
		} else if *n.v == 0 {
			*n.v = n.def
		}
	}
	if o.BanAfter > maxBanAfter {
		errs = append(errs, fmt.Errorf("limits: brute force ban_after must be at most %d", maxBanAfter))
	}
	if o.MaxBan < o.BanFor {
		errs = append(errs, errors.New("limits: brute force max_ban must not be shorter than ban_for"))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return errors.Join(errs...)
}

// Before runs after CONNECT is decoded, before authentication. It returns
// packet.Banned for a banned address or user name,
// packet.ConnectionRateExceeded while the global failure ceiling is reached,
// and 0 otherwise. It takes only the read lock.
func (b *BruteForce) Before(addr netip.Addr, user string) packet.ReasonCode {
	now := b.o.Now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.addrBannedLocked(addr, now) {
		return packet.Banned
	}
	if user != "" {
		if e := b.userBans[userKey(user)]; e != nil && now.Before(e.until) {
			return packet.Banned
		}
	}
	if b.globalRateLocked(now) >= float64(b.o.GlobalPerSecond) {
		return packet.ConnectionRateExceeded
	}
	return 0
}

// Failed records a failed authentication from addr for user (either may be
// empty or invalid) and returns how long to wait before sending the refusal.
// It bans the address prefix, and the user name, whose failures in the window
// reach BanAfter.
func (b *BruteForce) Failed(addr netip.Addr, user string) time.Duration {
	now := b.o.Now()
	n := 0
	var banned []string
	b.mu.Lock()
	b.countGlobalLocked(now)
	if p, ok := addrPrefix(addr); ok {
		c, ban := b.failLocked(trackKey{prefix: p}, now)
		n = max(n, c)
		if ban {
			b.autoBanLocked(prefixTarget(p), p, "", c, now)
			banned = append(banned, prefixTarget(p))
		}
	}
	if user != "" {
		k := userKey(user)
		c, ban := b.failLocked(trackKey{user: k}, now)
		n = max(n, c)
		if ban {
			b.autoBanLocked(k, netip.Prefix{}, k, c, now)
			banned = append(banned, k)
		}
	}
	b.mu.Unlock()
	if len(banned) > 0 {
		b.log.Warn("brute-force ban applied", "address", addr.String(), "user_failures", n)
		if b.o.OnBan != nil {
			for _, t := range banned {
				b.o.OnBan(t, n)
			}
		}
		if err := b.save(); err != nil {
			b.log.Error("limits: cannot persist bans", "file", b.o.BansFile, "err", err)
		}
	}
	return b.delay(n)
}

// Succeeded clears the failure counts of addr and user. Bans stay.
func (b *BruteForce) Succeeded(addr netip.Addr, user string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := addrPrefix(addr); ok {
		b.forgetLocked(trackKey{prefix: p})
	}
	if user != "" {
		b.forgetLocked(trackKey{user: userKey(user)})
	}
}

// Accept implements Admission: false for a banned address, so that banned
// clients are dropped before any TLS work.
func (b *BruteForce) Accept(_ string, remote netip.AddrPort) bool {
	now := b.o.Now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	return !b.addrBannedLocked(remote.Addr(), now)
}

// Released implements Admission.
func (b *BruteForce) Released(string, netip.AddrPort) {}

// Connect implements Admission with Before.
func (b *BruteForce) Connect(c *Client) packet.ReasonCode {
	return b.Before(c.Remote.Addr(), c.Username)
}

// Authenticated implements Admission: a successful authentication clears the
// failure counts, as Succeeded.
func (b *BruteForce) Authenticated(c *Client) packet.ReasonCode {
	b.Succeeded(c.Remote.Addr(), c.Username)
	return 0
}

// AuthFailed implements Admission with Failed, for the client's address and
// the user name it sent.
func (b *BruteForce) AuthFailed(c *Client) time.Duration {
	return b.Failed(c.Remote.Addr(), c.Username)
}

// Closed implements Admission; BruteForce counts no connections.
func (b *BruteForce) Closed(*Client) {}

// delay is the wait before refusing the n-th failure in the window.
func (b *BruteForce) delay(n int) time.Duration {
	over := n - b.o.FreeFailures
	if over <= 0 {
		return 0
	}
	if over >= 30 { // 100ms<<30 is years; beyond it the shift overflows
		return b.o.MaxDelay
	}
	return min(initialDelay<<over, b.o.MaxDelay)
}

// failLocked records a failure of k at now and returns its count in the
// window and whether that count reaches BanAfter, in which case the record
// is dropped (the ban takes over).
func (b *BruteForce) failLocked(k trackKey, now time.Time) (int, bool) {
	t := now.UnixNano()
	cut := now.Add(-b.o.Window).UnixNano()
	var f *failures
	if el := b.tracked[k]; el != nil {
		f = el.Value.(*failures)
		b.lru.MoveToFront(el)
	} else {
		f = &failures{key: k}
		b.tracked[k] = b.lru.PushFront(f)
		for b.lru.Len() > b.o.MaxTracked {
			old := b.lru.Back()
			delete(b.tracked, old.Value.(*failures).key)
			b.lru.Remove(old)
		}
	}
	i := 0
	for i < len(f.times) && f.times[i] <= cut {
		i++
	}
	f.times = append(f.times[i:], t)
	n := len(f.times)
	if n >= b.o.BanAfter {
		b.forgetLocked(k)
		return n, true
	}
	return n, false
}

func (b *BruteForce) forgetLocked(k trackKey) {
	if el := b.tracked[k]; el != nil {
		delete(b.tracked, k)
		b.lru.Remove(el)
	}
}

// countGlobalLocked counts one failure in the global per-second buckets.
func (b *BruteForce) countGlobalLocked(now time.Time) {
	sec := now.Unix()
	switch {
	case sec == b.globalSec:
	case sec == b.globalSec+1:
		b.globalSec, b.globalPrev, b.globalCur = sec, b.globalCur, 0
	default:
		b.globalSec, b.globalPrev, b.globalCur = sec, 0, 0
	}
	b.globalCur++
}

// globalRateLocked estimates the failures in the second ending at now,
// weighting the previous second by the part of it still in that window.
func (b *BruteForce) globalRateLocked(now time.Time) float64 {
	sec := now.Unix()
	rest := 1 - float64(now.Nanosecond())/1e9
	switch sec {
	case b.globalSec:
		return float64(b.globalCur) + float64(b.globalPrev)*rest
	case b.globalSec + 1:
		return float64(b.globalCur) * rest
	}
	return 0
}

// addrBannedLocked reports whether an active ban covers addr.
func (b *BruteForce) addrBannedLocked(addr netip.Addr, now time.Time) bool {
	if !addr.IsValid() {
		return false
	}
	a := addr.Unmap().WithZone("")
	lens := b.lens6[:]
	if a.Is4() {
		lens = b.lens4[:]
	}
	for bits, n := range lens {
		if n == 0 {
			continue
		}
		p, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if e := b.ipBans[p]; e != nil && now.Before(e.until) {
			return true
		}
	}
	return false
}

// autoBanLocked bans a target that reached BanAfter failures; the length
// doubles with each remembered offence, up to MaxBan.
func (b *BruteForce) autoBanLocked(target string, p netip.Prefix, user string, n int, now time.Time) {
	offences := b.offencesLocked(p, user, now) + 1
	d := b.o.BanFor
	for i := 1; i < offences && d < b.o.MaxBan; i++ {
		d *= 2
	}
	d = min(d, b.o.MaxBan)
	reason := fmt.Sprintf("%d failed authentications within %s", n, b.o.Window)
	b.setBanLocked(&banEntry{target: target, prefix: p, user: user, until: now.Add(d), reason: reason, offences: offences}, now)
}

// offencesLocked is the number of remembered offences of a target.
func (b *BruteForce) offencesLocked(p netip.Prefix, user string, now time.Time) int {
	if e := b.lookupLocked(p, user); e != nil && !b.forgotten(e, now) {
		return e.offences
	}
	return 0
}

func (b *BruteForce) lookupLocked(p netip.Prefix, user string) *banEntry {
	if p.IsValid() {
		return b.ipBans[p]
	}
	return b.userBans[user]
}

// setBanLocked stores e, replacing the entry for the same target, and keeps
// the ban list within MaxTracked by dropping forgotten offences and then the
// earliest ending bans.
func (b *BruteForce) setBanLocked(e *banEntry, now time.Time) {
	if old := b.lookupLocked(e.prefix, e.user); old != nil {
		b.removeBanLocked(old)
	}
	if len(b.byUntil) >= b.o.MaxTracked {
		b.pruneBansLocked(now)
	}
	for len(b.byUntil) >= b.o.MaxTracked {
		b.removeBanLocked(b.byUntil[0])
	}
	if e.prefix.IsValid() {
		b.ipBans[e.prefix] = e
		b.lensFor(e.prefix)[e.prefix.Bits()]++
	} else {
		b.userBans[e.user] = e
	}
	heap.Push(&b.byUntil, e)
}

func (b *BruteForce) removeBanLocked(e *banEntry) {
	if e.prefix.IsValid() {
		delete(b.ipBans, e.prefix)
		b.lensFor(e.prefix)[e.prefix.Bits()]--
	} else {
		delete(b.userBans, e.user)
	}
	heap.Remove(&b.byUntil, e.index)
}

func (b *BruteForce) lensFor(p netip.Prefix) []int {
	if p.Addr().Is4() {
		return b.lens4[:]
	}
	return b.lens6[:]
}

// pruneBansLocked drops the expired bans whose offence is no longer
// remembered (MaxBan after they ended); they end earliest, so they sit at
// the top of byUntil.
func (b *BruteForce) pruneBansLocked(now time.Time) {
	for len(b.byUntil) > 0 && b.forgotten(b.byUntil[0], now) {
		b.removeBanLocked(b.byUntil[0])
	}
}

func (b *BruteForce) forgotten(e *banEntry, now time.Time) bool {
	return !now.Before(e.until.Add(b.o.MaxBan))
}

// banHeap is a min-heap of ban entries by until (container/heap).
type banHeap []*banEntry

func (h banHeap) Len() int           { return len(h) }
func (h banHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h banHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *banHeap) Push(x any) {
	e := x.(*banEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *banHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
