package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Payload layout: send time (nanotime, 8 bytes), publisher index (4),
// sequence number (4), little-endian, then filler up to the payload size.
const (
	offTime = 0
	offPub  = 8
	offSeq  = 12
)

// Flow control.
const (
	// queueBound is the backlog per receiver the automatic window keeps
	// under: Moat's and Mosquitto's default queue of 1000 messages, less
	// some slack for what sits in socket buffers.
	queueBound = 800
	// fanOutWindow is the automatic window of a fan-out publisher: each
	// message is a delivery to every subscriber already.
	fanOutWindow = 20
	// stallQoS0 and stallQoS12 are how long a full window may see no
	// delivery before it is reset: lost QoS 0 messages never arrive.
	stallQoS0  = time.Second
	stallQoS12 = 2 * time.Second
	// flushEvery is how many publishes a publisher buffers at most before
	// it writes them out.
	flushEvery = 32
)

// flow is one run of a message scenario.
type flow struct {
	cfg    *Config
	topic  string // first two levels: cfg.Topic and the run id
	idPfx  string
	pubs   []*publisher
	recvs  []*receiver
	window int64
	errs   errorList
	// stopping is set before the connections are closed: read errors are
	// then the end of the run, not failures.
	stopping atomic.Bool
	started  bool // the reading goroutines run
}

// publisher is one publishing connection.
type publisher struct {
	f        *flow
	idx      int
	c        *conn
	topic    string
	k        int64 // receivers of each message (groups)
	limit    uint32
	interval time.Duration // between two messages when rate-limited

	delivered atomic.Int64 // receipts of its messages, duplicates included
	// wakeAt is the delivered count at which a publisher waiting for its
	// window wants wake signalled (math.MaxInt64: not waiting).
	wakeAt   atomic.Int64
	wake     chan struct{}
	sent     atomic.Int64
	acked    atomic.Int64
	refused  atomic.Int64
	stalls   int64 // owned by the publishing goroutine until it ends
	forgiven int64 // messages taken as lost by stalls; same owner

	// QoS 1 and 2: free packet ids, and each id's state (0 free,
	// 1 published, 2 released).
	free  chan uint16
	state []atomic.Uint32

	readDone chan struct{}
}

// group is a set of receivers that together get each message of its
// publishers once: one subscriber, or the consumers of a shared
// subscription.
type group struct {
	sets []*seqSet // indexed by publisher; nil for publishers it does not receive
}

// receiver is one subscribing connection.
type receiver struct {
	f      *flow
	idx    int
	c      *conn
	g      *group
	filter string

	// Owned by the reading goroutine until done is closed.
	hist                     Histogram
	unique, dups, unexpected int64

	last atomic.Int64 // nanotime of the last read that delivered
	done chan struct{}
}

