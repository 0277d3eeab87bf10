package test

// The resource half of the hostile-input suite: floods, exhaustion and
// slow peers, each on a fresh in-process broker (hostile_test.go) so that
// the heap it holds can be measured. These tests are not parallel: the
// heap is the process's, and other tests must not run meanwhile (parallel
// top-level tests start only after every sequential one has finished).

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
)

// Heap bounds of the resource cases: growth of the live heap while the
// hostile peer holds what it can, measured after two collections.
const (
	// slowSubscriberHeapBound: two subscribers that never read (QoS 0
	// and QoS 1) while a publisher sends floodMessages of floodPayload
	// bytes (24 MiB). The broker holds at most a queue's worth per
	// subscriber (hostileQueue messages) plus the QoS 1 window.
	slowSubscriberHeapBound = 8 << 20
	// qos2FloodHeapBound: 10,000 QoS 2 PUBLISH reusing one packet id,
	// then 20,000 PUBREL for unknown ids.
	qos2FloodHeapBound = 4 << 20
	// subscriptionsHeapBound: one client asking for 100,000
	// subscriptions; hostileMaxSubs are granted, the rest refused.
	subscriptionsHeapBound = 8 << 20
	// subscriptionsAcrossHeapBound: 100,000 subscriptions granted to 100
	// clients of 1,000 each (no broker-wide bound exists; about 600 bytes
	// per subscription with distinct three-level filters).
	subscriptionsAcrossHeapBound = 96 << 20
	// packetIDHeapBound: 65,535 QoS 1 deliveries in flight to one
	// client (every packet identifier in use) plus a few queued.
	packetIDHeapBound = 48 << 20
	// connFloodHeapBound: connFlood connections from one address, half
	// of them idle before CONNECT, half connected.
	connFloodHeapBound = 32 << 20
	// largeSlowHeapBound: a QoS 0 subscriber that never reads while 400
	// messages of 60 KiB (24 MiB) are published for it. The connection
	// holds at most max_queued_bytes queued plus the batch being written
	// (another max_queued_bytes): 2 MiB here, whatever the message count.
	largeSlowHeapBound = 4 * hostileQueueBytes
)

const (
	floodMessages = 24000
	floodPayload  = 1024
	// floodWithin: the publisher of the flood has every PUBACK this soon,
	// whoever does not read (about 0.5 s with -race on two cores).
	floodWithin = 10 * time.Second
	connFlood   = 400
)

// versionName is the subtest name of a protocol version.
func versionName(v5 bool) string {
	if v5 {
		return "v5"
	}
	return "v311"
}

// countResult is what a background reader saw.
type countResult struct {
	n   int
	err error
}

// countAsync reads packets in the background until n of type typ arrived
// (other types are ignored) or d passes. The client must not be read
// elsewhere meanwhile.
func (c *rawClient) countAsync(typ byte, n int, d time.Duration) <-chan countResult {
	ch := make(chan countResult, 1)
	go func() {
		deadline := time.Now().Add(d)
		got := 0
		for got < n {
			p, err := c.read(time.Until(deadline))
			if err != nil {
				ch <- countResult{got, err}
				return
			}
			if p.Type == typ {
				got++
			}
		}
		ch <- countResult{got, nil}
	}()
	return ch
}

// smallReadBuffer makes the kernel hold little for a client that does not
// read, so that the broker's writes block soon.
func smallReadBuffer(c *rawClient) {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
}

