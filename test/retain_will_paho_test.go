package test

// Retained messages and will messages.

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moatmq/moat/internal/testutil"
)

// [MQTT-3.3.1-5] a retained message replaces the previous one;
// [MQTT-3.3.1-6]/[MQTT-3.3.1-7] an empty retained payload deletes it and is
// itself forwarded normally but not stored; retained messages are delivered
// on subscribe with RETAIN 1.
func TestPaho5_RetainedLifecycle(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	p := mustDial5(t, addr, cleanConnect("ret-pub"))
	retain := func(payload string) {
		p.pub(t, &paho.Publish{Topic: "ret/t", QoS: 1, Retain: true, Payload: []byte(payload)})
	}

	retain("v1")
	s1 := mustDial5(t, addr, cleanConnect("ret-s1"))
	s1.sub(t, "ret/#", 1)
	if m := s1.Inbox.waitPayload(t, "v1"); !m.Retain || m.Topic != "ret/t" {
		t.Errorf("retained v1 on subscribe: retain %v topic %q, want RETAIN 1 on ret/t", m.Retain, m.Topic)
	}

	retain("v2")
	s2 := mustDial5(t, addr, cleanConnect("ret-s2"))
	s2.sub(t, "ret/t", 1)
	s2.Inbox.waitPayload(t, "v2")
	s2.sync(t)
	time.Sleep(grace)
	if n := s2.Inbox.count("v1"); n != 0 {
		t.Errorf("replaced retained message v1 delivered to a new subscriber [MQTT-3.3.1-5]")
	}
	if n := s2.Inbox.count("v2"); n != 1 {
		t.Errorf("retained v2 delivered %d times, want 1", n)
	}

	retain("")
	// Existing subscribers get the empty message like any other [MQTT-3.3.1-6].
	testutil.Eventually(t, waitTimeout, "empty retained message forwarded to s1", func() bool {
		return s1.Inbox.count("") == 1
	})
	s3 := mustDial5(t, addr, cleanConnect("ret-s3"))
	s3.sub(t, "ret/t", 1)
	s3.sync(t)
	time.Sleep(grace)
	for _, m := range s3.Inbox.all() {
		if m.Topic == "ret/t" {
			t.Errorf("retained message %q still delivered after delete by empty payload [MQTT-3.3.1-6]/[MQTT-3.3.1-7]", m.Payload)
		}
	}
}

func TestPaho3_RetainedLifecycle(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	p := mustDial3(t, addr, "ret3-pub", true)

	p.pubs(t, "ret/t", 1, true, "v1")
	p.pubs(t, "ret/t", 1, true, "v2")
	s := mustDial3(t, addr, "ret3-s1", true)
	s.sub(t, "ret/t", 1)
	if m := s.Inbox.waitPayload(t, "v2"); !m.Retain {
		t.Errorf("retained message on subscribe with RETAIN 0, want 1 [MQTT-3.3.1-8] (3.1.1)")
	}
	s.sync(t, 1)
	time.Sleep(grace)
	if s.Inbox.count("v1") != 0 {
		t.Errorf("replaced retained message delivered [MQTT-3.3.1-5]")
	}

	p.pubs(t, "ret/t", 1, true, "")
	s2 := mustDial3(t, addr, "ret3-s2", true)
	s2.sub(t, "ret/t", 1)
	s2.sync(t, 1)
	time.Sleep(grace)
	for _, m := range s2.Inbox.all() {
		if m.Topic == "ret/t" {
			t.Errorf("retained %q delivered after delete [MQTT-3.3.1-10] (3.1.1)", m.Payload)
		}
	}
}

// [MQTT-3.1.2-8]: the will is published when the connection closes without
// DISCONNECT.
func TestRaw_WillOnAbnormalClose(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		obs := mustDial5(t, addr, cleanConnect("will-obs"))
		obs.sub(t, "will/#", 1)
		c := dialRaw(t, addr, v5)
		c.connect(rawConnect{Version: protoVersion(v5), ClientID: "will-raw", Clean: true, KeepAlive: 30,
			Will: &rawWill{Topic: "will/raw", Payload: "gone", QoS: 1}})
		c.ping()
		_ = c.conn.Close()
		if m := obs.Inbox.waitPayload(t, "gone"); m.Topic != "will/raw" {
			t.Errorf("will on topic %q", m.Topic)
		}
	})
}

// [MQTT-3.1.2-10]: DISCONNECT with reason 0x00 deletes the will.
func TestPaho5_WillSuppressedOnNormalDisconnect(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial5(t, addr, cleanConnect("wn-obs"))
	obs.sub(t, "will/#", 1)
	cp := cleanConnect("wn")
	cp.WillMessage = &paho.WillMessage{Topic: "will/wn", Payload: []byte("should-not-see"), QoS: 1}
	c := mustDial5(t, addr, cp)
	c.sync(t)
	c.disconnect(0)
	time.Sleep(grace)
	obs.sync(t)
	time.Sleep(grace)
	if n := obs.Inbox.count("should-not-see"); n != 0 {
		t.Errorf("will published after DISCONNECT 0x00 [MQTT-3.1.2-10]")
	}
}

