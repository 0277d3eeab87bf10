package test

// The hostile-input suite (issue 6): raw bytes over real sockets to an
// in-process broker started with tight limits and an audit sink the test
// reads. Every case asserts
//
//	(a) the outcome: the MQTT 5 reason code (CONNACK, DISCONNECT or
//	    acknowledgement), or the close for MQTT 3.1.1;
//	(b) that the close comes within a bound (every read has a deadline);
//	(c) the audit event, matched by the client's address;
//	(d) that a normal client connects, subscribes, publishes and receives
//	    right after;
//
// and the resource cases (hostile_flood_test.go) bound the broker's heap.
// The protocol cases are in hostile_codec_test.go. Cases already covered by
// badinput_paho_test.go, v5features_paho_test.go and publish_paho_test.go
// (PUBLISH QoS 3, reserved flags of SUBSCRIBE and PUBREL, invalid UTF-8 and
// U+0000 in a topic, a second CONNECT, PUBLISH before CONNECT, idle after
// accept, topic alias 0 and above the maximum, Receive Maximum exceeded)
// are not repeated here; the table tries their neighbours instead.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/listener"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/server"
	"github.com/moatmq/moat/internal/testutil"
)

// The suite's limits: tight, so that every bound is reached in
// milliseconds. Each is what a case relies on.
const (
	// hostileConnectTimeout bounds the wait for CONNECT (idle, slowloris).
	hostileConnectTimeout = 500 * time.Millisecond
	// hostileWriteTimeout cuts a client that does not read.
	hostileWriteTimeout = time.Second
	// hostileMaxPacket is the broker's Maximum Packet Size.
	hostileMaxPacket = 64 << 10
	// hostileReceiveMax is the inbound QoS 1/2 window per client.
	hostileReceiveMax = 64
	// hostileMaxInflight is the outbound QoS 1/2 window per client.
	hostileMaxInflight = 64
	// hostileQueue bounds each session's queue (and each connection's
	// pending QoS 0 deliveries).
	hostileQueue = 100
	// hostileQueueBytes bounds each session's queue in bytes, and each
	// connection's pending QoS 0 deliveries.
	hostileQueueBytes = 1 << 20
	// hostileMaxSubs is the per-client subscription limit.
	hostileMaxSubs = 1000
	// hostileAliasMax is the inbound Topic Alias Maximum.
	hostileAliasMax = 16
	// hostileMaxLevels bounds topic levels; the topic length limit is
	// raised to the packet's so that levels, not length, refuse a deep
	// topic.
	hostileMaxLevels = 32
)

// Bounds the suite asserts. They prove "no hang", not speed: a case takes
// milliseconds, but the suite runs under the race detector on shared CI
// cores, where a 2 s bound was seen to fail by 55 ms.
const (
	// closeWithin: a hostile connection is closed this soon after its
	// last byte (stall cases add their own deadline to it).
	closeWithin = 10 * time.Second
	// aliveWithin: a normal client is served (connect, subscribe,
	// publish, receive) this soon after any case.
	aliveWithin = 10 * time.Second
	// tableHeapSlack: after the whole protocol table, with every
	// connection closed, the heap is back within this of where it
	// started.
	tableHeapSlack = 4 << 20
)

// hostileBroker is an in-process broker on 127.0.0.1:0 with an audit sink.
type hostileBroker struct {
	addr  string
	b     *broker.Broker
	audit *auditLog
}

// hostileLimits are the default limits made tight (see the constants).
func hostileLimits() broker.Limits {
	lim := server.Limits(config.Default())
	lim.ConnectTimeout = hostileConnectTimeout
	lim.WriteTimeout = hostileWriteTimeout
	lim.MaxPacketSize = hostileMaxPacket
	lim.ReceiveMaximum = hostileReceiveMax
	lim.MaxInflight = hostileMaxInflight
	lim.MaxQueuedMessages = hostileQueue
	lim.MaxQueuedBytes = hostileQueueBytes
	lim.MaxSubscriptions = hostileMaxSubs
	lim.TopicAliasMaximum = hostileAliasMax
	lim.Topic.MaxLevels = hostileMaxLevels
	lim.Topic.MaxLength = 65535
	lim.AllowEmptyClientID = true
	return lim
}