// TestHostile_NeverReadingSubscriber: two subscribers stop reading while a
// publisher floods them. The publisher is never blocked, the heap stays
// bounded, the QoS 0 subscriber is cut after the write timeout, and every
// QoS 1 message the slow subscriber lost is counted as dropped.
func TestHostile_NeverReadingSubscriber(t *testing.T) {
	h := startHostile(t, nil)
	base := heapBytes()

	s0 := dialRaw(t, h.addr, true)
	smallReadBuffer(s0)
	s0.connect(rawConnect{Version: 5, ClientID: "slow-qos0", Clean: true, KeepAlive: 60})
	s0.subscribe(1, "flood/#", 0, nil)
	s1 := dialRaw(t, h.addr, true) // a full window (64 KiB) fits its buffer
	s1.connect(rawConnect{Version: 5, ClientID: "slow-qos1", Clean: true, KeepAlive: 60})
	s1.subscribe(1, "flood/#", 1, nil)

	pub := dialRaw(t, h.addr, true)
	pub.connect(rawConnect{Version: 5, ClientID: "flooder", Clean: true, KeepAlive: 60})
	acks := pub.countAsync(tPUBACK, floodMessages, 30*time.Second)
	payload := []byte(strings.Repeat("p", floodPayload))
	start := time.Now()
	var batch []byte
	for i := range floodMessages {
		id := uint16(i%60000 + 1)
		batch = append(batch, rawPublish{Topic: "flood/t", QoS: 1, ID: id, Payload: payload}.bytes(true)...)
		if len(batch) > 256<<10 || i == floodMessages-1 {
			pub.send(batch) // fails the test when the broker stops reading the publisher
			batch = batch[:0]
		}
	}
	res := <-acks
	if res.err != nil || res.n != floodMessages {
		t.Fatalf("publisher got %d of %d PUBACKs: %v", res.n, floodMessages, res.err)
	}
	took := time.Since(start)
	if took > floodWithin {
		t.Errorf("the publisher took %v to publish the flood (bound %v): slow subscribers hold it up", took, floodWithin)
	}
	grown := heapGrowth(base)
	t.Logf("flood of %d x %d B published in %v; heap grew %s while both subscribers held it", floodMessages, floodPayload, took, mib(grown))
	if grown > slowSubscriberHeapBound {
		t.Errorf("heap grew by %s with two subscribers not reading (bound %s)", mib(grown), mib(slowSubscriberHeapBound))
	}

	// The QoS 0 subscriber fills its socket and is cut after the write
	// timeout; the QoS 1 one holds a full window and stays.
	testutil.Eventually(t, hostileWriteTimeout+3*time.Second, "the QoS 0 subscriber that never reads is disconnected",
		func() bool { return h.b.Metrics().ConnectionsCurrent.Load() == 2 })
	t.Logf("QoS 0 subscriber cut %v after the flood began", time.Since(start))
	m := h.b.Metrics()
	if m.Dropped[metrics.DropSlowConsumer].Load() == 0 {
		t.Error("no QoS 0 message counted as dropped for the slow consumer")
	}

	// The QoS 1 subscriber reads again: it gets its window and its queue
	// (the newest messages); every other message is counted as dropped.
	got := 0
	for got < hostileMaxInflight+hostileQueue {
		p, err := s1.read(waitTimeout)
		if err != nil {
			t.Fatalf("slow QoS 1 subscriber, after %d messages: %v", got, err)
		}
		if p.Type == tPUBLISH {
			got++
			s1.send(rawAck(tPUBACK, parsePublish(t, p, true).ID))
		}
	}
	for _, p := range s1.ping() { // acknowledgements pump the queue before PINGRESP
		if p.Type == tPUBLISH {
			got++
		}
	}
	dropped := int(m.Dropped[metrics.DropQueueFull].Load())
	if got != hostileMaxInflight+hostileQueue || got+dropped != floodMessages {
		t.Errorf("slow QoS 1 subscriber: received %d, counted dropped %d, of %d (want %d received)",
			got, dropped, floodMessages, hostileMaxInflight+hostileQueue)
	}
	h.alive(t)
}

