package auditlog

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

// aggKey identifies "the same event" for collapsing: kind, listener,
// remote address (without the port, which changes with every connection)
// and reason.
type aggKey struct {
	kind     audit.Kind
	listener string
	addr     netip.Addr
	reason   packet.ReasonCode
}

// aggEntry is one open window: the first event was written at start, count
// identical ones arrived since.
type aggEntry struct {
	key   aggKey
	start time.Time
	count uint64
}

// maxRateKinds bounds the per-kind breakdown of a rate-limit summary;
// further kinds are summed under "other".
const maxRateKinds = 32

// aggregator decides which events are written and produces the
// audit.suppressed records for the rest. It is owned by the writer
// goroutine and does no I/O; now comes from the log's clock.
//
// Two mechanisms, both bounded:
//   - repeats: the first event of a key is written and opens a window; the
//     identical events within the window are counted, and one summary is
//     emitted when it ends. At most maxKeys windows are open (a ring in
//     start order, so expiry pops from the front); a new key when all are
//     open is written untracked, under the rate cap.
//   - the rate cap: at most maxPerSecond events are written per second;
//     the rest are counted by kind and summarized when the second ends.
//
// Operator kinds (config.*, admin.action) bypass both: they are few, each
// carries its own detail, and a flood must not hide them.
type aggregator struct {
	window       time.Duration
	maxPerSecond int

	keys map[aggKey]*aggEntry
	ring []*aggEntry // open windows in start order; ring[head] is the oldest
	head int
	n    int

	rateStart time.Time
	rateCount int
	rateOver  uint64
	rateKinds map[audit.Kind]uint64
}

func newAggregator(window time.Duration, maxPerSecond, maxKeys int) *aggregator {
	return &aggregator{
		window:       window,
		maxPerSecond: maxPerSecond,
		keys:         make(map[aggKey]*aggEntry),
		ring:         make([]*aggEntry, maxKeys),
		rateKinds:    make(map[audit.Kind]uint64),
	}
}

// exempt reports whether events of kind k are never collapsed or capped.
func exempt(k audit.Kind) bool {
	return k == audit.AdminAction || strings.HasPrefix(string(k), "config.")
}

// admit reports whether e is to be written now. Call expire(now) first.
func (a *aggregator) admit(now time.Time, e *audit.Event) bool {
	if exempt(e.Kind) {
		return true
	}
	k := aggKey{kind: e.Kind, listener: e.Listener, addr: e.Remote.Addr(), reason: e.Reason}
	if ent, ok := a.keys[k]; ok {
		ent.count++
		return false
	}
	if a.rateCount >= a.maxPerSecond {
		a.rateOver++
		kind := e.Kind
		if _, ok := a.rateKinds[kind]; !ok && len(a.rateKinds) >= maxRateKinds {
			kind = "other"
		}
		a.rateKinds[kind]++
		return false
	}
	a.rateCount++
	if a.n < len(a.ring) {
		ent := &aggEntry{key: k, start: now}
		a.keys[k] = ent
		a.ring[(a.head+a.n)%len(a.ring)] = ent
		a.n++
	}
	return true
}

// expired reports whether a window or second that began at start is over
// at now. A clock that went backwards ends it too.
func expired(now, start time.Time, d time.Duration) bool {
	el := now.Sub(start)
	return el >= d || el < 0
}

// expire ends the windows and the rate second that are over at now,
// emitting their summaries.
func (a *aggregator) expire(now time.Time, emit func(audit.Record)) {
	for a.n > 0 && expired(now, a.ring[a.head].start, a.window) {
		a.pop(now, emit)
	}
	if expired(now, a.rateStart, time.Second) {
		a.endRate(now, emit)
		a.rateStart = now
	}
}

// flush ends every open window and the rate second (on close).
func (a *aggregator) flush(now time.Time, emit func(audit.Record)) {
	for a.n > 0 {
		a.pop(now, emit)
	}
	a.endRate(now, emit)
}

func (a *aggregator) pop(now time.Time, emit func(audit.Record)) {
	ent := a.ring[a.head]
	a.ring[a.head] = nil
	a.head = (a.head + 1) % len(a.ring)
	a.n--
	delete(a.keys, ent.key)
	if ent.count == 0 {
		return
	}
	r := audit.Record{Time: now, Kind: audit.Suppressed, Listener: ent.key.listener,
		Reason: ent.key.reason, ReasonName: ent.key.reason.String(), Count: ent.count,
		SuppressedKind: ent.key.kind, Detail: "repeated: identical events within " + a.window.String() + " of the first"}
	if ent.key.addr.IsValid() {
		r.Remote = ent.key.addr.String()
	}
	emit(r)
}

func (a *aggregator) endRate(now time.Time, emit func(audit.Record)) {
	a.rateCount = 0
	if a.rateOver == 0 {
		return
	}
	kinds := make([]string, 0, len(a.rateKinds))
	for k := range a.rateKinds {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	var b strings.Builder
	b.WriteString("rate limit: over ")
	b.WriteString(strconv.Itoa(a.maxPerSecond))
	b.WriteString(" records per second:")
	for _, k := range kinds {
		b.WriteString(" ")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strconv.FormatUint(a.rateKinds[audit.Kind(k)], 10))
	}
	r := audit.Record{Time: now, Kind: audit.Suppressed, ReasonName: noReason,
		Count: a.rateOver, Detail: b.String()}
	if len(kinds) == 1 {
		r.SuppressedKind = audit.Kind(kinds[0])
	}
	emit(r)
	a.rateOver = 0
	clear(a.rateKinds)
}
