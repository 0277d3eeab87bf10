package session

import "sort"

// Inflight is the outbound window of QoS 1 and 2 deliveries sent and not yet
// completed, keyed by packet identifier. Its capacity is the smaller of the
// client's Receive Maximum and the broker's own bound [MQTT-4.9.0-2].
type Inflight struct {
	byID   map[uint16]*Delivery
	limit  int
	nextID uint16
	seq    uint64
}

// NewInflight returns a window of the given capacity.
// The capacity is at most 65535, the number of packet identifiers.
func NewInflight(limit int) *Inflight {
	return &Inflight{byID: make(map[uint16]*Delivery), limit: min(limit, maxPacketIDs)}
}

const maxPacketIDs = 65535

// SetLimit changes the capacity (a new connection brings a new Receive
// Maximum), at most 65535. Entries above the limit stay until acknowledged.
func (f *Inflight) SetLimit(n int) { f.limit = min(n, maxPacketIDs) }

// Len reports the deliveries in flight.
func (f *Inflight) Len() int { return len(f.byID) }

// Full reports whether no slot is free.
func (f *Inflight) Full() bool { return len(f.byID) >= f.limit }

// Add assigns a free packet identifier to d and stores it. It reports false
// when the window is full.
func (f *Inflight) Add(d Delivery) (*Delivery, bool) {
	if f.Full() {
		return nil, false
	}
	// A free id exists: the window holds at most 65535 entries.
	for {
		f.nextID++
		if f.nextID == 0 {
			f.nextID = 1 // packet identifier 0 is never used [MQTT-2.2.1-3]
		}
		if _, used := f.byID[f.nextID]; !used {
			break
		}
	}
	f.seq++
	d.PacketID, d.seq = f.nextID, f.seq
	p := &d
	f.byID[d.PacketID] = p
	return p, true
}

// Get returns the delivery with packet identifier id.
func (f *Inflight) Get(id uint16) (*Delivery, bool) {
	d, ok := f.byID[id]
	return d, ok
}

// Remove forgets packet identifier id and returns what it held.
func (f *Inflight) Remove(id uint16) (*Delivery, bool) {
	d, ok := f.byID[id]
	if ok {
		delete(f.byID, id)
	}
	return d, ok
}

// Ordered returns the deliveries in the order they entered the window, for
// resending after a reconnect [MQTT-4.6.0-1].
func (f *Inflight) Ordered() []*Delivery {
	out := make([]*Delivery, 0, len(f.byID))
	for _, d := range f.byID {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}