// TestHostile_QoS2Flood: 10,000 QoS 2 PUBLISH reusing one packet id are
// routed once; 20,000 PUBREL for unknown ids are each answered; the heap
// stays bounded. A flood of distinct ids past Receive Maximum ends with
// DISCONNECT 0x93.
func TestHostile_QoS2Flood(t *testing.T) {
	for _, v5 := range []bool{false, true} {
		t.Run(versionName(v5), func(t *testing.T) {
			h := startHostile(t, nil)
			base := heapBytes()
			sub := dialRaw(t, h.addr, true)
			sub.connect(rawConnect{Version: 5, ClientID: "q2-sub", Clean: true, KeepAlive: 60})
			sub.subscribe(1, "q2/#", 2, nil)

			c := dialRaw(t, h.addr, v5)
			c.connect(rawConnect{Version: protoVersion(v5), ClientID: "q2-flood", Clean: true, KeepAlive: 60})
			const n = 10000
			one := rawPublish{Topic: "q2/t", QoS: 2, ID: 1, Payload: []byte("once")}.bytes(v5)
			recs := c.countAsync(tPUBREC, n, 20*time.Second)
			c.send([]byte(strings.Repeat(string(one), n)))
			if r := <-recs; r.err != nil || r.n != n {
				t.Fatalf("PUBREC %d of %d: %v", r.n, n, r.err)
			}
			// 20,000 PUBREL: one for the id in use, the rest unknown.
			const rels = 20000
			var b []byte
			for i := range rels {
				b = append(b, rawAck(tPUBREL, uint16(i+1))...)
			}
			comps := c.countAsync(tPUBCOMP, rels, 20*time.Second)
			c.send(b)
			if r := <-comps; r.err != nil || r.n != rels {
				t.Fatalf("PUBCOMP %d of %d: %v", r.n, rels, r.err)
			}
			grown := heapGrowth(base)
			t.Logf("heap grew %s", mib(grown))
			if grown > qos2FloodHeapBound {
				t.Errorf("heap grew by %s (bound %s)", mib(grown), mib(qos2FloodHeapBound))
			}
			// Exactly once: a marker published after the flood arrives
			// second.
			c.send(rawPublish{Topic: "q2/marker", Payload: []byte("marker")}.bytes(v5))
			var payloads []string
			for len(payloads) < 2 {
				p, err := sub.read(waitTimeout)
				if err != nil {
					t.Fatalf("subscriber: %v (received %q)", err, payloads)
				}
				switch p.Type {
				case tPUBLISH:
					m := parsePublish(t, p, true)
					payloads = append(payloads, string(m.Payload))
					if m.QoS == 2 {
						sub.send(rawAck(tPUBREC, m.ID))
					}
				case tPUBREL:
					id, _ := ackID(p)
					sub.send(rawAck(tPUBCOMP, id))
				}
			}
			if payloads[0] != "once" || payloads[1] != "marker" {
				t.Errorf("subscriber received %q, want the QoS 2 message once, then the marker [MQTT-4.3.3-10]", payloads)
			}

			// Distinct ids, never released: Receive Maximum, then 0x93.
			d := dialRaw(t, h.addr, v5)
			d.connect(rawConnect{Version: protoVersion(v5), ClientID: "q2-distinct", Clean: true, KeepAlive: 60})
			remote := d.localAddr()
			var flood []byte
			for i := range n {
				flood = append(flood, rawPublish{Topic: "q2/d", QoS: 2, ID: uint16(i + 1), Payload: []byte("d")}.bytes(v5)...)
			}
			d.sendMaybe(flood)
			res := d.readUntilClosed(t, closeWithin, "QoS 2 flood past Receive Maximum")
			recs2 := 0
			for _, p := range res.Packets {
				if p.Type == tPUBREC {
					recs2++
				}
			}
			if recs2 != hostileReceiveMax {
				t.Errorf("PUBREC for %d messages before the close, want Receive Maximum %d", recs2, hostileReceiveMax)
			}
			if v5 && (res.Disconnect == nil || disconnectReason(res.Disconnect) != 0x93) {
				t.Errorf("want DISCONNECT 0x93 (Receive Maximum exceeded), got %v", res.Disconnect)
			}
			h.expectEvent(t, remote, audit.ProtocolViolation, packet.ReceiveMaximumExceeded)
			h.alive(t)
		})
	}
}