// startHostile runs a broker with hostileLimits adjusted by tune (may be
// nil); it is shut down when the test ends.
func startHostile(t testing.TB, tune func(*broker.Limits)) *hostileBroker {
	t.Helper()
	lim := hostileLimits()
	if tune != nil {
		tune(&lim)
	}
	rec := &auditLog{}
	b := broker.New(broker.Options{Limits: lim, Audit: rec, Metrics: &metrics.Metrics{}})
	l := &listener.TCP{Name: "hostile", Address: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler),
		Handle: func(a listener.Accepted) {
			b.Serve(a.Conn, broker.ConnInfo{Listener: a.Listener, Remote: a.Remote})
		}}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	go l.Serve()
	t.Cleanup(func() {
		l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		l.Wait()
	})
	return &hostileBroker{addr: l.Addr().String(), b: b, audit: rec}
}

// auditLog is an audit sink that keeps every event.
type auditLog struct {
	mu     sync.Mutex
	events []audit.Event
}

// Record implements audit.Sink.
func (a *auditLog) Record(e audit.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

// of returns the events recorded for the client at remote.
func (a *auditLog) of(remote string) []audit.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Event
	for _, e := range a.events {
		if e.Remote.String() == remote {
			out = append(out, e)
		}
	}
	return out
}

// expectEvent checks that the client at remote has an event of kind with
// reason code. The broker records before it closes, so no wait is needed
// once the close was seen; a short poll covers the reverse order anyway.
func (h *hostileBroker) expectEvent(t testing.TB, remote string, kind audit.Kind, code packet.ReasonCode) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		evs := h.audit.of(remote)
		for _, e := range evs {
			if e.Kind == kind && e.Reason == code {
				if e.Detail == "" {
					t.Errorf("audit event %s %v has no detail", kind, code)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("no audit event %s with reason %v for %s; got %s", kind, code, remote, describeEvents(evs))
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describeEvents(evs []audit.Event) string {
	if len(evs) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "[%s %v %q] ", e.Kind, e.Reason, e.Detail)
	}
	return b.String()
}

var aliveSeq atomic.Int64

// alive checks that the broker serves a normal MQTT 5 client at once:
// connect, subscribe at QoS 1, publish at QoS 1 and receive the message,
// all within aliveWithin.
func (h *hostileBroker) alive(t testing.TB) {
	t.Helper()
	start := time.Now()
	n := aliveSeq.Add(1)
	c := dialRaw(t, h.addr, true)
	c.connect(rawConnect{Version: 5, ClientID: fmt.Sprintf("alive-%d", n), Clean: true, KeepAlive: 30})
	topic := fmt.Sprintf("alive/%d", n)
	if g := c.subscribe(1, topic, 1, nil); g != 1 {
		t.Fatalf("alive: SUBSCRIBE granted %#x", g)
	}
	c.send(rawPublish{Topic: topic, QoS: 1, ID: 2, Payload: []byte("ok")}.bytes(true))
	var gotPub, gotAck bool
	for !gotPub || !gotAck {
		p, err := c.read(aliveWithin)
		if err != nil {
			t.Fatalf("alive: waiting for the message and its PUBACK: %v", err)
		}
		switch p.Type {
		case tPUBLISH:
			m := parsePublish(t, p, true)
			if string(m.Payload) != "ok" {
				t.Fatalf("alive: received %q", m.Payload)
			}
			c.send(rawAck(tPUBACK, m.ID))
			gotPub = true
		case tPUBACK:
			gotAck = true
		default:
			t.Fatalf("alive: unexpected %v", p)
		}
	}
	c.send(rawDisconnect(true, 0))
	c.readUntilClosed(t, aliveWithin, "alive: DISCONNECT")
	if d := time.Since(start); d > aliveWithin {
		t.Errorf("alive: a normal client took %v to be served (bound %v)", d, aliveWithin)
	}
}

// idle waits until the broker holds no connection and no session: every
// hostile connection has been cleaned up.
func (h *hostileBroker) idle(t testing.TB) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, "connections and sessions back to zero", func() bool {
		return h.b.Metrics().ConnectionsCurrent.Load() == 0 && h.b.SessionCount() == 0
	})
}

// heapBytes is the live heap after two collections.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapGrowth is how much the heap grew since base (0 when it shrank).
func heapGrowth(base uint64) uint64 {
	if now := heapBytes(); now > base {
		return now - base
	}
	return 0
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// localAddr is the client side of c, as the broker records it (Remote).
func (c *rawClient) localAddr() string { return c.conn.LocalAddr().String() }

// halfClose ends the client's sending side; the broker reads EOF.
func (c *rawClient) halfClose() {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// readUntilClosed is waitClosed that fails the test when the connection
// stays open past d.
func (c *rawClient) readUntilClosed(t testing.TB, d time.Duration, what string) closeResult {
	t.Helper()
	res := c.waitClosed(d)
	if !res.Closed {
		t.Errorf("%s: connection still open after %v (received %v)", what, d, res.Packets)
	}
	return res
}
