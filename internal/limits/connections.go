package limits

import (
	"net/netip"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// ConnectionLimits bound connections at accept, before any TLS work. A
// zero field means no bound.
type ConnectionLimits struct {
	// Max bounds open connections, all listeners together.
	Max int
	// MaxPerAddress bounds open connections from one source (see
	// SourceKey).
	MaxPerAddress int
	// Rate and Burst bound new connections per second, all sources
	// together (a token bucket).
	Rate  float64
	Burst int
	// RatePerAddress and BurstPerAddress bound new connections per second
	// from one source.
	RatePerAddress  float64
	BurstPerAddress int
}

// MaxTrackedSources bounds the sources the per-address limits remember.
// Beyond it, new sources share one overflow entry, so that an attacker
// with many addresses cannot grow memory.
const MaxTrackedSources = 1 << 18

// SourceKey is the unit of the per-address limits: the IPv4 address, or
// the IPv6 /64 prefix (what one site or host is usually given).
func SourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// overflowKey is the shared entry of sources beyond MaxTrackedSources.
var overflowKey = netip.PrefixFrom(netip.IPv6Unspecified(), 0)

// Connections enforces ConnectionLimits. Its lock guards the counters and
// the per-source map; a check is a map lookup and some arithmetic.
type Connections struct {
	now      func() time.Time
	onRefuse func(listener string, remote netip.AddrPort, reason string)

	mu      sync.Mutex
	lim     ConnectionLimits
	open    int
	global  bucket
	sources map[netip.Prefix]*source
	sweepAt time.Time
}

type source struct {
	open int
	rate bucket
}

// bucket is a token bucket; its zero value is full once initialised.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b at rate up to burst and takes one token if there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens, b.last = float64(burst), now
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(float64(burst), b.tokens+dt*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether b would be full at now.
func (b *bucket) full(now time.Time, rate float64, burst int) bool {
	return b.last.IsZero() || b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst)
}

var _ Admission = (*Connections)(nil)

// NewConnections enforces lim. onRefuse (may be nil) hears of each
// refusal; now (nil: time.Now) is the clock.
func NewConnections(lim ConnectionLimits, now func() time.Time, onRefuse func(listener string, remote netip.AddrPort, reason string)) *Connections {
	if now == nil {
		now = time.Now
	}
	return &Connections{lim: lim, now: now, onRefuse: onRefuse, sources: make(map[netip.Prefix]*source)}
}

// Update replaces the limits; open connections beyond a lowered bound
// stay, new ones wait until the count is below it.
func (c *Connections) Update(lim ConnectionLimits) {
	c.mu.Lock()
	c.lim = lim
	c.mu.Unlock()
}

// Open reports the connections admitted and not yet released.
func (c *Connections) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Accept implements Admission.
func (c *Connections) Accept(listener string, remote netip.AddrPort) bool {
	reason := c.accept(remote.Addr())
	if reason == "" {
		return true
	}
	if c.onRefuse != nil {
		c.onRefuse(listener, remote, reason)
	}
	return false
}

func (c *Connections) accept(a netip.Addr) string {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &c.lim
	if l.Max > 0 && c.open >= l.Max {
		return "too many connections"
	}
	src := c.sourceLocked(SourceKey(a), now)
	if l.MaxPerAddress > 0 && src.open >= l.MaxPerAddress {
		return "too many connections from this address"
	}
	if l.RatePerAddress > 0 && !src.rate.take(now, l.RatePerAddress, max(l.BurstPerAddress, 1)) {
		return "connection rate from this address exceeded"
	}
	if l.Rate > 0 && !c.global.take(now, l.Rate, max(l.Burst, 1)) {
		return "connection rate exceeded"
	}
	c.open++
	src.open++
	return ""
}

// sourceLocked returns the entry of key, creating it; at the bound it
// first forgets idle sources (no open connection, bucket refilled), and
// failing that returns the shared overflow entry.
func (c *Connections) sourceLocked(key netip.Prefix, now time.Time) *source {
	if s, ok := c.sources[key]; ok {
		return s
	}
	if len(c.sources) >= MaxTrackedSources && now.After(c.sweepAt) {
		c.sweepLocked(now)
		c.sweepAt = now.Add(time.Second) // at most one full sweep a second
	}
	if len(c.sources) >= MaxTrackedSources {
		key = overflowKey
		if s, ok := c.sources[key]; ok {
			return s
		}
	}
	s := &source{}
	c.sources[key] = s
	return s
}

// sweepLocked forgets sources that hold nothing.
func (c *Connections) sweepLocked(now time.Time) {
	for k, s := range c.sources {
		if s.open == 0 && s.rate.full(now, c.lim.RatePerAddress, max(c.lim.BurstPerAddress, 1)) {
			delete(c.sources, k)
		}
	}
}

// Released implements Admission.
func (c *Connections) Released(_ string, remote netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	key := SourceKey(remote.Addr())
	s, ok := c.sources[key]
	if !ok {
		key = overflowKey
		s, ok = c.sources[key]
	}
	if !ok {
		return
	}
	s.open--
	if s.open <= 0 && s.rate.full(c.now(), c.lim.RatePerAddress, max(c.lim.BurstPerAddress, 1)) {
		delete(c.sources, key)
	}
}

// Connect implements Admission.
func (c *Connections) Connect(*Client) packet.ReasonCode { return 0 }

// Authenticated implements Admission.
func (c *Connections) Authenticated(*Client) packet.ReasonCode { return 0 }

// AuthFailed implements Admission.
func (c *Connections) AuthFailed(*Client) time.Duration { return 0 }

// Closed implements Admission.
func (c *Connections) Closed(*Client) {}
