package test

// Bad input over raw sockets: malformed packets, oversized packets and
// protocol violations close the connection (after DISCONNECT for MQTT 5)
// and the broker keeps serving others.

import (
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// badAfterConnect connects a raw client, sends bad and expects the broker
// to close the connection, with DISCONNECT wantV5 first for MQTT 5.
func badAfterConnect(t *testing.T, addr string, v5 bool, id string, bad []byte, wantV5 byte, clause string) closeResult {
	t.Helper()
	c := dialRaw(t, addr, v5)
	c.connect(rawConnect{Version: protoVersion(v5), ClientID: id, Clean: true, KeepAlive: 30})
	c.sendMaybe(bad)
	return c.expectClosed(2*time.Second, wantV5, clause)
}

func TestRaw_MalformedPackets(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		propsLen := []byte{}
		if v5 {
			propsLen = []byte{0}
		}
		body := func(parts ...[]byte) []byte {
			var b []byte
			for _, p := range parts {
				b = append(b, p...)
			}
			return b
		}
		cases := []struct {
			name   string
			pkt    []byte
			clause string
		}{
			{"publish-qos3", frame(0x36, body(appendStr(nil, "bad/t"), appendU16(nil, 1), propsLen, []byte("x"))),
				"[MQTT-3.3.1-4] PUBLISH with QoS 3"},
			{"subscribe-reserved-flags", frame(tSUBSCRIBE<<4, body(appendU16(nil, 1), propsLen, appendStr(nil, "a/b"), []byte{1})),
				"[MQTT-3.8.1-1] SUBSCRIBE with fixed-header flags 0000"},
			{"publish-invalid-utf8-topic", frame(0x30, body(appendStr(nil, "a/\xff\xfe"), propsLen, []byte("x"))),
				"[MQTT-1.5.4-1] ill-formed UTF-8 in topic name"},
			{"publish-nul-in-topic", frame(0x30, body(appendStr(nil, "a/\x00b"), propsLen, []byte("x"))),
				"[MQTT-1.5.4-2] U+0000 in topic name"},
			{"publish-wildcard-topic", frame(0x30, body(appendStr(nil, "a/+"), propsLen, []byte("x"))),
				"[MQTT-3.3.2-2] wildcard in topic name"},
			{"pubrel-reserved-flags", frame(tPUBREL<<4, appendU16(nil, 1)),
				"[MQTT-3.6.1-1] PUBREL with fixed-header flags 0000"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				want := byte(0x81)
				if tc.name == "publish-wildcard-topic" {
					want = 0 // 0x82 or 0x90 are both defensible; only the close is required
				}
				badAfterConnect(t, addr, v5, "bad-"+tc.name, tc.pkt, want, tc.clause)
			})
		}
		assertServing(t, addr)
	})
}

// §3.2.2.3.6 / §4.13: a packet over the broker's Maximum Packet Size gets
// DISCONNECT 0x95 and a close, and the broker decides from the header alone:
// only a header claiming 100 MB is sent and the close must come promptly.
func TestRaw_OversizedPacket(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, func(c *config.Config) { c.MQTT.MaxPacketSize = 1024 })
		t.Run("header-only-100MB", func(t *testing.T) {
			header := appendVarint([]byte{0x30}, 100_000_000)
			res := badAfterConnect(t, addr, v5, "huge", header, 0x95, "§3.2.2.3.6 packet too large")
			if res.Closed && res.After > time.Second {
				t.Errorf("closed %v after a 100 MB header: the broker seems to wait for the body", res.After)
			}
		})
		t.Run("complete-2KiB", func(t *testing.T) {
			pkt := rawPublish{Topic: "big/t", Payload: make([]byte, 2048)}.bytes(v5)
			badAfterConnect(t, addr, v5, "big", pkt, 0x95, "§3.2.2.3.6 packet too large")
		})
		t.Run("connect-too-large", func(t *testing.T) {
			c := dialRaw(t, addr, v5)
			c.sendMaybe(appendVarint([]byte{tCONNECT << 4}, 100_000_000))
			res := c.waitClosed(2 * time.Second)
			if !res.Closed {
				t.Errorf("connection open 2 s after a CONNECT header claiming 100 MB")
			}
		})
		assertServing(t, addr)
	})
}

// [MQTT-3.1.0-1]: the first packet must be CONNECT; anything else closes.
func TestRaw_FirstPacketNotConnect(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	for name, pkt := range map[string][]byte{
		"pingreq": rawPingreq,
		"publish": rawPublish{Topic: "a", Payload: []byte("x")}.bytes(false),
		"garbage": {0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, addr, false)
			c.sendMaybe(pkt)
			res := c.waitClosed(2 * time.Second)
			if !res.Closed {
				t.Errorf("connection still open after %s as first packet [MQTT-3.1.0-1]", name)
			}
			for _, p := range res.Packets {
				if p.Type != tCONNACK && p.Type != tDISCONNECT {
					t.Errorf("broker answered %v to a first packet that is not CONNECT [MQTT-3.1.0-1]", p)
				}
			}
		})
	}
	assertServing(t, addr)
}

// [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error: DISCONNECT 0x82 for
// MQTT 5, then close.
func TestRaw_SecondConnect(t *testing.T) {
	t.Parallel()
	versions(t, func(t *testing.T, v5 bool) {
		addr, _ := testutil.Start(t, nil)
		again := rawConnect{Version: protoVersion(v5), ClientID: "twice", Clean: true, KeepAlive: 30}.bytes()
		badAfterConnect(t, addr, v5, "twice", again, 0x82, "[MQTT-3.1.0-2] second CONNECT")
		assertServing(t, addr)
	})
}

// The CONNECT deadline: a connection that never sends CONNECT is closed
// after ConnectTimeout.
func TestRaw_ConnectTimeout(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.MQTT.ConnectTimeout = config.Duration(500 * time.Millisecond)
	})
	c := dialRaw(t, addr, false)
	res := c.waitClosed(3 * time.Second)
	if !res.Closed || len(res.Packets) != 0 {
		t.Errorf("idle pre-CONNECT connection: closed=%v after %v, packets %v; want closed after ~0.5 s", res.Closed, res.After, res.Packets)
	}
	assertServing(t, addr)
}
