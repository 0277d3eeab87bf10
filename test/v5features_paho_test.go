package test

// MQTT 5 features: topic aliases, message expiry, forwarded properties and
// the client's maximum packet size.

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/moatmq/moat/internal/testutil"
)

// [MQTT-3.3.2-12]: the broker accepts topic aliases 1..its maximum and
// resolves them; an alias may be remapped (§3.3.2.3.4).
func TestPaho5_TopicAliasInbound(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("tai-sub"))
	s.sub(t, "ta/#", 1)
	p := mustDial5(t, addr, cleanConnect("tai-pub"))
	pr := p.Connack.Properties
	if pr == nil || pr.TopicAliasMaximum == nil || *pr.TopicAliasMaximum < 1 {
		t.Fatalf("CONNACK Topic Alias Maximum absent or 0 with the default config (64)")
	}
	steps := []struct{ topic, payload, want string }{
		{"ta/x", "a", "ta/x"}, // set alias 1
		{"", "b", "ta/x"},     // use alias 1
		{"ta/y", "c", "ta/y"}, // remap alias 1
		{"", "d", "ta/y"},
	}
	for _, st := range steps {
		p.pub(t, &paho.Publish{Topic: st.topic, QoS: 1, Payload: []byte(st.payload),
			Properties: &paho.PublishProperties{TopicAlias: paho.Uint16(1)}})
	}
	for _, st := range steps {
		m := s.Inbox.waitPayload(t, st.payload)
		if m.Topic != st.want {
			t.Errorf("payload %q arrived on %q, want %q", st.payload, m.Topic, st.want)
		}
		if m.Alias != 0 {
			t.Errorf("broker sent topic alias %d to a client with Topic Alias Maximum 0 [MQTT-3.3.2-11]", m.Alias)
		}
	}
}

// §3.3.2.3.4: alias 0 or above the broker's maximum is DISCONNECT 0x94; an
// alias never set, with an empty topic, is a Protocol Error (0x82).
func TestRaw_TopicAliasInvalid(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	cases := []struct {
		name  string
		topic string
		alias func(max uint32) uint32
		want  byte
	}{
		{"zero", "tai/z", func(uint32) uint32 { return 0 }, 0x94},
		{"above-max", "tai/z", func(max uint32) uint32 { return max + 1 }, 0x94},
		{"unset-alias-empty-topic", "", func(uint32) uint32 { return 1 }, 0x82},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr, true)
			ca := c.connect(rawConnect{Version: 5, ClientID: "tai-" + tc.name, Clean: true, KeepAlive: 30})
			max, _ := ca.Props.get(propTopicAliasMax)
			c.send(rawPublish{Topic: tc.topic, QoS: 0, Payload: []byte("x"),
				Props: props{{ID: propTopicAlias, N: tc.alias(max.N)}}}.bytes(true))
			c.expectClosed(2*time.Second, tc.want, "§3.3.2.3.4 topic alias "+tc.name)
		})
	}
	assertServing(t, addr)
}

// [MQTT-3.3.2-11]: a client announcing Topic Alias Maximum 3 may get
// aliases 1..3 but never more; every message still resolves to its topic.
func TestPaho5_TopicAliasOutbound(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	cp := cleanConnect("tao-sub")
	cp.Properties = &paho.ConnectProperties{TopicAliasMaximum: paho.Uint16(3), RequestProblemInfo: true}
	s := mustDial5(t, addr, cp)
	s.sub(t, "tao/#", 1)
	p := mustDial5(t, addr, cleanConnect("tao-pub"))
	const n = 25
	for i := 0; i < n; i++ {
		topic := fmt.Sprintf("tao/%d", i%5)
		p.pubs(t, topic, 1, fmt.Sprintf("%s|%d", topic, i))
	}
	msgs := s.Inbox.waitCount(t, n)
	used := 0
	for _, m := range msgs {
		want, _, _ := strings.Cut(string(m.Payload), "|")
		if m.Topic != want {
			t.Errorf("payload %q resolved to topic %q (alias %d)", m.Payload, m.Topic, m.Alias)
		}
		if m.Alias > 3 {
			t.Errorf("broker used topic alias %d above the client's maximum 3 [MQTT-3.3.2-11]", m.Alias)
		}
		if m.Alias != 0 {
			used++
		}
	}
	for _, e := range s.Inbox.aliasErrors() {
		t.Errorf("broker sent an empty topic with an alias it never set: %s (§3.3.2.3.4)", e)
	}
	t.Logf("broker used topic aliases on %d of %d messages", used, n)
}

// [MQTT-3.3.2-5]: an expired message is not delivered to an offline
// session; [MQTT-3.3.2-6]: a delivered one carries the remaining interval.
func TestPaho5_MessageExpiry(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	leaveSubscribed(t, addr, "mx-sub", "mx/t", 1, 60)

	p := mustDial5(t, addr, cleanConnect("mx-pub"))
	expiring := func(payload string, secs uint32) {
		p.pub(t, &paho.Publish{Topic: "mx/t", QoS: 1, Payload: []byte(payload),
			Properties: &paho.PublishProperties{MessageExpiry: paho.Uint32(secs)}})
	}
	expiring("short", 1)
	expiring("long", 30)
	time.Sleep(2 * time.Second) // the waiting time is what is tested

	s := mustDial5(t, addr, sessionConnect("mx-sub", false, 60))
	m := s.Inbox.waitPayload(t, "long")
	if m.Props == nil || m.Props.MessageExpiry == nil {
		t.Errorf("queued message delivered without Message Expiry Interval [MQTT-3.3.2-6]")
	} else if e := *m.Props.MessageExpiry; e > 28 || e == 0 {
		t.Errorf("Message Expiry Interval %d after waiting 2 s of 30, want <= 28 and > 0 [MQTT-3.3.2-6]", e)
	}
	s.sync(t)
	time.Sleep(grace)
	if n := s.Inbox.count("short"); n != 0 {
		t.Errorf("message with 1 s expiry delivered after 2 s offline [MQTT-3.3.2-5]")
	}

	// Live delivery keeps (at most) the published interval.
	expiring("live", 100)
	m = s.Inbox.waitPayload(t, "live")
	if m.Props == nil || m.Props.MessageExpiry == nil || *m.Props.MessageExpiry > 100 || *m.Props.MessageExpiry < 98 {
		t.Errorf("live message expiry %v, want 98..100 [MQTT-3.3.2-6]", m.Props.MessageExpiry)
	}
}

