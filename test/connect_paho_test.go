package test

// CONNECT / CONNACK behaviour: sessions, expiry, client identifiers, keep
// alive and takeover, checked with both Paho clients and raw sockets.

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// [MQTT-3.2.2-2] clean start 1 => session present 0; [MQTT-3.2.2-3] clean
// start 0 with stored state => session present 1.
func TestPaho5_CleanStartSessionPresent(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	c := mustDial5(t, addr, sessionConnect("sp", true, 60))
	if c.Connack.SessionPresent {
		t.Errorf("clean start 1: session present 1, want 0 [MQTT-3.2.2-2]")
	}
	c.sub(t, "sp/t", 1)
	c.disconnect(0)

	c = mustDial5(t, addr, sessionConnect("sp", false, 60))
	if !c.Connack.SessionPresent {
		t.Errorf("clean start 0 after a session with expiry 60: session present 0, want 1 [MQTT-3.2.2-3]")
	}
	c.disconnect(0)

	c = mustDial5(t, addr, sessionConnect("sp", true, 60))
	if c.Connack.SessionPresent {
		t.Errorf("clean start 1 with a stored session: session present 1, want 0 [MQTT-3.2.2-2]")
	}
	c.disconnect(0)

	// A client that never had a session, clean start 0: session present 0.
	c = mustDial5(t, addr, sessionConnect("sp-new", false, 60))
	if c.Connack.SessionPresent {
		t.Errorf("clean start 0 without stored session: session present 1, want 0 [MQTT-3.2.2-3]")
	}
}

// [MQTT-3.1.2-5]/[MQTT-3.1.2-23]: a resumed session keeps its subscriptions
// and the QoS 1 messages that arrived while the client was away.
func TestPaho5_SessionResumedWithSubscriptionsAndQueue(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	s := mustDial5(t, addr, sessionConnect("res-sub", true, 60))
	s.sub(t, "res/#", 1)
	s.disconnect(0)

	p := mustDial5(t, addr, cleanConnect("res-pub"))
	for _, m := range []string{"q1", "q2", "q3"} {
		p.pubs(t, "res/a", 1, m)
	}

	s = mustDial5(t, addr, sessionConnect("res-sub", false, 60))
	if !s.Connack.SessionPresent {
		t.Fatalf("session present 0 on resume [MQTT-3.2.2-3]")
	}
	got := s.Inbox.waitCount(t, 3)
	for i, want := range []string{"q1", "q2", "q3"} {
		if string(got[i].Payload) != want || got[i].QoS != 1 {
			t.Errorf("queued message %d = %q QoS %d, want %q QoS 1 (in order, [MQTT-4.6.0-6])", i, got[i].Payload, got[i].QoS, want)
		}
	}
	// The subscription itself survived: a live message arrives too.
	p.pubs(t, "res/b", 1, "live")
	if m := s.Inbox.waitPayload(t, "live"); m.Topic != "res/b" {
		t.Errorf("live message topic %q", m.Topic)
	}
}

// The session ends when the Session Expiry Interval elapses (§3.1.2.11.2):
// its subscriptions and queued messages are gone.
func TestPaho5_SessionExpires(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	s := mustDial5(t, addr, sessionConnect("exp-sub", true, 1))
	s.sub(t, "exp/t", 1)
	s.disconnect(0)

	time.Sleep(2 * time.Second) // the passage of time is what is tested

	p := mustDial5(t, addr, cleanConnect("exp-pub"))
	p.pubs(t, "exp/t", 1, "after-expiry")

	s = mustDial5(t, addr, sessionConnect("exp-sub", false, 60))
	if s.Connack.SessionPresent {
		t.Errorf("session present 1 after its 1 s expiry elapsed, want 0 (§3.1.2.11.2)")
	}
	s.sync(t)
	if n := s.Inbox.count("after-expiry"); n != 0 {
		t.Errorf("message published after the session expired was delivered %d times", n)
	}
}

// MaxSessionExpiry caps the client's request, including the never-expiring
// value; the broker tells the client the value it uses in CONNACK
// (§3.2.2.3.2) and the session expires on that schedule.
func TestPaho5_SessionExpiryCapped(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.MQTT.MaxSessionExpiry = config.Duration(time.Second)
	})

	for _, req := range []uint32{3600, 0xFFFFFFFF} {
		id := "cap-" + map[uint32]string{3600: "hour", 0xFFFFFFFF: "never"}[req]
		c := mustDial5(t, addr, sessionConnect(id, true, req))
		pr := c.Connack.Properties
		if pr == nil || pr.SessionExpiryInterval == nil || *pr.SessionExpiryInterval != 1 {
			var got any = "absent"
			if pr != nil && pr.SessionExpiryInterval != nil {
				got = *pr.SessionExpiryInterval
			}
			t.Errorf("request %d with max 1s: CONNACK Session Expiry Interval %v, want 1 (§3.2.2.3.2)", req, got)
		}
		c.sub(t, "cap/t", 1)
		c.disconnect(0)
	}
	time.Sleep(2 * time.Second) // wait past the capped expiry
	for _, id := range []string{"cap-hour", "cap-never"} {
		c := mustDial5(t, addr, sessionConnect(id, false, 60))
		if c.Connack.SessionPresent {
			t.Errorf("%s: session present 1 after the capped 1 s expiry elapsed", id)
		}
	}
}