// newFlow lays out the publishers, groups and receivers of the scenario.
func newFlow(cfg *Config) *flow {
	var id [3]byte
	_, _ = rand.Read(id[:])
	run := hex.EncodeToString(id[:])
	f := &flow{cfg: cfg, topic: cfg.Topic + "/" + run, idPfx: cfg.ClientIDPrefix}
	if f.idPfx == "" {
		f.idPfx = "bench-" + run + "-"
	}
	limit := uint32(defaultMessageLimit)
	if cfg.Messages > 0 {
		limit = uint32(cfg.Messages)
	}
	npub, nrecv := 1, cfg.Clients
	switch cfg.Scenario {
	case FanIn:
		npub, nrecv = cfg.Clients, 1
	case Pairs:
		npub = cfg.Clients
	case Shared:
		npub = cfg.Publishers
	}
	for i := range npub {
		p := &publisher{f: f, idx: i, k: 1, limit: limit, topic: fmt.Sprintf("%s/%s/%d", f.topic, cfg.Scenario, i),
			wake: make(chan struct{}, 1)}
		p.wakeAt.Store(math.MaxInt64)
		if cfg.Scenario == FanOut {
			p.topic, p.k = f.topic+"/fanout", int64(nrecv)
		}
		if cfg.Rate > 0 {
			p.interval = time.Duration(float64(npub) / cfg.Rate * float64(time.Second))
		}
		f.pubs = append(f.pubs, p)
	}
	all := func() *group {
		g := &group{sets: make([]*seqSet, npub)}
		for i := range g.sets {
			g.sets[i] = newSeqSet(limit)
		}
		return g
	}
	var shared *group
	for i := range nrecv {
		r := &receiver{f: f, idx: i, done: make(chan struct{})}
		switch cfg.Scenario {
		case FanIn:
			r.filter, r.g = fmt.Sprintf("%s/%s/+", f.topic, cfg.Scenario), all()
		case Pairs:
			r.filter = f.pubs[i].topic
			r.g = &group{sets: make([]*seqSet, npub)}
			r.g.sets[i] = newSeqSet(limit)
		case FanOut:
			r.filter, r.g = f.pubs[0].topic, all()
		case Shared:
			if shared == nil {
				shared = all()
			}
			r.filter, r.g = fmt.Sprintf("$share/bench/%s/%s/+", f.topic, cfg.Scenario), shared
		}
		f.recvs = append(f.recvs, r)
	}
	f.window = int64(cfg.Window)
	if cfg.Window == 0 {
		switch cfg.Scenario {
		case FanIn:
			f.window = max(1, queueBound/int64(npub))
		case FanOut:
			f.window = fanOutWindow
		case Shared:
			f.window = max(1, queueBound*int64(nrecv)/int64(npub))
		default:
			f.window = queueBound
		}
	}
	return f
}

// runFlow runs a message scenario.
func runFlow(ctx context.Context, cfg *Config) (*Report, error) {
	f := newFlow(cfg)
	defer f.closeAll()
	if err := f.connect(ctx); err != nil {
		return nil, err
	}
	stopKeeper := make(chan struct{})
	defer close(stopKeeper)
	go keeper(f.conns(), f.keepAlive(), stopKeeper)
	for _, r := range f.recvs {
		go r.loop()
	}
	for _, p := range f.pubs {
		go p.readLoop()
	}
	f.started = true

	watch := watchProc(cfg.BrokerPID, 250*time.Millisecond)
	t0 := nanotime()
	deadline := int64(-1) // none: Messages bounds the run
	if cfg.Messages == 0 {
		deadline = t0 + int64(cfg.Duration)
	}
	var wg sync.WaitGroup
	for _, p := range f.pubs {
		wg.Go(func() { p.run(ctx, t0, deadline) })
	}
	stopProgress := f.progress(t0)
	wg.Wait()
	pubEnd := nanotime()
	f.drain(ctx)
	stopProgress()
	t1 := pubEnd
	for _, r := range f.recvs {
		t1 = max(t1, r.last.Load())
	}
	broker, host, werr := watch.finish()
	f.closeAll()
	rep := f.report(t0, pubEnd, t1, broker, werr)
	rep.Host = host
	return rep, nil
}

