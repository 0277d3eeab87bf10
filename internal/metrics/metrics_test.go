package metrics

import (
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// TestDropReasonNames pins the label values: they are part of the metrics
// contract and must not change when reasons are added or reordered.
func TestDropReasonNames(t *testing.T) {
	tests := []struct {
		r    DropReason
		want string
	}{
		{DropQueueFull, "queue_full"},
		{DropSlowConsumer, "slow_consumer"},
		{DropTooLarge, "too_large"},
		{DropExpired, "expired"},
		{DropNotAuthorized, "not_authorized"},
		{DropStoreFailed, "store_failed"},
		{DropMemory, "memory_budget"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("DropReason(%d).String() = %q, want %q", tc.r, got, tc.want)
		}
	}
	// Every reason, including ones added later, has a unique, non-empty name.
	seen := map[string]DropReason{}
	for r := range numDropReasons {
		name := r.String()
		if name == "" {
			t.Errorf("DropReason(%d) has no name", r)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("DropReason(%d) and (%d) share the name %q", prev, r, name)
		}
		seen[name] = r
	}
	if len(tests) != int(numDropReasons) {
		t.Errorf("table pins %d names, there are %d reasons: pin the new ones", len(tests), numDropReasons)
	}
}

func TestDrop(t *testing.T) {
	tests := []struct {
		name  string
		drops []DropReason
		want  map[string]uint64
	}{
		{"none", nil, map[string]uint64{}},
		{"one reason", []DropReason{DropExpired}, map[string]uint64{"expired": 1}},
		{
			name:  "by reason",
			drops: []DropReason{DropQueueFull, DropQueueFull, DropTooLarge, DropQueueFull, DropNotAuthorized, DropSlowConsumer},
			want:  map[string]uint64{"queue_full": 3, "too_large": 1, "not_authorized": 1, "slow_consumer": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Metrics
			for _, r := range tc.drops {
				m.Drop(r)
			}
			if got := m.Snapshot().Dropped; !maps.Equal(got, tc.want) {
				t.Errorf("Dropped = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDropConcurrent(t *testing.T) {
	var m Metrics
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := DropReason(w % 2)
			for range each {
				m.Drop(r)
			}
		})
	}
	wg.Wait()
	want := map[string]uint64{"queue_full": workers / 2 * each, "slow_consumer": workers / 2 * each}
	if got := m.Snapshot().Dropped; !maps.Equal(got, want) {
		t.Errorf("Dropped = %v, want %v", got, want)
	}
}

func TestSnapshotCopies(t *testing.T) {
	var m Metrics
	m.ConnectionsCurrent.Store(3)
	m.ConnectionsTotal.Store(10)
	m.SessionsCurrent.Store(4)
	m.Subscriptions.Store(5)
	m.RetainedMessages.Store(6)
	for q := range 3 {
		m.MessagesIn[q].Store(uint64(100 + q))
		m.MessagesOut[q].Store(uint64(200 + q))
	}
	m.BytesIn.Store(1000)
	m.BytesOut.Store(2000)
	m.Drop(DropExpired)
	m.Refused[packet.NotAuthorized].Add(2)
	m.Refused[packet.BadUserNameOrPassword].Add(1)
	m.Disconnects[packet.KeepAliveTimeout].Add(7)

	s := m.Snapshot()
	want := Snapshot{
		ConnectionsCurrent: 3,
		ConnectionsTotal:   10,
		SessionsCurrent:    4,
		Subscriptions:      5,
		RetainedMessages:   6,
		MessagesIn:         [3]uint64{100, 101, 102},
		MessagesOut:        [3]uint64{200, 201, 202},
		BytesIn:            1000,
		BytesOut:           2000,
		Dropped:            map[string]uint64{"expired": 1},
		Refused:            map[packet.ReasonCode]uint64{packet.NotAuthorized: 2, packet.BadUserNameOrPassword: 1},
		Disconnects:        map[packet.ReasonCode]uint64{packet.KeepAliveTimeout: 7},
	}
	checkSnapshot(t, "snapshot", s, want)

	// Later updates do not reach a snapshot already taken.
	m.ConnectionsCurrent.Add(-3)
	m.ConnectionsTotal.Add(1)
	m.MessagesIn[1].Add(1)
	m.BytesOut.Add(1)
	m.Drop(DropExpired)
	m.Drop(DropQueueFull)
	m.Refused[packet.NotAuthorized].Add(1)
	m.Disconnects[packet.SessionTakenOver].Add(1)
	checkSnapshot(t, "old snapshot after updates", s, want)

	// Changing a snapshot's maps does not reach the counters.
	s.Dropped["expired"] = 99
	s.Refused[packet.NotAuthorized] = 99
	if got := m.Snapshot(); got.Dropped["expired"] != 2 || got.Refused[packet.NotAuthorized] != 3 {
		t.Errorf("new snapshot Dropped %v Refused %v, want expired 2 and not authorized 3", got.Dropped, got.Refused)
	}
}

func TestSnapshotZero(t *testing.T) {
	var m Metrics
	s := m.Snapshot()
	// Maps are allocated (callers may range and index without nil checks)
	// and hold no zero entries.
	if s.Dropped == nil || s.Refused == nil || s.Disconnects == nil {
		t.Fatalf("nil maps in %+v", s)
	}
	if len(s.Dropped)+len(s.Refused)+len(s.Disconnects) != 0 {
		t.Errorf("zero metrics report entries: %+v", s)
	}
	checkSnapshot(t, "zero", s, Snapshot{Dropped: map[string]uint64{},
		Refused: map[packet.ReasonCode]uint64{}, Disconnects: map[packet.ReasonCode]uint64{}})
}

func checkSnapshot(t *testing.T, what string, got, want Snapshot) {
	t.Helper()
	type scalars struct {
		cc, sc, sub, ret int64
		ct, bi, bo       uint64
		in, out          [3]uint64
	}
	sc := func(s Snapshot) scalars {
		return scalars{s.ConnectionsCurrent, s.SessionsCurrent, s.Subscriptions, s.RetainedMessages,
			s.ConnectionsTotal, s.BytesIn, s.BytesOut, s.MessagesIn, s.MessagesOut}
	}
	if sc(got) != sc(want) {
		t.Errorf("%s: counters %+v, want %+v", what, sc(got), sc(want))
	}
	if !maps.Equal(got.Dropped, want.Dropped) {
		t.Errorf("%s: Dropped %v, want %v", what, got.Dropped, want.Dropped)
	}
	if !maps.Equal(got.Refused, want.Refused) {
		t.Errorf("%s: Refused %v, want %v", what, got.Refused, want.Refused)
	}
	if !maps.Equal(got.Disconnects, want.Disconnects) {
		t.Errorf("%s: Disconnects %v, want %v", what, got.Disconnects, want.Disconnects)
	}
}

func TestLabeledBounded(t *testing.T) {
	var l Labeled
	for i := range MaxLabels + 10 {
		l.Add(string(rune('a'+i%26))+string(rune('a'+i/26)), 1)
	}
	vals := l.Values()
	if len(vals) != MaxLabels+1 { // MaxLabels plus "other"
		t.Fatalf("%d labels, want %d", len(vals), MaxLabels+1)
	}
	var other uint64
	for _, v := range vals {
		if v.Label == "other" {
			other = v.Value
		}
	}
	if other != 10 {
		t.Fatalf("other = %d, want 10", other)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	h.Observe(50 * time.Microsecond)
	h.Observe(3 * time.Millisecond)
	h.Observe(time.Minute)
	h.Observe(-time.Second)
	cum, count, sum := h.Snapshot()
	if count != 4 || cum[0] != 2 || cum[len(cum)-1] != 3 {
		t.Fatalf("cumulative %v, count %d", cum, count)
	}
	if sum < 60 || sum > 60.01 {
		t.Fatalf("sum %v", sum)
	}
}
