package session

// Delivery is one message on its way to one session, with the options of
// the subscription(s) it matched.
type Delivery struct {
	Msg      *Message
	QoS      byte     // QoS after downgrade to the subscription's
	Retain   bool     // retain flag to send
	SubIDs   []uint32 // subscription identifiers of the matching subscriptions
	PacketID uint16   // assigned when it enters the inflight window
	Dup      bool     // resent after a reconnect
	// Shared names the shared subscription group ("group\x00filter") this
	// delivery came through; empty for ordinary subscriptions. Unacknowledged
	// shared deliveries are handed to another member when this one leaves.
	Shared string
	// Released is set for QoS 2 once PUBREC arrived: only PUBREL/PUBCOMP
	// remain and the message itself must not be resent.
	Released bool
	// StoreSeq identifies the delivery in the store's queue of a persistent
	// session (0: not stored).
	StoreSeq uint64
	seq      uint64 // order of entry into the inflight window
}

// Queue is a bounded FIFO of deliveries waiting for an inflight slot or for
// the client to reconnect. It is bounded in entries and in bytes; when full
// the oldest entry is dropped to make room.
type Queue struct {
	items    []Delivery // ring buffer
	head, n  int
	bytes    int
	maxItems int
	maxBytes int
	// OnDrop, when set, is called with each delivery dropped to stay in
	// bounds (so that a store can forget it).
	OnDrop func(Delivery)
}

// NewQueue returns a queue bounded by maxItems entries and maxBytes bytes.
// Bounds below 1 are raised to 1.
func NewQueue(maxItems, maxBytes int) *Queue {
	return &Queue{maxItems: max(maxItems, 1), maxBytes: max(maxBytes, 1)}
}

// Len reports the number of queued deliveries.
func (q *Queue) Len() int { return q.n }

// Bytes reports the queued weight.
func (q *Queue) Bytes() int { return q.bytes }

// Push appends d. It returns how many older entries it dropped to stay in
// bounds; a single message larger than the byte bound is refused and counts
// as one drop.
func (q *Queue) Push(d Delivery) (dropped int) {
	sz := d.Msg.Size()
	if sz > q.maxBytes {
		if q.OnDrop != nil {
			q.OnDrop(d)
		}
		return 1
	}
	for q.n > 0 && (q.n >= q.maxItems || q.bytes+sz > q.maxBytes) {
		old, _ := q.Pop()
		if q.OnDrop != nil {
			q.OnDrop(old)
		}
		dropped++
	}
	if q.n == len(q.items) {
		q.grow()
	}
	q.items[(q.head+q.n)%len(q.items)] = d
	q.n++
	q.bytes += sz
	return dropped
}

func (q *Queue) grow() {
	size := max(8, 2*len(q.items))
	size = min(size, q.maxItems)
	items := make([]Delivery, size)
	for i := range q.n {
		items[i] = q.items[(q.head+i)%len(q.items)]
	}
	q.items, q.head = items, 0
}

// Peek returns the oldest delivery without removing it.
func (q *Queue) Peek() (Delivery, bool) {
	if q.n == 0 {
		return Delivery{}, false
	}
	return q.items[q.head], true
}

// Pop removes and returns the oldest delivery.
func (q *Queue) Pop() (Delivery, bool) {
	if q.n == 0 {
		return Delivery{}, false
	}
	d := q.items[q.head]
	q.items[q.head] = Delivery{}
	q.head = (q.head + 1) % len(q.items)
	q.n--
	q.bytes -= d.Msg.Size()
	if q.n == 0 {
		q.head = 0
		if len(q.items) > 64 {
			q.items = nil // let an emptied burst's memory go
		}
	}
	return d, true
}

// Drain removes and returns every queued delivery, oldest first.
func (q *Queue) Drain() []Delivery {
	out := make([]Delivery, 0, q.n)
	for {
		d, ok := q.Pop()
		if !ok {
			return out
		}
		out = append(out, d)
	}
}
