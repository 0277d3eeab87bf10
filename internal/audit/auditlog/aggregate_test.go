package auditlog

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

func TestFloodOfIdenticalAuthFailures(t *testing.T) {
	l, _ := openTest(t, Options{})
	const n = 100_000
	for i := range n {
		l.Record(authFailure("198.51.100.9", uint16(i))) // a new source port each time
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, l.o.Path)
	written, counted := tally(recs, audit.AuthFailure, true)
	if written+counted != n {
		t.Fatalf("%d written + %d counted != %d", written, counted, n)
	}
	if len(recs) > 8 {
		t.Fatalf("%d records for one flooding address", len(recs))
	}
	s := l.Stats()
	if s.Collapsed+s.Dropped+written != n {
		t.Fatalf("stats %+v do not add up to %d", s, n)
	}
	for _, r := range recs {
		if r.Kind == audit.Suppressed && r.SuppressedKind == audit.AuthFailure &&
			(r.Remote != "198.51.100.9" || r.Listener != "tls" || r.Reason != packet.BadUserNameOrPassword) {
			t.Errorf("summary without its key: %+v", r)
		}
	}
	mustVerify(t, l.o.Path)
}

func TestFloodOverTimeIsBoundedPerWindow(t *testing.T) {
	l, clock := openTest(t, Options{})
	const n, perStep, step = 100_000, 1000, 100 * time.Millisecond // 10 s of attack
	for i := range n {
		if i%perStep == 0 {
			clock.Add(step)
		}
		l.Record(authFailure("198.51.100.9", uint16(i)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, l.o.Path)
	written, counted := tally(recs, audit.AuthFailure, true)
	if written+counted != n {
		t.Fatalf("%d written + %d counted != %d", written, counted, n)
	}
	// Per window of 1 s: one record, one repeat summary, one queue-full
	// summary at most; plus opened and closed.
	if seconds := n / perStep * int(step) / int(time.Second); len(recs) > 3*(seconds+1)+2 {
		t.Fatalf("%d records in %d s", len(recs), seconds)
	}
}

func TestRateCapOverManyAddresses(t *testing.T) {
	const n, limit = 10_000, 100
	l, _ := openTest(t, Options{MaxPerSecond: limit, QueueSize: 2 * n})
	for i := range n {
		l.Record(authFailure(ipN(i), 1))
	}
	l.Record(audit.Event{Kind: audit.AdminAction, Identity: "root", Detail: "ban 10.0.0.0/8"}) // never capped
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, l.o.Path)
	written, counted := tally(recs, audit.AuthFailure, true)
	if written+counted != n || written != limit {
		t.Fatalf("%d written + %d counted, want %d + %d", written, counted, limit, n-limit)
	}
	var summary, admin bool
	for _, r := range recs {
		summary = summary || (r.Kind == audit.Suppressed && strings.Contains(r.Detail, "auth.failure=9900"))
		admin = admin || r.Kind == audit.AdminAction
	}
	if !summary || !admin {
		t.Fatalf("summary %v, admin action %v", summary, admin)
	}
}

func TestQueueFullDropsAreCounted(t *testing.T) {
	const queue, n = 8, 100
	l, clock := openTest(t, Options{QueueSize: queue})
	entered, release := clock.block()
	l.Record(authFailure("192.0.2.1", 1))
	<-entered // the writer is held in its clock
	for i := range n {
		l.Record(authFailure(ipN(i), 1))
	}
	if s := l.Stats(); s.Dropped < n-queue {
		t.Fatalf("dropped %d, want at least %d", s.Dropped, n-queue)
	}
	release()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, l.o.Path)
	var reported uint64
	for _, r := range recs {
		if r.Kind == audit.Suppressed && strings.HasPrefix(r.Detail, "queue full") {
			reported += r.Count
		}
	}
	if s := l.Stats(); reported != s.Dropped {
		t.Fatalf("reported %d drops, counted %d", reported, s.Dropped)
	}
	if written, counted := tally(recs, audit.AuthFailure, true); written+counted != n+1 {
		t.Fatalf("%d written + %d counted != %d", written, counted, n+1)
	}
}

// TestAggregatorAccounting drives the aggregator with random events and
// times: every event is admitted or counted in exactly one summary, no
// more than the cap is admitted per second, and the tracked keys stay
// within their bound.
func TestAggregatorAccounting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const maxKeys, perSecond = 16, 50
	a := newAggregator(time.Second, perSecond, maxKeys)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	kinds := []audit.Kind{audit.AuthFailure, audit.ACLDenied, audit.TLSHandshakeFailed, audit.ConfigReloaded}
	var admitted, summarized uint64
	emit := func(r audit.Record) {
		if r.Kind != audit.Suppressed || r.Count == 0 {
			t.Fatalf("bad summary %+v", r)
		}
		summarized += r.Count
	}
	const n = 200_000
	for range n {
		now = now.Add(time.Duration(rng.IntN(200)) * time.Microsecond)
		a.expire(now, emit)
		if len(a.keys) > maxKeys || a.n > maxKeys {
			t.Fatalf("%d keys tracked", len(a.keys))
		}
		e := audit.Event{Kind: kinds[rng.IntN(len(kinds))], Listener: "l",
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(40))}), 1),
			Reason: packet.ReasonCode(rng.IntN(2))}
		if a.admit(now, &e) {
			admitted++
		}
		if a.rateCount > perSecond {
			t.Fatalf("%d admitted within a second", a.rateCount)
		}
	}
	a.flush(now, emit)
	if admitted+summarized != n {
		t.Fatalf("%d admitted + %d summarized != %d", admitted, summarized, n)
	}
	if len(a.keys) != 0 || a.n != 0 {
		t.Fatal("keys left after flush")
	}
}

// BenchmarkRecord measures the broker's side of an auth-failure flood:
// Record from many goroutines while the writer collapses or drops.
func BenchmarkRecord(b *testing.B) {
	l, err := Open(Options{Path: b.TempDir() + "/audit.log"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := authFailure("198.51.100.9", 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(e)
		}
	})
}
