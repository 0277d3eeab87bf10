package test

// PUBLISH flows: QoS 0/1/2 in both directions, QoS downgrade, redelivery,
// exactly-once, flow control and offline queues.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// Each QoS flows client -> broker -> client at the published QoS when the
// subscription grants QoS 2 (§4.3).
func TestPaho5_PublishQoSLevels(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("qos-sub"))
	s.sub(t, "qos/#", 2)
	p := mustDial5(t, addr, cleanConnect("qos-pub"))
	for q := byte(0); q <= 2; q++ {
		r := p.pub(t, &paho.Publish{Topic: fmt.Sprintf("qos/%d", q), QoS: q, Payload: []byte(fmt.Sprintf("m%d", q))})
		if q > 0 && r.ReasonCode >= 0x80 {
			t.Errorf("QoS %d publish: reason %#x", q, r.ReasonCode)
		}
	}
	for q := byte(0); q <= 2; q++ {
		m := s.Inbox.waitPayload(t, fmt.Sprintf("m%d", q))
		if m.QoS != q || m.Topic != fmt.Sprintf("qos/%d", q) {
			t.Errorf("received %q on %q at QoS %d, want QoS %d", m.Payload, m.Topic, m.QoS, q)
		}
	}
	time.Sleep(grace)
	for q := byte(0); q <= 2; q++ {
		if n := s.Inbox.count(fmt.Sprintf("m%d", q)); n != 1 {
			t.Errorf("QoS %d message delivered %d times to a clean subscriber, want 1", q, n)
		}
	}
}

func TestPaho3_PublishQoSLevels(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial3(t, addr, "qos3-sub", true)
	s.sub(t, "qos/#", 2)
	p := mustDial3(t, addr, "qos3-pub", true)
	for q := byte(0); q <= 2; q++ {
		p.pubs(t, fmt.Sprintf("qos/%d", q), q, false, fmt.Sprintf("m%d", q))
	}
	for q := byte(0); q <= 2; q++ {
		m := s.Inbox.waitPayload(t, fmt.Sprintf("m%d", q))
		if m.QoS != q || m.Topic != fmt.Sprintf("qos/%d", q) {
			t.Errorf("received %q on %q at QoS %d, want QoS %d", m.Payload, m.Topic, m.QoS, q)
		}
	}
}

// [MQTT-3.8.4-8]: delivered QoS is the minimum of the published QoS and the
// granted QoS.
func TestPaho5_QoSDowngrade(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("dg-sub"))
	s.sub(t, "dg/1", 1)
	s.sub(t, "dg/0", 0)
	p := mustDial5(t, addr, cleanConnect("dg-pub"))
	p.pubs(t, "dg/1", 2, "two-to-one")
	p.pubs(t, "dg/0", 2, "two-to-zero")
	p.pubs(t, "dg/0", 1, "one-to-zero")
	for payload, want := range map[string]byte{"two-to-one": 1, "two-to-zero": 0, "one-to-zero": 0} {
		if m := s.Inbox.waitPayload(t, payload); m.QoS != want {
			t.Errorf("%s delivered at QoS %d, want %d [MQTT-3.8.4-8]", payload, m.QoS, want)
		}
	}
}

// 3.1.1 §3.8.4: same downgrade rule.
func TestPaho3_QoSDowngrade(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial3(t, addr, "dg3-sub", true)
	s.sub(t, "dg/1", 1)
	s.sub(t, "dg/0", 0)
	p := mustDial3(t, addr, "dg3-pub", true)
	p.pubs(t, "dg/1", 2, false, "two-to-one")
	p.pubs(t, "dg/0", 2, false, "two-to-zero")
	for payload, want := range map[string]byte{"two-to-one": 1, "two-to-zero": 0} {
		if m := s.Inbox.waitPayload(t, payload); m.QoS != want {
			t.Errorf("%s delivered at QoS %d, want %d (§3.8.4)", payload, m.QoS, want)
		}
	}
}

