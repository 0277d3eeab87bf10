package session

import (
	"slices"
	"testing"
)

// packetIDs lists the packet identifiers of ds, in order.
func packetIDs(ds []*Delivery) []uint16 {
	out := make([]uint16, len(ds))
	for i, d := range ds {
		out[i] = d.PacketID
	}
	return out
}

// mustAdd adds a delivery of QoS 1 and returns its packet identifier.
func mustAdd(t *testing.T, f *Inflight) uint16 {
	t.Helper()
	d, ok := f.Add(Delivery{Msg: &Message{Topic: "t"}, QoS: 1})
	if !ok {
		t.Fatalf("Add refused with Len %d", f.Len())
	}
	return d.PacketID
}

// advanceTo makes the last assigned identifier last, using only the public
// API: it adds and removes one delivery at a time.
func advanceTo(t *testing.T, f *Inflight, last uint16) {
	t.Helper()
	for {
		id := mustAdd(t, f)
		f.Remove(id)
		if id == last {
			return
		}
	}
}

func TestInflightAssignsIDs(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *Inflight)
		want  []uint16 // identifiers of the next adds
	}{
		{
			name:  "starts at 1, never 0 [MQTT-2.2.1-3]",
			setup: func(*testing.T, *Inflight) {},
			want:  []uint16{1, 2, 3},
		},
		{
			name: "removed ids are not reused before wrapping",
			setup: func(t *testing.T, f *Inflight) {
				mustAdd(t, f)
				mustAdd(t, f)
				f.Remove(1)
			},
			want: []uint16{3, 4},
		},
		{
			name:  "wraps past 65535 to 1, skipping 0",
			setup: func(t *testing.T, f *Inflight) { advanceTo(t, f, 65534) },
			want:  []uint16{65535, 1, 2},
		},
		{
			name: "skips ids still in use after wrapping",
			setup: func(t *testing.T, f *Inflight) {
				for range 4 {
					mustAdd(t, f) // 1..4 stay in flight
				}
				f.Remove(3)
				advanceTo(t, f, 65535)
			},
			want: []uint16{3, 5, 6},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewInflight(100)
			tc.setup(t, f)
			var got []uint16
			for range tc.want {
				got = append(got, mustAdd(t, f))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInflightFullWindowWraps(t *testing.T) {
	// With every identifier but two in use, Add after the wrap must find
	// exactly the free ones.
	f := NewInflight(65535)
	for i := 1; i <= 65535; i++ {
		if id := mustAdd(t, f); id != uint16(i) {
			t.Fatalf("add #%d got id %d", i, id)
		}
	}
	if !f.Full() {
		t.Fatal("65535 entries at limit 65535: Full is false")
	}
	if d, ok := f.Add(Delivery{}); ok || d != nil {
		t.Fatalf("Add on a full window = %v, %v; want nil, false", d, ok)
	}
	f.Remove(40000)
	f.Remove(7)
	if got := []uint16{mustAdd(t, f), mustAdd(t, f)}; !slices.Equal(got, []uint16{7, 40000}) {
		t.Errorf("after wrap ids = %v, want [7 40000]", got)
	}
	if !f.Full() {
		t.Error("window refilled: Full is false")
	}
}

func TestInflightLimit(t *testing.T) {
	tests := []struct {
		name     string
		limit    int
		adds     int
		setLimit int // applied after the adds; 0 keeps the limit
		wantLen  int
		wantFull bool
		canAdd   bool
	}{
		{name: "below limit", limit: 3, adds: 2, wantLen: 2, canAdd: true},
		{name: "at limit", limit: 3, adds: 3, wantLen: 3, wantFull: true},
		{name: "adds past limit refused", limit: 3, adds: 5, wantLen: 3, wantFull: true},
		{name: "raised limit frees slots", limit: 2, adds: 2, setLimit: 4, wantLen: 2, canAdd: true},
		{name: "lowered limit keeps entries", limit: 5, adds: 4, setLimit: 2, wantLen: 4, wantFull: true},
		{name: "zero limit is always full", limit: 0, adds: 1, wantLen: 0, wantFull: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewInflight(tc.limit)
			for range tc.adds {
				f.Add(Delivery{Msg: &Message{}})
			}
			if tc.setLimit != 0 {
				f.SetLimit(tc.setLimit)
			}
			if f.Len() != tc.wantLen {
				t.Errorf("Len = %d, want %d", f.Len(), tc.wantLen)
			}
			if f.Full() != tc.wantFull {
				t.Errorf("Full = %v, want %v", f.Full(), tc.wantFull)
			}
			d, ok := f.Add(Delivery{Msg: &Message{}})
			if ok != tc.canAdd || (d != nil) != tc.canAdd {
				t.Errorf("Add = %v, %v; want ok %v", d, ok, tc.canAdd)
			}
			// Every entry kept is still reachable.
			for _, d := range f.Ordered() {
				if got, ok := f.Get(d.PacketID); !ok || got != d {
					t.Errorf("Get(%d) = %v, %v", d.PacketID, got, ok)
				}
			}
		})
	}
}

func TestInflightOrdered(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *Inflight)
		want   []uint16
		remove []uint16 // removed after setup
	}{
		{
			name:  "empty",
			setup: func(*testing.T, *Inflight) {},
			want:  []uint16{},
		},
		{
			name: "entry order",
			setup: func(t *testing.T, f *Inflight) {
				for range 5 {
					mustAdd(t, f)
				}
			},
			remove: []uint16{2, 4},
			want:   []uint16{1, 3, 5},
		},
		{
			name: "entry order, not id order, after wrapping",
			setup: func(t *testing.T, f *Inflight) {
				advanceTo(t, f, 65533)
				for range 5 {
					mustAdd(t, f) // 65534, 65535, 1, 2, 3
				}
			},
			remove: []uint16{65535},
			want:   []uint16{65534, 1, 2, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewInflight(100)
			tc.setup(t, f)
			for _, id := range tc.remove {
				if _, ok := f.Remove(id); !ok {
					t.Fatalf("Remove(%d) found nothing", id)
				}
			}
			if got := packetIDs(f.Ordered()); !slices.Equal(got, tc.want) {
				t.Errorf("Ordered = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInflightGetRemove(t *testing.T) {
	f := NewInflight(10)
	msg := &Message{Topic: "a/b"}
	in := Delivery{Msg: msg, QoS: 2, Retain: true, SubIDs: []uint32{9}, Shared: "g\x00a/+"}
	d, ok := f.Add(in)
	if !ok {
		t.Fatal("Add refused")
	}
	if d.PacketID == 0 || d.Msg != msg || d.QoS != 2 || !d.Retain || d.Shared != in.Shared ||
		!slices.Equal(d.SubIDs, in.SubIDs) {
		t.Errorf("Add returned %+v, want the fields of %+v with an id", d, in)
	}
	if in.PacketID != 0 {
		t.Error("Add changed the caller's copy")
	}
	got, ok := f.Get(d.PacketID)
	if !ok || got != d {
		t.Fatalf("Get(%d) = %p, %v; want %p", d.PacketID, got, ok, d)
	}
	got.Released = true // the stored entry is the one handed out
	if again, _ := f.Get(d.PacketID); !again.Released {
		t.Error("change through the returned pointer not seen by Get")
	}

	tests := []struct {
		name    string
		id      uint16
		wantOK  bool
		wantLen int
	}{
		{"unknown id", d.PacketID + 1, false, 1},
		{"id 0", 0, false, 1},
		{"known id", d.PacketID, true, 0},
		{"same id twice", d.PacketID, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := f.Remove(tc.id)
			if ok != tc.wantOK || (ok && r != d) || (!ok && r != nil) {
				t.Errorf("Remove(%d) = %p, %v; want ok %v", tc.id, r, ok, tc.wantOK)
			}
			if f.Len() != tc.wantLen {
				t.Errorf("Len = %d, want %d", f.Len(), tc.wantLen)
			}
		})
	}
	if _, ok := f.Get(d.PacketID); ok {
		t.Error("Get finds a removed id")
	}
}