// TestHostile_PacketIDExhaustion: with the outbound window at its maximum,
// a subscriber that acknowledges nothing gets 65,535 messages with
// distinct, non-zero packet identifiers, then nothing until it frees one;
// the freed identifier is the one reused.
func TestHostile_PacketIDExhaustion(t *testing.T) {
	const window = 65535
	const extra = 10
	h := startHostile(t, func(l *broker.Limits) {
		l.MaxInflight = window
		l.ReceiveMaximum = window
	})
	base := heapBytes()
	sub := dialRaw(t, h.addr, true)
	sub.connect(rawConnect{Version: 5, ClientID: "ids-sub", Clean: true, KeepAlive: 60,
		Props: props{{ID: propReceiveMaximum, N: window}}})
	sub.subscribe(1, "ids/t", 1, nil)

	pub := dialRaw(t, h.addr, true)
	pub.connect(rawConnect{Version: 5, ClientID: "ids-pub", Clean: true, KeepAlive: 60})
	acks := pub.countAsync(tPUBACK, window+extra, 30*time.Second)
	var b []byte
	for i := range window + extra {
		b = append(b, rawPublish{Topic: "ids/t", QoS: 1, ID: uint16(i%window + 1), Payload: []byte("i")}.bytes(true)...)
	}
	go pub.sendMaybe(b)

	seen := make([]bool, window+1)
	for range window {
		p := sub.expect(tPUBLISH)
		m := parsePublish(t, p, true)
		if m.ID == 0 || seen[m.ID] {
			t.Fatalf("packet identifier %d given twice or 0 while in flight [MQTT-2.2.1-3]", m.ID)
		}
		seen[m.ID] = true
	}
	if r := <-acks; r.err != nil || r.n != window+extra {
		t.Fatalf("publisher got %d of %d PUBACKs: %v", r.n, window+extra, r.err)
	}
	if other := sub.ping(); len(other) > 0 {
		t.Fatalf("%d more packets with every identifier in flight", len(other))
	}
	grown := heapGrowth(base)
	t.Logf("heap grew %s with %d deliveries in flight", mib(grown), window)
	if grown > packetIDHeapBound {
		t.Errorf("heap grew by %s (bound %s)", mib(grown), mib(packetIDHeapBound))
	}
	const freed = 40000
	sub.send(rawAck(tPUBACK, freed))
	if m := parsePublish(t, sub.expect(tPUBLISH), true); m.ID != freed {
		t.Errorf("next delivery has identifier %d, want the only free one, %d", m.ID, freed)
	}
	h.alive(t)
}

// TestHostile_100kSubscriptions: a client asks for 100,000 subscriptions in
// 100 SUBSCRIBE packets; hostileMaxSubs are granted and the rest refused
// (MQTT 5 0x97 Quota exceeded, 3.1.1 0x80), and the heap stays bounded.
func TestHostile_100kSubscriptions(t *testing.T) {
	for _, v5 := range []bool{false, true} {
		t.Run(versionName(v5), func(t *testing.T) {
			h := startHostile(t, nil)
			base := heapBytes()
			c := dialRaw(t, h.addr, v5)
			c.connect(rawConnect{Version: protoVersion(v5), ClientID: "subs", Clean: true, KeepAlive: 60})
			const perPacket, packets = 1000, 100
			refuse := byte(0x80)
			if v5 {
				refuse = 0x97
			}
			granted, refused := 0, 0
			for p := range packets {
				filters := make([]string, perPacket)
				opts := make([]byte, perPacket)
				for i := range filters {
					filters[i] = fmt.Sprintf("s/%d/+", p*perPacket+i)
					opts[i] = 1
				}
				c.send(rawSubscribe(v5, uint16(p+1), nil, filters, opts))
				for _, code := range subackCodes(t, c.expect(tSUBACK), v5) {
					switch code {
					case 1:
						granted++
					case refuse:
						refused++
					default:
						t.Fatalf("SUBACK code %#x", code)
					}
				}
			}
			grown := heapGrowth(base)
			t.Logf("granted %d, refused %d; heap grew %s", granted, refused, mib(grown))
			if granted != hostileMaxSubs || refused != perPacket*packets-hostileMaxSubs {
				t.Errorf("granted %d and refused %d, want %d granted", granted, refused, hostileMaxSubs)
			}
			if grown > subscriptionsHeapBound {
				t.Errorf("heap grew by %s (bound %s)", mib(grown), mib(subscriptionsHeapBound))
			}
			if n := h.b.Metrics().Subscriptions.Load(); n != hostileMaxSubs {
				t.Errorf("broker holds %d subscriptions, want %d", n, hostileMaxSubs)
			}
			c.send(rawDisconnect(v5, 0))
			c.readUntilClosed(t, closeWithin, "DISCONNECT")
			h.idle(t)
			if n := h.b.Metrics().Subscriptions.Load(); n != 0 {
				t.Errorf("%d subscriptions left after the session ended", n)
			}
			h.alive(t)
		})
	}
}