// [MQTT-3.1.3-6]/[MQTT-3.1.3-7]: an empty client id gets a unique assigned
// identifier returned in CONNACK.
func TestPaho5_AssignedClientIdentifier(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	ids := map[string]bool{}
	for i := 0; i < 2; i++ {
		c := mustDial5(t, addr, cleanConnect(""))
		pr := c.Connack.Properties
		if pr == nil || pr.AssignedClientID == "" {
			t.Fatalf("empty client id: no Assigned Client Identifier in CONNACK [MQTT-3.1.3-7]")
		}
		if ids[pr.AssignedClientID] {
			t.Errorf("assigned client id %q given twice [MQTT-3.1.3-6]", pr.AssignedClientID)
		}
		ids[pr.AssignedClientID] = true
		c.sync(t) // the connection works
	}
}

// 3.1.1: a zero-byte client id is accepted with clean session 1 and refused
// with return code 0x02 with clean session 0 [MQTT-3.1.3-8].
func TestPaho3_EmptyClientID(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	c, err := dial3(t, addr, "", true, nil)
	if err != nil {
		t.Fatalf("empty client id with clean session: %v", err)
	}
	c.sync(t, 1)

	c2, err := dial3(t, addr, "", false, nil)
	if err == nil {
		t.Fatalf("empty client id with clean session 0 accepted, want return code 2 [MQTT-3.1.3-8]")
	}
	if c2.Token == nil || c2.Token.ReturnCode() != 2 {
		rc := byte(0xff)
		if c2.Token != nil {
			rc = c2.Token.ReturnCode()
		}
		t.Errorf("empty client id with clean session 0: return code %d (%v), want 2 [MQTT-3.1.3-8]", rc, err)
	}
}

// The same refusal seen on the wire: CONNACK 0x02, then the connection is
// closed [MQTT-3.1.3-8] / [MQTT-3.2.2-5].
func TestRaw_V311EmptyClientIDNotClean(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	c := dialRaw(t, addr, false)
	ca := c.connectAny(rawConnect{Version: 4, ClientID: "", Clean: false, KeepAlive: 30})
	if ca.Code != 2 || ca.SessionPresent {
		t.Errorf("CONNACK code %#x session present %v, want 0x02 and 0 [MQTT-3.1.3-8]", ca.Code, ca.SessionPresent)
	}
	c.expectClosed(2*time.Second, 0, "[MQTT-3.2.2-5] close after a refusing CONNACK")
	assertServing(t, addr)
}

// Server Keep Alive (§3.2.2.3.14): with MaxKeepAlive set, a larger or zero
// request is answered with the cap, and the client must use it
// [MQTT-3.1.2-21].
func TestPaho5_ServerKeepAlive(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.MQTT.MaxKeepAlive = config.Duration(5 * time.Second)
	})
	for _, ka := range []uint16{60, 0} {
		cp := cleanConnect("ka")
		cp.KeepAlive = ka
		c := mustDial5(t, addr, cp)
		pr := c.Connack.Properties
		if pr == nil || pr.ServerKeepAlive == nil {
			t.Errorf("keep alive %d with max 5s: no Server Keep Alive in CONNACK, want 5", ka)
		} else if *pr.ServerKeepAlive != 5 {
			t.Errorf("keep alive %d with max 5s: Server Keep Alive %d, want 5", ka, *pr.ServerKeepAlive)
		}
		c.disconnect(0)
	}
	cp := cleanConnect("ka-small")
	cp.KeepAlive = 3
	c := mustDial5(t, addr, cp)
	if pr := c.Connack.Properties; pr != nil && pr.ServerKeepAlive != nil && *pr.ServerKeepAlive != 3 {
		t.Errorf("keep alive 3 under max 5s: Server Keep Alive %d, want 3 or absent", *pr.ServerKeepAlive)
	}
}

// [MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24]): a client silent for 1.5x its
// keep alive is disconnected; MQTT 5 may first get DISCONNECT 0x8D.
func TestRaw_KeepAliveEnforced(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		c := dialRaw(t, addr, v5)
		c.connect(rawConnect{Version: protoVersion(v5), ClientID: "silent", Clean: true, KeepAlive: 1})
		start := time.Now()
		res := c.waitClosed(4 * time.Second)
		elapsed := time.Since(start)
		if !res.Closed {
			t.Fatalf("silent client with keep alive 1s still connected after 4s [MQTT-3.1.2-22]")
		}
		if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("closed after %v, want about 1.5s (keep alive x1.5) [MQTT-3.1.2-22]", elapsed)
		}
		if res.Disconnect != nil && (!v5 || disconnectReason(res.Disconnect) != 0x8D) {
			t.Errorf("DISCONNECT reason %#x before close, want 0x8D (v5 only)", disconnectReason(res.Disconnect))
		}
		assertServing(t, addr)
	})
}