// 3.1.1 [MQTT-3.1.2-10]: DISCONNECT deletes the will.
func TestPaho3_WillSuppressedOnNormalDisconnect(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial3(t, addr, "wn3-obs", true)
	obs.sub(t, "will/#", 1)
	c, err := dial3(t, addr, "wn3", true, func(o *mqtt.ClientOptions) {
		o.SetWill("will/wn3", "should-not-see", 1, false)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.sync(t, 1)
	c.Disconnect(100)
	time.Sleep(grace)
	obs.sync(t, 1)
	time.Sleep(grace)
	if n := obs.Inbox.count("should-not-see"); n != 0 {
		t.Errorf("will published after DISCONNECT [MQTT-3.1.2-10] (3.1.1)")
	}
}

// 3.1.1: the will is published when a paho.mqtt.golang client's connection
// is lost (here: taken over by a raw connection with the same id).
func TestPaho3_WillOnTakeover(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial3(t, addr, "wt3-obs", true)
	obs.sub(t, "will/#", 1)
	if _, err := dial3(t, addr, "wt3", true, func(o *mqtt.ClientOptions) {
		o.SetWill("will/wt3", "taken-over", 1, false)
	}); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, addr, false)
	c.connect(rawConnect{Version: 4, ClientID: "wt3", Clean: true, KeepAlive: 30})
	obs.Inbox.waitPayload(t, "taken-over")
}

// §3.14.2.1 reason 0x04 "Disconnect with Will Message": the will is sent.
func TestPaho5_WillOnDisconnectWithWillMessage(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial5(t, addr, cleanConnect("w4-obs"))
	obs.sub(t, "will/#", 1)
	cp := cleanConnect("w4")
	cp.WillMessage = &paho.WillMessage{Topic: "will/w4", Payload: []byte("asked-for"), QoS: 1}
	c := mustDial5(t, addr, cp)
	c.sync(t)
	c.disconnect(0x04)
	obs.Inbox.waitPayload(t, "asked-for")
}

// willConnect is a raw MQTT 5 CONNECT with a will, a will delay and a
// session expiry.
func willConnect(id string, delay, expiry uint32, payload string) rawConnect {
	return rawConnect{Version: 5, ClientID: id, Clean: true, KeepAlive: 30,
		Props: props{{ID: propSessionExpiry, N: expiry}},
		Will: &rawWill{Topic: "will/" + id, Payload: payload, QoS: 1,
			Props: props{{ID: propWillDelay, N: delay}}}}
}

// §3.1.3.2.2 Will Delay Interval: the will is published only after the delay.
func TestRaw_WillDelay(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial5(t, addr, cleanConnect("wd-obs"))
	obs.sub(t, "will/#", 1)
	c := dialRaw(t, addr, true)
	c.connect(willConnect("wd", 1, 30, "delayed"))
	c.ping()
	_ = c.conn.Close()
	closed := time.Now()
	m := obs.Inbox.waitPayload(t, "delayed")
	if d := m.At.Sub(closed); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("will with 1 s delay published %v after close, want about 1 s (§3.1.3.2.2)", d)
	}
}

// [MQTT-3.1.3-9]: reconnecting to the session within the will delay
// cancels the will.
func TestRaw_WillDelayCancelledByReconnect(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial5(t, addr, cleanConnect("wc-obs"))
	obs.sub(t, "will/#", 1)
	c := dialRaw(t, addr, true)
	c.connect(willConnect("wdc", 1, 30, "cancelled"))
	c.ping()
	_ = c.conn.Close()

	c = dialRaw(t, addr, true)
	ca := c.connect(rawConnect{Version: 5, ClientID: "wdc", Clean: false, KeepAlive: 30,
		Props: props{{ID: propSessionExpiry, N: 30}}})
	if !ca.SessionPresent {
		t.Errorf("session present 0 on reconnect within the session expiry")
	}
	time.Sleep(1500 * time.Millisecond) // past the will delay
	obs.sync(t)
	if n := obs.Inbox.count("cancelled"); n != 0 {
		t.Errorf("will published although the client reconnected within the will delay [MQTT-3.1.3-9]")
	}
}

// §3.1.3.2.2: the will is published when the session ends, even if the will
// delay is longer.
func TestRaw_WillSentWhenSessionExpiresFirst(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	obs := mustDial5(t, addr, cleanConnect("we-obs"))
	obs.sub(t, "will/#", 1)
	c := dialRaw(t, addr, true)
	c.connect(willConnect("we", 30, 1, "session-ended"))
	c.ping()
	_ = c.conn.Close()
	closed := time.Now()
	m := obs.Inbox.waitPayload(t, "session-ended")
	if d := m.At.Sub(closed); d < 800*time.Millisecond || d > 4*time.Second {
		t.Errorf("will (delay 30 s, session expiry 1 s) published %v after close, want about 1 s (§3.1.3.2.2)", d)
	}
}