// TestHostile_100kSubscriptionsAcrossClients: 100,000 subscriptions from
// 100 clients, each within its limit, are all granted and cost a stated
// heap; they are all released when the clients leave.
func TestHostile_100kSubscriptionsAcrossClients(t *testing.T) {
	h := startHostile(t, nil)
	base := heapBytes()
	var cs []*rawClient
	for k := range 100 {
		c := dialRaw(t, h.addr, k%2 == 0)
		c.connect(rawConnect{Version: protoVersion(c.v5), ClientID: fmt.Sprintf("many-%d", k), Clean: true, KeepAlive: 60})
		filters := make([]string, hostileMaxSubs)
		opts := make([]byte, len(filters))
		for i := range filters {
			filters[i] = fmt.Sprintf("dev/%d/%d/+", k, i)
			opts[i] = 1
		}
		c.send(rawSubscribe(c.v5, 1, nil, filters, opts))
		for _, code := range subackCodes(t, c.expect(tSUBACK), c.v5) {
			if code != 1 {
				t.Fatalf("client %d: SUBACK code %#x", k, code)
			}
		}
		cs = append(cs, c)
	}
	grown := heapGrowth(base)
	t.Logf("heap grew %s for %d subscriptions", mib(grown), 100*hostileMaxSubs)
	if grown > subscriptionsAcrossHeapBound {
		t.Errorf("heap grew by %s (bound %s)", mib(grown), mib(subscriptionsAcrossHeapBound))
	}
	h.alive(t)
	for _, c := range cs {
		c.send(rawDisconnect(c.v5, 0))
	}
	h.idle(t)
	if n := h.b.Metrics().Subscriptions.Load(); n != 0 {
		t.Errorf("%d subscriptions left after every session ended", n)
	}
	if g := heapGrowth(base); g > tableHeapSlack {
		t.Errorf("heap still %s above the start after the clients left (bound %s)", mib(g), mib(tableHeapSlack))
	}
}

// TestHostile_TakeoverStorm: 100 connections CONNECT with one client id
// at once. Each takes the session over from the previous one; the broker
// ends with one connection for that id, and serves others meanwhile.
func TestHostile_TakeoverStorm(t *testing.T) {
	h := startHostile(t, nil)
	const n = 100
	cs := make([]*rawClient, n)
	for i := range cs {
		cs[i] = dialRaw(t, h.addr, i%2 == 0)
	}
	for i, c := range cs {
		c.sendMaybe(rawConnect{Version: protoVersion(c.v5), ClientID: "storm", Clean: i%3 != 0, KeepAlive: 60,
			Props: props{{ID: propSessionExpiry, N: 30}}}.bytes())
	}
	h.alive(t)
	m := h.b.Metrics()
	testutil.Eventually(t, 10*time.Second, "every connection served, one left for the client id", func() bool {
		return m.ConnectionsTotal.Load() == n+1 && m.ConnectionsCurrent.Load() == 1
	})
	if n := h.b.SessionCount(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
	open := 0
	for _, c := range cs {
		if !c.waitClosed(50 * time.Millisecond).Closed {
			open++
		}
	}
	if open != 1 {
		t.Errorf("%d connections still open, want 1", open)
	}
}

// TestHostile_Slowloris: a CONNECT sent one byte at a time is cut at the
// CONNECT deadline, so is a connection that sent one byte of a header; a
// packet dribbled after CONNECT is cut at one and a half times the keep
// alive (MQTT 5: DISCONNECT 0x8D). Normal clients are served meanwhile.
func TestHostile_Slowloris(t *testing.T) {
	h := startHostile(t, nil)
	const lorises = 20
	connect := rawConnect{Version: 5, ClientID: "loris", Clean: true, KeepAlive: 30}.bytes()
	start := time.Now()
	var ls []*rawClient
	for range lorises {
		c := dialRaw(t, h.addr, true)
		dribble(t, c, connect, 50*time.Millisecond)
		ls = append(ls, c)
	}
	partial := dialRaw(t, h.addr, true)
	partial.send([]byte{0x10})
	// After CONNECT: a PUBLISH dribbled slower than the keep alive allows.
	var late []*rawClient
	for _, v5 := range []bool{false, true} {
		c := dialRaw(t, h.addr, v5)
		c.connect(rawConnect{Version: protoVersion(v5), ClientID: "loris-" + versionName(v5), Clean: true, KeepAlive: 1})
		dribble(t, c, rawPublish{Topic: "loris/t", Payload: make([]byte, 100)}.bytes(v5), 100*time.Millisecond)
		late = append(late, c)
	}
	h.alive(t) // served while the slow connections are open

	for _, c := range append(ls, partial) {
		res := c.readUntilClosed(t, hostileConnectTimeout+closeWithin, "slowloris CONNECT")
		if len(res.Packets) > 0 {
			t.Errorf("slowloris CONNECT answered with %v", res.Packets)
		}
	}
	if took := time.Since(start); took > hostileConnectTimeout+closeWithin {
		t.Errorf("slowloris CONNECTs closed after %v (connect timeout %v)", took, hostileConnectTimeout)
	}
	if n := h.b.Metrics().Refused[packet.MaximumConnectTime].Load(); n < lorises+1 {
		t.Errorf("CONNECT timeouts counted: %d, want %d", n, lorises+1)
	}
	for _, c := range late {
		res := c.readUntilClosed(t, 1500*time.Millisecond+closeWithin, "slowloris PUBLISH")
		if c.v5 && (res.Disconnect == nil || disconnectReason(res.Disconnect) != 0x8D) {
			t.Errorf("slowloris PUBLISH: want DISCONNECT 0x8D (keep alive timeout), got %v", res.Packets)
		}
	}
	h.alive(t)
}

// dribble writes b to c one byte every d in the background, until the
// bytes run out, a write fails or the test ends.
func dribble(t *testing.T, c *rawClient, b []byte, d time.Duration) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for i := range b {
			_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
			if _, err := c.conn.Write(b[i : i+1]); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	}()
}