// connect opens the receivers and subscribes them, then opens the
// publishers.
func (f *flow) connect(ctx context.Context) error {
	cfg := f.cfg
	nconn := len(f.recvs) + len(f.pubs)
	// Bound the generator's buffer memory: 32 MiB of read buffers in all.
	rbuf := min(max((32<<20)/nconn, 4<<10), 64<<10)
	subscribe := func(i int) error {
		r := f.recvs[i]
		c, err := connect(ctx, cfg, i, connectOpts{clientID: fmt.Sprintf("%ss%d", f.idPfx, i),
			user: cfg.user(i), readBuf: rbuf, writeBuf: 4 << 10})
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		r.c = c
		if err := c.subscribe(r.filter, cfg.QoS); err != nil {
			return fmt.Errorf("subscriber %d: %w", i, err)
		}
		return nil
	}
	// Each user's first login alone: a broker that caches logins then
	// verifies each password once, not once per concurrent connection.
	first := min(cfg.Users, len(f.recvs))
	for i := range first {
		if err := subscribe(i); err != nil {
			return err
		}
	}
	err := forEach(ctx, len(f.recvs)-first, cfg.Concurrency, func(i int) error { return subscribe(first + i) })
	if err != nil {
		return err
	}
	return forEach(ctx, len(f.pubs), cfg.Concurrency, func(i int) error {
		p := f.pubs[i]
		n := len(f.recvs) + i
		c, err := connect(ctx, cfg, n, connectOpts{clientID: fmt.Sprintf("%sp%d", f.idPfx, i),
			user: cfg.user(n), readBuf: 16 << 10, writeBuf: 64 << 10})
		if err != nil {
			return fmt.Errorf("publisher %d: %w", i, err)
		}
		p.c = c
		if cfg.QoS > 0 {
			n := min(cfg.Inflight, c.recvMax)
			p.free = make(chan uint16, n)
			p.state = make([]atomic.Uint32, n+1)
			for id := 1; id <= n; id++ {
				p.free <- uint16(id)
			}
		}
		p.readDone = make(chan struct{})
		return nil
	})
}

// conns lists every open connection.
func (f *flow) conns() []*conn {
	var out []*conn
	for _, r := range f.recvs {
		if r.c != nil {
			out = append(out, r.c)
		}
	}
	for _, p := range f.pubs {
		if p.c != nil {
			out = append(out, p.c)
		}
	}
	return out
}

// keepAlive is the shortest keep alive of the connections.
func (f *flow) keepAlive() time.Duration {
	ka := f.cfg.KeepAlive
	for _, c := range f.conns() {
		ka = min(ka, c.keepAlive)
	}
	return ka
}

// closeAll disconnects every connection and waits for the readers. It
// may be called more than once.
func (f *flow) closeAll() {
	if f.stopping.Swap(true) {
		return
	}
	for _, c := range f.conns() {
		c.close()
	}
	if !f.started {
		return
	}
	for _, r := range f.recvs {
		<-r.done
	}
	for _, p := range f.pubs {
		<-p.readDone
	}
}

// connErr records an error of a connection unless the run is ending.
func (f *flow) connErr(who string, err error) {
	if !f.stopping.Load() {
		f.errs.add("%s: %v", who, err)
	}
}

// delivered sums the deliveries of every publisher's messages.
func (f *flow) delivered() int64 {
	var n int64
	for _, p := range f.pubs {
		n += p.delivered.Load()
	}
	return n
}

// expected is the number of deliveries the messages published so far
// should make.
func (f *flow) expected() int64 {
	var n int64
	for _, p := range f.pubs {
		n += (p.sent.Load() - p.refused.Load()) * p.k
	}
	return n
}