// [MQTT-4.4.0-1] and [MQTT-3.3.1-1]: an unacknowledged QoS 1 PUBLISH is
// resent on reconnect with clean start 0, with its original packet id and
// the DUP flag set.
func TestRaw_RedeliveryWithDUP(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		rc := rawConnect{Version: protoVersion(v5), ClientID: "redeliver", Clean: false, KeepAlive: 30}
		if v5 {
			rc.Props = props{{ID: propSessionExpiry, N: 60}}
		}
		c := dialRaw(t, addr, v5)
		c.connect(rc)
		if g := c.subscribe(1, "rd/t", 1, nil); g != 1 {
			t.Fatalf("granted %#x", g)
		}
		p := mustDial5(t, addr, cleanConnect("rd-pub"))
		p.pubs(t, "rd/t", 1, "once")

		first := parsePublish(t, c.expect(tPUBLISH), v5)
		if first.Dup || first.QoS != 1 || string(first.Payload) != "once" {
			t.Fatalf("first delivery: dup %v qos %d payload %q", first.Dup, first.QoS, first.Payload)
		}
		_ = c.conn.Close() // no PUBACK, no DISCONNECT

		c = dialRaw(t, addr, v5)
		if ca := c.connect(rc); !ca.SessionPresent {
			t.Fatalf("session present 0 on reconnect with clean start 0 [MQTT-3.2.2-3]")
		}
		again := parsePublish(t, c.expect(tPUBLISH), v5)
		if !again.Dup {
			t.Errorf("redelivered PUBLISH has DUP 0, want 1 [MQTT-3.3.1-1]")
		}
		if again.ID != first.ID {
			t.Errorf("redelivered with packet id %d, first sent with %d [MQTT-4.4.0-1]", again.ID, first.ID)
		}
		if string(again.Payload) != "once" || again.QoS != 1 || again.Topic != "rd/t" {
			t.Errorf("redelivered %q on %q QoS %d", again.Payload, again.Topic, again.QoS)
		}
		c.send(rawAck(tPUBACK, again.ID))
		if other := c.ping(); len(other) != 0 {
			t.Errorf("unexpected packets after PUBACK: %v", other)
		}
	})
}

// [MQTT-4.3.3-10] (3.1.1: [MQTT-4.3.3-2]): until PUBREL, a repeated QoS 2
// PUBLISH with the same packet id is answered with PUBREC and not
// delivered again.
func TestRaw_QoS2ExactlyOnceInbound(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		s := mustDial5(t, addr, cleanConnect("eo-sub"))
		s.sub(t, "eo/t", 2)

		c := dialRaw(t, addr, v5)
		c.connect(rawConnect{Version: protoVersion(v5), ClientID: "eo-pub", Clean: true, KeepAlive: 30})
		pub := rawPublish{Topic: "eo/t", QoS: 2, ID: 10, Payload: []byte("exactly-once")}
		c.send(pub.bytes(v5))
		if id, rc := ackID(c.expect(tPUBREC)); id != 10 || rc >= 0x80 {
			t.Fatalf("PUBREC id %d reason %#x", id, rc)
		}
		pub.Dup = true
		c.send(pub.bytes(v5))
		if id, rc := ackID(c.expect(tPUBREC)); id != 10 || rc >= 0x80 {
			t.Fatalf("second PUBREC id %d reason %#x [MQTT-4.3.3-10]", id, rc)
		}
		c.send(rawAck(tPUBREL, 10))
		if id, _ := ackID(c.expect(tPUBCOMP)); id != 10 {
			t.Fatalf("PUBCOMP id %d", id)
		}
		// A second, different message on the same topic and QoS orders after
		// the first [MQTT-4.6.0-5]: once it arrives, any duplicate would have.
		c.send(rawPublish{Topic: "eo/t", QoS: 2, ID: 11, Payload: []byte("marker")}.bytes(v5))
		c.expect(tPUBREC)
		c.send(rawAck(tPUBREL, 11))
		c.expect(tPUBCOMP)

		s.Inbox.waitPayload(t, "marker")
		time.Sleep(grace)
		if n := s.Inbox.count("exactly-once"); n != 1 {
			t.Errorf("QoS 2 message sent twice before PUBREL delivered %d times, want 1 [MQTT-4.3.3-10]", n)
		}
	})
}