// TestHostile_ConnectionFlood: connFlood connections from one address,
// half idle after the TCP accept, half connected. A normal client is
// served during the flood, the idle half is cut at the CONNECT deadline,
// the heap stays bounded, and everything is released afterwards.
func TestHostile_ConnectionFlood(t *testing.T) {
	h := startHostile(t, nil)
	base := heapBytes()
	start := time.Now()
	var idle, connected []*rawClient
	for i := range connFlood / 2 {
		idle = append(idle, dialRaw(t, h.addr, true))
		c := dialRaw(t, h.addr, i%2 == 0)
		c.connect(rawConnect{Version: protoVersion(i%2 == 0), ClientID: fmt.Sprintf("flood-%d", i), Clean: true, KeepAlive: 60})
		connected = append(connected, c)
	}
	grown := heapGrowth(base)
	t.Logf("%d connections opened in %v; heap grew %s", connFlood, time.Since(start), mib(grown))
	if grown > connFloodHeapBound {
		t.Errorf("heap grew by %s for %d connections (bound %s)", mib(grown), connFlood, mib(connFloodHeapBound))
	}
	h.alive(t)
	for _, c := range idle {
		if res := c.readUntilClosed(t, hostileConnectTimeout+closeWithin, "idle after accept"); len(res.Packets) > 0 {
			t.Errorf("idle connection received %v", res.Packets)
		}
	}
	testutil.Eventually(t, closeWithin, "only the connected half left", func() bool {
		return h.b.Metrics().ConnectionsCurrent.Load() == connFlood/2
	})
	for _, c := range connected {
		c.send(rawDisconnect(c.v5, 0))
	}
	h.idle(t)
	if g := heapGrowth(base); g > tableHeapSlack {
		t.Errorf("heap still %s above the start after every connection closed (bound %s)", mib(g), mib(tableHeapSlack))
	}
	h.alive(t)
}

// TestHostile_NeverReadingSubscriberLargeMessages: the QoS 0 path to a
// subscriber that never reads is bounded in bytes too: 400 messages of
// 60 KiB (24 MiB) leave at most about twice max_queued_bytes behind.
func TestHostile_NeverReadingSubscriberLargeMessages(t *testing.T) {
	h := startHostile(t, nil)
	base := heapBytes()
	s := dialRaw(t, h.addr, true)
	smallReadBuffer(s)
	s.connect(rawConnect{Version: 5, ClientID: "slow-big", Clean: true, KeepAlive: 60})
	s.subscribe(1, "big/#", 0, nil)
	pub := dialRaw(t, h.addr, true)
	pub.connect(rawConnect{Version: 5, ClientID: "big-flooder", Clean: true, KeepAlive: 60})
	payload := make([]byte, 60<<10)
	for i := range 400 {
		payload[0] = byte(i)
		pub.send(rawPublish{Topic: "big/t", Payload: payload}.bytes(true))
	}
	pub.ping()
	grown := heapGrowth(base)
	t.Logf("heap grew %s", mib(grown))
	if grown > largeSlowHeapBound {
		t.Errorf("heap grew by %s with a subscriber not reading 60 KiB messages (bound %s)", mib(grown), mib(largeSlowHeapBound))
	}
	h.alive(t)
}