// A client that pings within its keep alive stays connected.
func TestRaw_KeepAlivePingsKeepConnection(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		c := dialRaw(t, addr, v5)
		c.connect(rawConnect{Version: protoVersion(v5), ClientID: "pinger", Clean: true, KeepAlive: 1})
		for i := 0; i < 4; i++ {
			time.Sleep(600 * time.Millisecond) // the client's own ping schedule
			if other := c.ping(); len(other) > 0 {
				t.Fatalf("unexpected packets %v", other)
			}
		}
	})
}

// [MQTT-3.1.4-3] (3.1.1: [MQTT-3.1.4-2]): a second connection with the same
// client id takes the session over; the first gets DISCONNECT 0x8E and is
// closed. With clean start 0 the new connection inherits the session.
func TestPaho5_SessionTakeover(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	a := mustDial5(t, addr, sessionConnect("twin", true, 60))
	a.sub(t, "twin/t", 1)

	b := mustDial5(t, addr, sessionConnect("twin", false, 60))
	if !b.Connack.SessionPresent {
		t.Errorf("takeover with clean start 0: session present 0, want 1 [MQTT-3.2.2-3]")
	}
	if rc := a.waitServerDisconnect(t); rc != 0x8E {
		t.Errorf("old connection got DISCONNECT %#x, want 0x8E [MQTT-3.1.4-3]", rc)
	}
	select {
	case <-a.Done():
	case <-time.After(waitTimeout):
		t.Errorf("old connection not closed [MQTT-3.1.4-3]")
	}

	p := mustDial5(t, addr, cleanConnect("twin-pub"))
	p.pubs(t, "twin/t", 1, "to-new")
	b.Inbox.waitPayload(t, "to-new")
	if a.Inbox.count("to-new") != 0 {
		t.Errorf("old connection received a message after takeover")
	}
}

func TestPaho3_SessionTakeover(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)

	a := mustDial3(t, addr, "twin3", true)
	b := mustDial3(t, addr, "twin3", true)
	select {
	case <-a.Lost:
	case <-time.After(waitTimeout):
		t.Fatalf("first connection not closed after takeover [MQTT-3.1.4-2]")
	}
	b.sync(t, 1)
}

// A v5 client asking for response information is accepted; the broker may
// or may not return Response Information (§3.1.2.11.7).
func TestPaho5_RequestResponseInformation(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	cp := cleanConnect("rri")
	cp.Properties = &paho.ConnectProperties{RequestResponseInfo: true, RequestProblemInfo: true}
	c := mustDial5(t, addr, cp)
	if c.Connack.ReasonCode != 0 {
		t.Fatalf("CONNACK reason %#x", c.Connack.ReasonCode)
	}
	if pr := c.Connack.Properties; pr != nil && pr.ResponseInfo != "" {
		t.Logf("response information: %q", pr.ResponseInfo)
	}
	c.sync(t)
}

// Shutdown sends MQTT 5 clients DISCONNECT 0x8B (§3.14.2.1) and closes
// every connection; 3.1.1 clients see the connection close.
func TestPaho5_ShutdownSendsServerShuttingDown(t *testing.T) {
	t.Parallel()
	addr, srv := testutil.Start(t, nil)
	c5 := mustDial5(t, addr, cleanConnect("sd5"))
	c3 := mustDial3(t, addr, "sd3", true)
	c5.sync(t)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if rc := c5.waitServerDisconnect(t); rc != 0x8B {
		t.Errorf("DISCONNECT reason %#x on shutdown, want 0x8B", rc)
	}
	select {
	case <-c3.Lost:
	case <-time.After(waitTimeout):
		t.Errorf("3.1.1 client still connected after Shutdown")
	}
	if _, err := dial3(t, addr, "sd-late", true, func(o *mqtt.ClientOptions) {
		o.SetConnectTimeout(time.Second)
	}); err == nil {
		t.Errorf("new connection accepted after Shutdown")
	}
}

// 3.1.1 [MQTT-3.2.2-1]/[MQTT-3.2.2-2]: session present follows clean
// session and stored state.
func TestPaho3_CleanSessionSessionPresent(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	c := mustDial3(t, addr, "sp3", false)
	if c.Token.SessionPresent() {
		t.Errorf("first connection with clean session 0: session present 1, want 0 [MQTT-3.2.2-2]")
	}
	c.sub(t, "sp3/t", 1)
	c.Disconnect(50)
	c = mustDial3(t, addr, "sp3", false)
	if !c.Token.SessionPresent() {
		t.Errorf("clean session 0 with stored session: session present 0, want 1 [MQTT-3.2.2-2]")
	}
	c.Disconnect(50)
	c = mustDial3(t, addr, "sp3", true)
	if c.Token.SessionPresent() {
		t.Errorf("clean session 1: session present 1, want 0 [MQTT-3.2.2-1]")
	}
}