// [MQTT-3.3.4-9]: the broker never has more QoS 1 PUBLISHes unacknowledged
// towards a client than the client's Receive Maximum.
func TestRaw_ClientReceiveMaximum(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	c := dialRaw(t, addr, true)
	c.connect(rawConnect{Version: 5, ClientID: "rm-sub", Clean: true, KeepAlive: 30,
		Props: props{{ID: propReceiveMaximum, N: 2}}})
	if g := c.subscribe(1, "rm/t", 1, nil); g != 1 {
		t.Fatalf("granted %#x", g)
	}
	const total = 10
	p := mustDial5(t, addr, cleanConnect("rm-pub"))
	for i := 0; i < total; i++ {
		p.pubs(t, "rm/t", 1, fmt.Sprintf("m%d", i))
	}

	var unacked []uint16
	var got []string
	take := func(pk *rawPacket) {
		pb := parsePublish(t, pk, true)
		unacked = append(unacked, pb.ID)
		got = append(got, string(pb.Payload))
		if len(unacked) > 2 {
			t.Fatalf("%d unacknowledged QoS 1 PUBLISHes outstanding, client Receive Maximum is 2 [MQTT-3.3.4-9]", len(unacked))
		}
	}
	// Fill the window, then show nothing more comes while it is full.
	take(c.expect(tPUBLISH))
	take(c.expect(tPUBLISH))
	for _, pk := range c.ping() {
		take(pk)
	}
	if pk, err := c.read(grace); err == nil {
		take(pk)
	}
	// Ack one at a time; each ack opens exactly one slot.
	deadline := time.Now().Add(waitTimeout)
	for len(got) < total && time.Now().Before(deadline) {
		c.send(rawAck(tPUBACK, unacked[0]))
		unacked = unacked[1:]
		pk, err := c.read(waitTimeout)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		take(pk)
	}
	for i := 0; i < total; i++ {
		if i >= len(got) || got[i] != fmt.Sprintf("m%d", i) {
			t.Fatalf("received %q, want m0..m%d in order", got, total-1)
		}
	}
}

// §3.3.4: a client exceeding the broker's Receive Maximum (QoS 2 publishes
// without PUBREL keep their slot) gets DISCONNECT 0x93 and is closed.
func TestRaw_ServerReceiveMaximumExceeded(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, func(c *config.Config) { c.MQTT.ReceiveMaximum = 2 })
	c := dialRaw(t, addr, true)
	ca := c.connect(rawConnect{Version: 5, ClientID: "rmx", Clean: true, KeepAlive: 30})
	if rm, ok := ca.Props.get(propReceiveMaximum); !ok || rm.N != 2 {
		t.Errorf("CONNACK Receive Maximum %v (present %v), want 2", rm.N, ok)
	}
	for id := uint16(1); id <= 2; id++ {
		c.send(rawPublish{Topic: "rmx/t", QoS: 2, ID: id, Payload: []byte("x")}.bytes(true))
		c.expect(tPUBREC)
	}
	c.sendMaybe(rawPublish{Topic: "rmx/t", QoS: 2, ID: 3, Payload: []byte("x")}.bytes(true))
	c.expectClosed(2*time.Second, 0x93, "§3.3.4 Receive Maximum exceeded")
	assertServing(t, addr)
}

// 3.1.1 [MQTT-3.1.2-5]: QoS 1 messages for a disconnected persistent session
// are stored and delivered, in order, on reconnect.
func TestPaho3_OfflineQueue(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial3(t, addr, "oq3-sub", false)
	s.sub(t, "oq/t", 1)
	s.Disconnect(50)

	p := mustDial3(t, addr, "oq3-pub", true)
	for i := 0; i < 5; i++ {
		p.pubs(t, "oq/t", 1, false, fmt.Sprintf("m%d", i))
	}
	s = mustDial3(t, addr, "oq3-sub", false)
	if !s.Token.SessionPresent() {
		t.Errorf("session present 0 on resume [MQTT-3.2.2-2]")
	}
	got := s.Inbox.waitCount(t, 5)
	for i := 0; i < 5; i++ {
		if string(got[i].Payload) != fmt.Sprintf("m%d", i) || got[i].QoS != 1 {
			t.Fatalf("offline queue delivered %q, want m0..m4 at QoS 1 in order", s.Inbox.payloads())
		}
	}
}