// drain waits for the last deliveries: until every expected one arrived,
// nothing arrived for a while (lost messages never do), or cfg.Drain
// passed.
func (f *flow) drain(ctx context.Context) {
	quiet := stallQoS12
	if f.cfg.QoS == 0 {
		quiet = stallQoS0
	}
	start := time.Now()
	last, lastChange := f.delivered(), start
	for ctx.Err() == nil {
		n := f.delivered()
		if n >= f.expected() || time.Since(start) > f.cfg.Drain {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > quiet {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// progress prints a line a second until the returned function is called.
func (f *flow) progress(t0 int64) func() {
	if f.cfg.Progress == nil {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev int64
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := f.delivered()
				var sent int64
				for _, p := range f.pubs {
					sent += p.sent.Load()
				}
				f.cfg.Progress(fmt.Sprintf("%5.1fs published %d, delivered %d (%d/s)",
					time.Duration(nanotime()-t0).Seconds(), sent, n, n-prev))
				prev = n
			}
		}
	}()
	return func() { close(stop); <-done }
}

// report computes the figures once every goroutine has ended.
func (f *flow) report(t0, pubEnd, t1 int64, broker *BrokerStats, werr error) *Report {
	cfg := f.cfg
	r := &Report{Scenario: cfg.Scenario, Addr: cfg.Addr, Params: params(cfg), Broker: broker}
	r.Params.Window = int(max(f.window, 0))
	r.Params.Publishers = len(f.pubs)
	secs := time.Duration(t1 - t0).Seconds()
	r.Seconds = secs
	m := &MessageStats{}
	for _, p := range f.pubs {
		m.Published += p.sent.Load()
		m.Acknowledged += p.acked.Load()
		m.Refused += p.refused.Load()
		m.Stalls += p.stalls
	}
	m.Expected = f.expected()
	var h Histogram
	for _, rc := range f.recvs {
		m.Received += rc.unique
		m.Duplicates += rc.dups
		m.Unexpected += rc.unexpected
		h.Merge(&rc.hist)
	}
	m.Lost = max(0, m.Expected-m.Received)
	if secs > 0 {
		m.PerSecond = float64(m.Received) / secs
	}
	if d := time.Duration(pubEnd - t0).Seconds(); d > 0 {
		m.PublishedPerSecond = float64(m.Published) / d
	}
	r.Messages, r.Latency = m, latencyStats(&h)
	if broker != nil && m.Received > 0 {
		broker.CPUPerMsg = broker.CPUSeconds * 1e6 / float64(m.Received)
	}
	r.Failures = flowFailures(cfg.QoS, m, f.errs.count())
	r.Errors = f.errs.list()
	if werr != nil {
		r.Errors = append(r.Errors, werr.Error())
	}
	return r
}

// flowFailures lists the broken guarantees of a message run.
func flowFailures(qos byte, m *MessageStats, connErrs int) []string {
	var out []string
	if qos > 0 && m.Lost > 0 {
		out = append(out, fmt.Sprintf("%d of %d messages lost at QoS %d", m.Lost, m.Expected, qos))
	}
	if qos == 2 && m.Duplicates > 0 {
		out = append(out, fmt.Sprintf("%d duplicates at QoS 2, which must deliver exactly once", m.Duplicates))
	}
	if m.Refused > 0 {
		out = append(out, fmt.Sprintf("the broker refused %d publishes", m.Refused))
	}
	if m.Unexpected > 0 {
		out = append(out, fmt.Sprintf("%d messages that no publisher of this run sent", m.Unexpected))
	}
	if connErrs > 0 {
		out = append(out, fmt.Sprintf("%d connection errors", connErrs))
	}
	return out
}

// run publishes until deadline (nanotime; negative: none), the message
// limit or the end of ctx, then waits for the acknowledgements of QoS 1
// and 2.
func (p *publisher) run(ctx context.Context, t0, deadline int64) {
	cfg := p.f.cfg
	payload := make([]byte, cfg.PayloadSize)
	for i := MinPayload; i < len(payload); i++ {
		payload[i] = byte(i)
	}
	binary.LittleEndian.PutUint32(payload[offPub:], uint32(p.idx))
	msg := packet.Publish{Topic: p.topic, QoS: cfg.QoS, Payload: payload}
	c := p.c
	var credit int64
	w := p.f.window
	var seq uint32
	for ; seq < p.limit; seq++ {
		if seq%64 == 0 && (ctx.Err() != nil || deadline >= 0 && nanotime() >= deadline) {
			break
		}
		if w > 0 && credit <= 0 {
			if credit = p.waitWindow(ctx, seq, deadline); credit <= 0 {
				break
			}
		}
		if p.interval > 0 && !p.pace(ctx, t0+int64(seq)*int64(p.interval), deadline) {
			break
		}
		if cfg.QoS > 0 {
			id, ok := p.takeID(ctx, deadline)
			if !ok {
				break
			}
			msg.PacketID = id
		}
		binary.LittleEndian.PutUint64(payload[offTime:], uint64(nanotime()))
		binary.LittleEndian.PutUint32(payload[offSeq:], seq)
		c.mu.Lock()
		_, err := c.w.Write(packet.AppendPublish(c.w.AvailableBuffer(), &msg, c.v))
		if err == nil && seq%flushEvery == flushEvery-1 {
			err = c.flushLocked()
		}
		c.mu.Unlock()
		if err != nil {
			p.f.connErr(fmt.Sprintf("publisher %d", p.idx), err)
			break
		}
		p.sent.Store(int64(seq) + 1)
		credit--
	}
	if err := c.flush(); err != nil {
		p.f.connErr(fmt.Sprintf("publisher %d", p.idx), err)
	}
	if cfg.QoS > 0 {
		p.waitAcks(ctx)
	}
}

// waitWindow waits until the publisher may send again and returns how
// many messages it may send, or 0 when the run ends first. It sleeps
// until the receivers have freed half the window (they wake it), so that
// a slow broker costs the generator no polling. A window that sees no
// delivery for the stall time is reset: its messages are taken as lost
// (the report counts them exactly).
func (p *publisher) waitWindow(ctx context.Context, seq uint32, deadline int64) int64 {
	stall := stallQoS0
	if p.f.cfg.QoS > 0 {
		stall = stallQoS12
	}
	w := p.f.window
	credit := func() int64 { return w - (int64(seq) - p.forgiven - p.delivered.Load()/p.k) }
	if c := credit(); c > 0 {
		return c
	}
	if err := p.c.flush(); err != nil {
		return 0
	}
	// credit >= want once delivered >= k*(seq - forgiven - w + want).
	want := max(1, w/2)
	t := time.NewTimer(stall)
	defer t.Stop()
	select { // a signal left from an earlier wait
	case <-p.wake:
	default:
	}
	lastN := p.delivered.Load()
	for {
		p.wakeAt.Store(p.k * (int64(seq) - p.forgiven - w + want))
		if c := credit(); c > 0 { // delivered before wakeAt was set
			p.wakeAt.Store(math.MaxInt64)
			return c
		}
		wait := stall
		if deadline >= 0 {
			wait = min(wait, time.Duration(deadline-nanotime()))
		}
		t.Reset(max(wait, 0))
		timedOut := false
		select {
		case <-p.wake:
		case <-t.C:
			timedOut = true
		case <-ctx.Done():
		}
		p.wakeAt.Store(math.MaxInt64)
		if c := credit(); c > 0 {
			return c
		}
		if ctx.Err() != nil || deadline >= 0 && nanotime() >= deadline {
			return 0
		}
		if n := p.delivered.Load(); n != lastN {
			lastN = n
		} else if timedOut {
			// A whole stall time without a delivery.
			p.stalls++
			p.forgiven = int64(seq) - lastN/p.k
			return w
		}
	}
}

// pace waits until the send time at (nanotime) of the next message.
func (p *publisher) pace(ctx context.Context, at, deadline int64) bool {
	now := nanotime()
	if at <= now {
		return true
	}
	if err := p.c.flush(); err != nil {
		return false
	}
	if deadline >= 0 && at >= deadline {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Duration(at - now)):
		return true
	}
}

// takeID returns a free packet id, flushing before it blocks.
func (p *publisher) takeID(ctx context.Context, deadline int64) (uint16, bool) {
	var id uint16
	select {
	case id = <-p.free:
	default:
		if p.c.flush() != nil {
			return 0, false
		}
		var timeout <-chan time.Time
		if deadline >= 0 {
			t := time.NewTimer(time.Duration(deadline - nanotime()))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case id = <-p.free:
		case <-ctx.Done():
			return 0, false
		case <-timeout:
			return 0, false
		case <-p.readDone:
			return 0, false
		}
	}
	p.state[id].Store(1)
	return id, true
}

// waitAcks waits until every packet id is free again, for at most the
// drain time.
func (p *publisher) waitAcks(ctx context.Context) {
	limit := time.Now().Add(p.f.cfg.Drain)
	for len(p.free) < cap(p.free) && ctx.Err() == nil && time.Now().Before(limit) {
		select {
		case <-p.readDone:
			return
		case <-time.After(time.Millisecond):
		}
	}
}