// Payload Format Indicator [MQTT-3.3.2-4], Content Type [MQTT-3.3.2-20],
// Response Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16] and User
// Properties, in order [MQTT-3.3.2-17]/[MQTT-3.3.2-18], are forwarded
// unaltered.
func TestPaho5_PublishPropertiesForwarded(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("pp-sub"))
	s.sub(t, "pp/t", 1)
	p := mustDial5(t, addr, cleanConnect("pp-pub"))
	user := paho.UserProperties{{Key: "k", Value: "1"}, {Key: "a", Value: "2"}, {Key: "k", Value: "3"}, {Key: "ünï", Value: ""}}
	corr := []byte{0, 1, 2, 0xff}
	p.pub(t, &paho.Publish{Topic: "pp/t", QoS: 1, Payload: []byte(`{"x":1}`), Properties: &paho.PublishProperties{
		PayloadFormat: paho.Byte(1), ContentType: "application/json", ResponseTopic: "pp/reply",
		CorrelationData: corr, User: user}})
	m := s.Inbox.waitPayload(t, `{"x":1}`)
	pr := m.Props
	if pr == nil {
		t.Fatalf("no properties forwarded")
	}
	if pr.PayloadFormat == nil || *pr.PayloadFormat != 1 {
		t.Errorf("payload format indicator %v, want 1 [MQTT-3.3.2-4]", pr.PayloadFormat)
	}
	if pr.ContentType != "application/json" {
		t.Errorf("content type %q [MQTT-3.3.2-20]", pr.ContentType)
	}
	if pr.ResponseTopic != "pp/reply" {
		t.Errorf("response topic %q [MQTT-3.3.2-15]", pr.ResponseTopic)
	}
	if !bytes.Equal(pr.CorrelationData, corr) {
		t.Errorf("correlation data %x [MQTT-3.3.2-16]", pr.CorrelationData)
	}
	if !slices.Equal(pr.User, user) {
		t.Errorf("user properties %v, want %v in order [MQTT-3.3.2-17]/[MQTT-3.3.2-18]", pr.User, user)
	}

	// A request/response round trip using those properties.
	p.sub(t, "pp/reply", 1)
	s.pub(t, &paho.Publish{Topic: pr.ResponseTopic, QoS: 1, Payload: []byte("reply"),
		Properties: &paho.PublishProperties{CorrelationData: pr.CorrelationData}})
	r := p.Inbox.waitPayload(t, "reply")
	if r.Props == nil || !bytes.Equal(r.Props.CorrelationData, corr) {
		t.Errorf("reply lost its correlation data")
	}
}

// [MQTT-3.1.2-24]/[MQTT-3.1.2-25]: the broker never sends a packet larger
// than the client's Maximum Packet Size; such a message is dropped for that
// client, which stays connected and gets later small messages.
func TestPaho5_ClientMaximumPacketSize(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	cp := cleanConnect("mps-sub")
	cp.Properties = &paho.ConnectProperties{MaximumPacketSize: paho.Uint32(200), RequestProblemInfo: true}
	s := mustDial5(t, addr, cp)
	s.sub(t, "mps/t", 1)
	p := mustDial5(t, addr, cleanConnect("mps-pub"))
	p.pubs(t, "mps/t", 1, strings.Repeat("B", 1024))
	p.pubs(t, "mps/t", 1, "small")
	s.Inbox.waitPayload(t, "small")
	time.Sleep(grace)
	for _, m := range s.Inbox.all() {
		if len(m.Payload) > 200 {
			t.Errorf("received a %d-byte payload with Maximum Packet Size 200 [MQTT-3.1.2-24]", len(m.Payload))
		}
	}
	if s.isClosed() {
		t.Errorf("client with Maximum Packet Size 200 was disconnected")
	}
	s.sync(t)
}

// [MQTT-3.3.2-7]: topic alias mappings do not survive the connection; using
// an alias from a previous connection with an empty topic is a Protocol
// Error.
func TestRaw_TopicAliasNotCarriedAcrossConnections(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	rc := rawConnect{Version: 5, ClientID: "ta-carry", Clean: false, KeepAlive: 30,
		Props: props{{ID: propSessionExpiry, N: 60}}}
	c := dialRaw(t, addr, true)
	c.connect(rc)
	c.send(rawPublish{Topic: "tac/t", QoS: 1, ID: 1, Payload: []byte("x"),
		Props: props{{ID: propTopicAlias, N: 1}}}.bytes(true))
	c.expect(tPUBACK)
	c.send(rawDisconnect(true, 0))
	c.waitClosed(waitTimeout)

	c = dialRaw(t, addr, true)
	c.connect(rc)
	c.sendMaybe(rawPublish{Topic: "", QoS: 1, ID: 2, Payload: []byte("y"),
		Props: props{{ID: propTopicAlias, N: 1}}}.bytes(true))
	c.expectClosed(2*time.Second, 0x82, "[MQTT-3.3.2-7] alias from a previous connection")
}