// MaxQueuedMessages bounds a session's offline queue.
func TestPaho5_OfflineQueueBounded(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, func(c *config.Config) { c.MQTT.MaxQueuedMessages = 10 })
	leaveSubscribed(t, addr, "bq-sub", "bq/t", 1, 60)

	p := mustDial5(t, addr, cleanConnect("bq-pub"))
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		// A full subscriber queue must not fail the publisher; any reason
		// code is acceptable here, only the delivery count is checked.
		_, err := p.Publish(ctx, &paho.Publish{Topic: "bq/t", QoS: 1, Payload: []byte(fmt.Sprintf("m%d", i))})
		cancel()
		if err != nil && p.isClosed() {
			t.Fatalf("publisher disconnected at message %d: %v", i, err)
		}
	}
	s := mustDial5(t, addr, sessionConnect("bq-sub", false, 60))
	s.sync(t)
	time.Sleep(grace)
	n := 0
	for _, m := range s.Inbox.all() {
		if m.Topic == "bq/t" {
			n++
		}
	}
	if n > 10 || n == 0 {
		t.Errorf("offline queue delivered %d messages, want 1..10 with MaxQueuedMessages 10", n)
	}
}

// Basic persistent-session offline delivery for MQTT 5 is covered by
// TestPaho5_SessionResumedWithSubscriptionsAndQueue.

// [MQTT-4.4.0-1]: after PUBREC, an unfinished outbound QoS 2 flow resumes on
// reconnect with PUBREL (same packet id), not with the PUBLISH again
// [MQTT-4.3.3-5]: the sender MUST NOT resend PUBLISH once it sent PUBREL.
func TestRaw_PubrelResentOnReconnect(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		rc := rawConnect{Version: protoVersion(v5), ClientID: "q2-resume", Clean: false, KeepAlive: 30}
		if v5 {
			rc.Props = props{{ID: propSessionExpiry, N: 60}}
		}
		c := dialRaw(t, addr, v5)
		c.connect(rc)
		if g := c.subscribe(1, "q2r/t", 2, nil); g != 2 {
			t.Fatalf("granted %#x", g)
		}
		p := mustDial5(t, addr, cleanConnect("q2r-pub"))
		p.pubs(t, "q2r/t", 2, "two")

		pb := parsePublish(t, c.expect(tPUBLISH), v5)
		if pb.QoS != 2 {
			t.Fatalf("delivered at QoS %d", pb.QoS)
		}
		c.send(rawAck(tPUBREC, pb.ID))
		rel := c.expect(tPUBREL)
		if id, _ := ackID(rel); id != pb.ID || rel.Flags != 0x02 {
			t.Fatalf("PUBREL id %d flags %#x, want id %d flags 0x2 [MQTT-3.6.1-1]", id, rel.Flags, pb.ID)
		}
		_ = c.conn.Close() // no PUBCOMP

		c = dialRaw(t, addr, v5)
		if ca := c.connect(rc); !ca.SessionPresent {
			t.Fatalf("session present 0 on reconnect [MQTT-3.2.2-3]")
		}
		pk := c.expect(tPUBREL) // fails on a re-sent PUBLISH
		if id, _ := ackID(pk); id != pb.ID {
			t.Errorf("resent PUBREL id %d, want %d [MQTT-4.4.0-1]", id, pb.ID)
		}
		c.send(rawAck(tPUBCOMP, pb.ID))
		if other := c.ping(); len(other) != 0 {
			t.Errorf("unexpected packets after PUBCOMP: %v", other)
		}
	})
}
