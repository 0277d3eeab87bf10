package test

// The protocol half of the hostile-input suite: one table of malformed,
// forbidden and out-of-order packets, each sent over a raw socket to a
// broker with tight limits (hostile_test.go). For every case and version
// the outcome, the close deadline, the audit event and a normal client
// served right after are checked; after the whole table the heap is back
// where it started.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
)

// outcome is what the broker must do with a hostile case.
type outcome uint8

const (
	// outClosed: after CONNECT, MQTT 5 gets DISCONNECT with the code (when
	// the code is not 0) and the connection closes; 3.1.1 sees only the
	// close.
	outClosed outcome = iota
	// outRefused: the CONNECT is refused; MQTT 5 gets CONNACK with the code,
	// 3.1.1 the CONNACK return code code3 (or, when code3 is 0, only the
	// close: malformed CONNECTs get no CONNACK in 3.1.1 [MQTT-3.1.4-1]).
	outRefused
	// outSilent: closed without any packet in both versions (the version is
	// not known yet).
	outSilent
	// outAnswered: the broker answers with packet typ (MQTT 5 reason code
	// code, 3.1.1 code3 for SUBACK) and the connection stays open.
	outAnswered
	// outIgnored: nothing is answered and the connection stays open.
	outIgnored
)

// hostileCase is one entry of the table.
type hostileCase struct {
	name   string
	clause string // the rule broken, for failure messages
	only   byte   // 4 or 5: that protocol version only; 0: both
	// first sends pkt as the first bytes on the connection; otherwise a
	// valid CONNECT (keep alive keepAlive, default 30 s) goes first.
	first     bool
	keepAlive uint16
	pkt       func(v5 bool) []byte
	halfClose bool // end the client's sending side after pkt
	out       outcome
	code      byte // MQTT 5 reason code (see outcome)
	code3     byte // 3.1.1 CONNACK return code or SUBACK code (see outcome)
	typ       byte // answered: the packet type
	// event is the audit event required (with reason code, or event3
	// for 3.1.1 when it differs); "" requires none.
	event  audit.Kind
	event3 byte
	// wait is added to closeWithin (cases that stall until a deadline).
	wait time.Duration
	// tune, when set, runs the case on a broker of its own with these
	// limits.
	tune func(*broker.Limits)
}

// ---------------------------------------------------------------------------
// Packet builders for bytes no client library sends.

func catBytes(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// propsRaw is an MQTT 5 property section made of raw bytes; nil for 3.1.1.
func propsRaw(v5 bool, raw ...byte) []byte {
	if !v5 {
		return nil
	}
	return append(appendVarint(nil, len(raw)), raw...)
}

// str is a length-prefixed UTF-8 string field (the bytes are not checked).
func rawStr(s string) []byte { return appendStr(nil, s) }

func rawU16(v uint16) []byte { return appendU16(nil, v) }

// connectRaw builds a CONNECT with the given flags, properties (MQTT 5;
// nil means none) and payload fields.
func connectRaw(v5 bool, flags byte, ps []byte, payload ...[]byte) []byte {
	b := catBytes(rawStr("MQTT"), []byte{protoVersion(v5), flags}, rawU16(30))
	if v5 {
		if ps == nil {
			ps = []byte{0}
		}
		b = append(b, ps...)
	}
	return frame(tCONNECT<<4, catBytes(b, catBytes(payload...)))
}

// connectOther is a valid CONNECT of the other protocol version.
func connectOther(v5 bool) []byte {
	return rawConnect{Version: protoVersion(!v5), ClientID: "other", Clean: true, KeepAlive: 30}.bytes()
}

// publishRaw builds a PUBLISH with a raw property section (MQTT 5 only;
// nil means none).
func publishRaw(v5 bool, header byte, topic string, id uint16, ps []byte, payload string) []byte {
	b := rawStr(topic)
	if header>>1&3 != 0 {
		b = append(b, rawU16(id)...)
	}
	if v5 {
		if ps == nil {
			ps = []byte{0}
		}
		b = append(b, ps...)
	}
	return frame(header, append(b, payload...))
}

// subscribeRaw builds a SUBSCRIBE of one filter with raw options.
func subscribeRaw(v5 bool, header byte, id uint16, ps []byte, filter string, opts byte) []byte {
	b := rawU16(id)
	if v5 {
		if ps == nil {
			ps = []byte{0}
		}
		b = append(b, ps...)
	}
	return frame(header, catBytes(b, rawStr(filter), []byte{opts}))
}

func unsubscribeRaw(v5 bool, header byte, id uint16, filter string) []byte {
	return frame(header, catBytes(rawU16(id), propsRaw(v5), rawStr(filter)))
}

// userProp is a raw User Property (0x26) with unchecked bytes.
func userProp(k, v string) []byte { return catBytes([]byte{propUser}, rawStr(k), rawStr(v)) }

func deepTopic(levels int) string { return strings.Repeat("a/", levels-1) + "a" }

// fixed returns the same bytes for both versions.
func fixedBytes(b ...byte) func(bool) []byte { return func(bool) []byte { return b } }

// ---------------------------------------------------------------------------
// The table.

// The audit events of the table: a violation after CONNECT, a refused
// CONNECT.
const (
	evViolation = audit.ProtocolViolation
	evRefused   = audit.ConnectionRefused
)

var hostileCases = []hostileCase{
	// Remaining length: invalid encodings and values past the maximum.
	{name: "remaining-length-five-bytes", clause: "[MQTT-1.5.5] at most four bytes",
		pkt: fixedBytes(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), out: outClosed, code: 0x81, event: evViolation},
	{name: "remaining-length-not-minimal", clause: "[MQTT-1.5.5-1] minimum number of bytes",
		pkt: fixedBytes(0xC0, 0x80, 0x00), out: outClosed, code: 0x81, event: evViolation},
	{name: "remaining-length-maximum-value", clause: "§3.2.2.3.6 268,435,455 bytes announced",
		pkt: fixedBytes(0x30, 0xFF, 0xFF, 0xFF, 0x7F), out: outClosed, code: 0x95, event: evViolation},
	{name: "connect-remaining-length-five-bytes", clause: "[MQTT-1.5.5] before CONNECT", first: true,
		pkt: fixedBytes(0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), out: outSilent, event: evRefused, code: 0x81},

	// Truncated packets.
	{name: "truncated-then-eof", clause: "[MQTT-2.1.4] body shorter than announced, then EOF",
		pkt: fixedBytes(0x30, 100, 0, 3, 'a', '/', 'b', 'x'), halfClose: true, out: outClosed},
	{name: "truncated-then-stall", clause: "[MQTT-3.1.2-22] body shorter than announced, then silence",
		keepAlive: 1, pkt: fixedBytes(0x30, 100, 0, 3, 'a', '/', 'b', 'x'), out: outClosed, code: 0x8D,
		wait: 1500 * time.Millisecond},
	{name: "truncated-topic", clause: "[MQTT-1.5.4] string longer than the packet",
		pkt: func(v5 bool) []byte { return frame(0x30, catBytes(rawU16(100), []byte("abc"))) }, out: outClosed, code: 0x81, event: evViolation},
	{name: "truncated-subscribe-options", clause: "[MQTT-3.8.3] filter without options byte",
		pkt: func(v5 bool) []byte { return frame(0x82, catBytes(rawU16(1), propsRaw(v5), rawStr("a/b"))) },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "truncated-packet-id", clause: "[MQTT-2.2.1] PUBACK of one byte",
		pkt: fixedBytes(0x40, 1, 0), out: outClosed, code: 0x81, event: evViolation},
	{name: "truncated-connect", clause: "[MQTT-3.1.4-1] CONNECT ending after the protocol level", first: true,
		pkt: func(v5 bool) []byte { return frame(0x10, catBytes(rawStr("MQTT"), []byte{protoVersion(v5)})) },
		out: outRefused, code: 0x81, event: evRefused},
	{name: "truncated-properties", clause: "[MQTT-2.2.2] property length past the packet", only: 5,
		pkt: func(v5 bool) []byte { return frame(0x30, catBytes(rawStr("a/b"), []byte{50, 0x01, 0x00})) },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "property-string-past-section", clause: "[MQTT-2.2.2] string past the property section", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, []byte{3, 0x03, 0, 50}, "payload-here") },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "property-length-five-bytes", clause: "[MQTT-1.5.5] property length of five bytes", only: 5,
		pkt: func(v5 bool) []byte {
			return publishRaw(v5, 0x30, "a/b", 0, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, "")
		}, out: outClosed, code: 0x81, event: evViolation},

	// Invalid UTF-8, overlong encodings and U+0000.
	{name: "topic-overlong-slash", clause: "[MQTT-1.5.4-1] overlong '/' in a topic",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a\xC0\xAFb", 0, nil, "x") }, out: outClosed, code: 0x81, event: evViolation},
	{name: "topic-overlong-nul", clause: "[MQTT-1.5.4-1] [MQTT-1.5.4-2] overlong U+0000 in a topic",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a\xC0\x80b", 0, nil, "x") }, out: outClosed, code: 0x81, event: evViolation},
	{name: "topic-surrogate", clause: "[MQTT-1.5.4-1] encoded surrogate in a topic",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/\xED\xA0\x80", 0, nil, "x") }, out: outClosed, code: 0x81, event: evViolation},
	{name: "filter-invalid-utf8", clause: "[MQTT-1.5.4-1] in a topic filter",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, nil, "a/\xFF", 0) }, out: outClosed, code: 0x81, event: evViolation},
	{name: "filter-nul", clause: "[MQTT-1.5.4-2] U+0000 in a topic filter",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, nil, "a/\x00", 0) }, out: outClosed, code: 0x81, event: evViolation},
	{name: "unsubscribe-filter-overlong", clause: "[MQTT-1.5.4-1] in UNSUBSCRIBE",
		pkt: func(v5 bool) []byte { return unsubscribeRaw(v5, 0xA2, 1, "\xE0\x80\xAF") }, out: outClosed, code: 0x81, event: evViolation},
	{name: "user-property-nul", clause: "[MQTT-1.5.4-2] U+0000 in a user property key", only: 5,
		pkt: func(v5 bool) []byte {
			return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, userProp("k\x00", "v")...), "x")
		},
		out: outClosed, code: 0x81, event: evViolation},
	{name: "user-property-overlong", clause: "[MQTT-1.5.4-1] overlong in a user property value", only: 5,
		pkt: func(v5 bool) []byte {
			return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, userProp("k", "\xE0\x80\xAF")...), "x")
		}, out: outClosed, code: 0x81, event: evViolation},
	{name: "content-type-invalid-utf8", clause: "[MQTT-1.5.4-1] in Content Type", only: 5,
		pkt: func(v5 bool) []byte {
			return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, catBytes([]byte{propContentType}, rawStr("\xFF"))...), "x")
		}, out: outClosed, code: 0x81, event: evViolation},
	{name: "client-id-invalid-utf8", clause: "[MQTT-1.5.4-1] in the client id", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, nil, rawStr("\xFF\xFE")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "client-id-overlong", clause: "[MQTT-1.5.4-1] overlong in the client id", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, nil, rawStr("id\xC0\xAF")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "client-id-nul", clause: "[MQTT-1.5.4-2] U+0000 in the client id", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, nil, rawStr("a\x00b")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "client-id-surrogate", clause: "[MQTT-1.5.4-1] surrogate in the client id", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, nil, rawStr("\xED\xBF\xBF")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "client-id-control-character", clause: "control characters refused (log forging)", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, nil, rawStr("a\nb")) }, out: outRefused, code: 0x85, code3: 2, event: evRefused},
	{name: "username-invalid-utf8", clause: "[MQTT-1.5.4-1] in the user name", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x82, nil, rawStr("u1"), rawStr("\xFF")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "will-topic-invalid-utf8", clause: "[MQTT-1.5.4-1] in the will topic", first: true,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x06, nil, rawStr("w1"), propsRaw(v5), rawStr("w/\xFF"), rawStr("bye"))
		}, out: outRefused, code: 0x81, event: evRefused},
	{name: "connect-user-property-invalid", clause: "[MQTT-1.5.4-1] in a CONNECT user property", first: true, only: 5,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x02, propsRaw(v5, userProp("\xFF", "v")...), rawStr("c1"))
		},
		out: outRefused, code: 0x81, event: evRefused},

	// Properties: duplicated, not allowed in the packet type, zero-length
	// and oversized.
	{name: "duplicate-property-publish", clause: "§2.2.2.2 Payload Format Indicator twice", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, 0x01, 0, 0x01, 0), "x") },
		out: outClosed, code: 0x82, event: evViolation},
	{name: "duplicate-subscription-identifier", clause: "§3.8.2.1.2 Subscription Identifier twice", only: 5,
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, propsRaw(v5, 0x0B, 1, 0x0B, 2), "a/b", 0) },
		out: outClosed, code: 0x82, event: evViolation},
	{name: "duplicate-property-connect", clause: "§3.1.2.11.2 Session Expiry Interval twice", first: true, only: 5,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x02, propsRaw(v5, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), rawStr("d1"))
		}, out: outRefused, code: 0x82, event: evRefused},
	{name: "property-not-allowed-publish", clause: "§2.2.2.2 Session Expiry Interval in PUBLISH", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, 0x11, 0, 0, 0, 5), "x") },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "property-not-allowed-subscribe", clause: "§2.2.2.2 Topic Alias in SUBSCRIBE", only: 5,
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, propsRaw(v5, 0x23, 0, 1), "a/b", 0) },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "property-not-allowed-connect", clause: "§2.2.2.2 Topic Alias in CONNECT", first: true, only: 5,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, propsRaw(v5, 0x23, 0, 1), rawStr("n1")) },
		out: outRefused, code: 0x81, event: evRefused},
	{name: "property-not-allowed-will", clause: "§3.1.3.2 Session Expiry Interval in will properties", first: true, only: 5,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x06, nil, rawStr("n2"), propsRaw(v5, 0x11, 0, 0, 0, 1), rawStr("w/t"), rawStr("bye"))
		}, out: outRefused, code: 0x81, event: evRefused},
	{name: "property-unknown-identifier", clause: "§2.2.2.2 identifier 0x7F", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, 0x7F, 0), "x") },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "property-multibyte-identifier", clause: "§2.2.2.2 identifier as a two-byte varint", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, 0x81, 0x00, 0), "x") },
		out: outClosed, code: 0x81, event: evViolation},
	{name: "subscription-identifier-from-client", clause: "[MQTT-3.3.4-6]", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, 0x0B, 1), "x") },
		out: outClosed, code: 0x82, event: evViolation},
	{name: "payload-format-value-2", clause: "§3.3.2.3.2 Payload Format Indicator 2", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, 0x01, 2), "x") },
		out: outClosed, code: 0x82, event: evViolation},
	{name: "oversized-user-property", clause: "§3.2.2.3.6 a user property past Maximum Packet Size", only: 5,
		pkt: func(v5 bool) []byte {
			big := strings.Repeat("v", 40000)
			return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, catBytes(userProp("k1", big), userProp("k2", big))...), "x")
		}, out: outClosed, code: 0x95, event: evViolation},
	{name: "zero-length-properties", clause: "§1.5.4 empty strings and binary data are valid", only: 5,
		pkt: func(v5 bool) []byte {
			ps := catBytes(userProp("", ""), []byte{propContentType}, rawStr(""), []byte{0x09}, rawU16(0))
			return publishRaw(v5, 0x32, "zero/len", 9, propsRaw(v5, ps...), "")
		}, out: outAnswered, typ: tPUBACK, code: 0x10},
	{name: "receive-maximum-zero", clause: "§3.1.2.11.3 Receive Maximum 0", first: true, only: 5,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, propsRaw(v5, 0x21, 0, 0), rawStr("r0")) },
		out: outRefused, code: 0x82, event: evRefused},
	{name: "maximum-packet-size-zero", clause: "§3.1.2.11.4 Maximum Packet Size 0", first: true, only: 5,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, propsRaw(v5, 0x27, 0, 0, 0, 0), rawStr("m0")) },
		out: outRefused, code: 0x82, event: evRefused},
	{name: "authentication-data-without-method", clause: "§3.1.2.11.10", first: true, only: 5,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x02, propsRaw(v5, catBytes([]byte{0x16}, rawStr("x"))...), rawStr("a0"))
		},
		out: outRefused, code: 0x82, event: evRefused},
	{name: "request-problem-information-2", clause: "§3.1.2.11.7 value 2", first: true, only: 5,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, propsRaw(v5, 0x17, 2), rawStr("p2")) },
		out: outRefused, code: 0x82, event: evRefused},

	{name: "subscription-identifier-0", clause: "§3.8.2.1.2 Subscription Identifier 0", only: 5,
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, propsRaw(v5, 0x0B, 0), "a/b", 0) },
		out: outClosed, code: 0x82, event: evViolation},
	{name: "response-topic-wildcard", clause: "[MQTT-3.3.2-14]", only: 5,
		pkt: func(v5 bool) []byte {
			return publishRaw(v5, 0x30, "a/b", 0, propsRaw(v5, catBytes([]byte{0x08}, rawStr("reply/#"))...), "x")
		}, out: outClosed, code: 0x82, event: evViolation},
	{name: "will-payload-format-invalid", clause: "[MQTT-3.1.3-11] will payload not UTF-8", first: true, only: 5,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x06, nil, rawStr("wp"), propsRaw(v5, 0x01, 1), rawStr("w/t"), rawStr("\xFF\xFE"))
		}, out: outRefused, code: 0x99, event: evRefused},

	// Packet identifier 0.
	{name: "publish-qos1-packet-id-0", clause: "[MQTT-2.2.1-3]",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x32, "a/b", 0, nil, "x") }, out: outClosed, code: 0x82, event: evViolation},
	{name: "publish-qos2-packet-id-0", clause: "[MQTT-2.2.1-3]",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x34, "a/b", 0, nil, "x") }, out: outClosed, code: 0x82, event: evViolation},
	{name: "subscribe-packet-id-0", clause: "[MQTT-2.2.1-3]",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 0, nil, "a/b", 0) }, out: outClosed, code: 0x82, event: evViolation},
	{name: "unsubscribe-packet-id-0", clause: "[MQTT-2.2.1-3]",
		pkt: func(v5 bool) []byte { return unsubscribeRaw(v5, 0xA2, 0, "a/b") }, out: outClosed, code: 0x82, event: evViolation},
	{name: "puback-packet-id-0", clause: "[MQTT-2.2.1-3]", pkt: fixedBytes(0x40, 2, 0, 0), out: outClosed, code: 0x82, event: evViolation},
	{name: "pubrel-packet-id-0", clause: "[MQTT-2.2.1-3]", pkt: fixedBytes(0x62, 2, 0, 0), out: outClosed, code: 0x82, event: evViolation},

	// QoS 3.
	{name: "subscribe-qos3", clause: "§3.8.3.1 Maximum QoS 3 (3.1.1: malformed)",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, nil, "a/b", 3) }, out: outClosed, code: 0x82, event: evViolation, event3: 0x81},
	{name: "subscribe-retain-handling-3", clause: "§3.8.3.1 Retain Handling 3", only: 5,
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, nil, "a/b", 0x30) }, out: outClosed, code: 0x82, event: evViolation},
	{name: "will-qos3", clause: "[MQTT-3.1.2-12]", first: true,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x1E, nil, rawStr("q3"), propsRaw(v5), rawStr("w/t"), rawStr("bye"))
		},
		out: outRefused, code: 0x81, event: evRefused},

	// Reserved flags and types.
	{name: "connect-reserved-flag", clause: "[MQTT-3.1.2-3]", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x03, nil, rawStr("rf")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "will-retain-without-will", clause: "[MQTT-3.1.2-13]", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x22, nil, rawStr("wr")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "will-qos-without-will", clause: "[MQTT-3.1.2-11]", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x0A, nil, rawStr("wq")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "password-without-username", clause: "[MQTT-3.1.2-22] (3.1.1)", first: true, only: 4,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x42, nil, rawStr("pw"), rawStr("secret")) }, out: outRefused, code: 0x81, event: evRefused},
	{name: "pingreq-flags", clause: "[MQTT-2.1.3-1]", pkt: fixedBytes(0xC1, 0), out: outClosed, code: 0x81, event: evViolation},
	{name: "pingreq-with-body", clause: "§3.12 PINGREQ has no body", pkt: fixedBytes(0xC0, 1, 0), out: outClosed, code: 0x81, event: evViolation},
	{name: "publish-dup-on-qos0", clause: "[MQTT-3.3.1-2]",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x38, "a/b", 0, nil, "x") }, out: outClosed, code: 0x81, event: evViolation},
	{name: "unsubscribe-flags-0000", clause: "[MQTT-3.10.1-1]",
		pkt: func(v5 bool) []byte { return unsubscribeRaw(v5, 0xA0, 1, "a/b") }, out: outClosed, code: 0x81, event: evViolation},
	{name: "puback-flags", clause: "[MQTT-2.1.3-1]", pkt: fixedBytes(0x42, 2, 0, 1), out: outClosed, code: 0x81, event: evViolation},
	{name: "disconnect-flags", clause: "[MQTT-2.1.3-1]", pkt: fixedBytes(0xE1, 0), out: outClosed, code: 0x81, event: evViolation},
	{name: "reserved-type-0", clause: "§2.1.2 type 0 is reserved", pkt: fixedBytes(0x00, 0), out: outClosed, code: 0x81, event: evViolation},
	{name: "auth-in-311", clause: "§2.1.2 type 15 is reserved before MQTT 5", only: 4,
		pkt: fixedBytes(0xF0, 0), out: outClosed, event: evViolation, event3: 0x81},
	{name: "subscribe-options-reserved-bits", clause: "[MQTT-3.8.3-4] [MQTT-3.8.3-5]",
		pkt: func(v5 bool) []byte {
			opts := byte(0x04) // No Local: reserved in 3.1.1
			if v5 {
				opts = 0xC0
			}
			return subscribeRaw(v5, 0x82, 1, nil, "a/b", opts)
		}, out: outClosed, code: 0x81, event: evViolation},
	{name: "disconnect-with-body-311", clause: "§3.14 (3.1.1) DISCONNECT has no body", only: 4,
		pkt: fixedBytes(0xE0, 1, 0), out: outClosed, event: evViolation, event3: 0x81},

	{name: "publish-empty-body", clause: "[MQTT-2.1.4] PUBLISH of remaining length 0",
		pkt: fixedBytes(0x30, 0), out: outClosed, code: 0x81, event: evViolation},
	{name: "subscribe-no-filter", clause: "[MQTT-3.8.3-2]",
		pkt: func(v5 bool) []byte { return frame(0x82, catBytes(rawU16(1), propsRaw(v5))) }, out: outClosed, code: 0x82, event: evViolation},
	{name: "unsubscribe-no-filter", clause: "[MQTT-3.10.3-2]",
		pkt: func(v5 bool) []byte { return frame(0xA2, catBytes(rawU16(1), propsRaw(v5))) }, out: outClosed, code: 0x82, event: evViolation},
	{name: "shared-subscription-empty-group", clause: "[MQTT-4.8.2-1] share name of one character at least",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 4, nil, "$share//a", 1) },
		out: outAnswered, typ: tSUBACK, code: 0x8F, code3: 0x80},
	{name: "shared-subscription-no-filter", clause: "[MQTT-4.8.2-2] share name then a filter",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 4, nil, "$share/g", 1) },
		out: outAnswered, typ: tSUBACK, code: 0x8F, code3: 0x80},
	{name: "client-id-too-long", clause: "mqtt.max_client_id_length", first: true,
		pkt: func(v5 bool) []byte { return connectRaw(v5, 0x02, nil, rawStr(strings.Repeat("i", 300))) },
		out: outRefused, code: 0x85, code3: 2, event: evRefused},

	// Order and direction.
	{name: "second-connect-other-version", clause: "[MQTT-3.1.0-2]",
		pkt: connectOther, out: outClosed, code: 0x82, event: evViolation},
	{name: "subscribe-before-connect", clause: "[MQTT-3.1.0-1]", first: true,
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 1, nil, "a/b", 0) }, out: outSilent, code: 0x82, event: evRefused},
	{name: "auth-before-connect", clause: "[MQTT-3.1.0-1]", first: true,
		pkt: fixedBytes(0xF0, 0), out: outSilent, code: 0x82, event: evRefused},
	{name: "unknown-protocol-name", clause: "[MQTT-3.1.2-1]", first: true,
		pkt: func(v5 bool) []byte {
			return frame(0x10, catBytes(rawStr("MQTX"), []byte{protoVersion(v5), 2}, rawU16(30), propsRaw(v5), rawStr("x")))
		}, out: outSilent, code: 0x82, event: evRefused},
	{name: "connack-from-client", clause: "§3.2 CONNACK is sent by the server",
		pkt: func(v5 bool) []byte { return frame(0x20, catBytes([]byte{0, 0}, propsRaw(v5))) }, out: outClosed, code: 0x82, event: evViolation},
	{name: "suback-from-client", clause: "§3.9 SUBACK is sent by the server",
		pkt: func(v5 bool) []byte { return frame(0x90, catBytes(rawU16(1), propsRaw(v5), []byte{0})) }, out: outClosed, code: 0x82, event: evViolation},
	{name: "pingresp-from-client", clause: "§3.13 PINGRESP is sent by the server",
		pkt: fixedBytes(0xD0, 0), out: outClosed, code: 0x82, event: evViolation},
	{name: "disconnect-server-reason", clause: "[MQTT-3.14.2-1] 0x8E is the server's", only: 5,
		pkt: fixedBytes(0xE0, 1, 0x8E), out: outClosed, code: 0x82, event: evViolation},
	{name: "puback-reason-not-allowed", clause: "[MQTT-3.4.2-1]", only: 5,
		pkt: fixedBytes(0x40, 3, 0, 1, 0x04), out: outClosed, code: 0x82, event: evViolation},
	{name: "disconnect-session-expiry-after-zero", clause: "[MQTT-3.14.2-2]", only: 5,
		pkt: fixedBytes(0xE0, 7, 0x00, 5, 0x11, 0, 0, 0, 10), out: outClosed, code: 0x82, event: evViolation},
	{name: "auth-without-method", clause: "§4.12 AUTH without a method at CONNECT", only: 5,
		pkt: fixedBytes(0xF0, 0), out: outClosed, code: 0x82, event: evViolation},
	{name: "empty-topic-without-alias", clause: "[MQTT-4.7.3-1] (MQTT 5: §3.3.2.1 Protocol Error)",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, "", 0, nil, "x") }, out: outClosed, code: 0x82, event: evViolation, event3: 0x81},
	{name: "pubrel-unknown-id", clause: "§3.7.2.1 PUBCOMP 0x92 for an unknown id",
		pkt: func(bool) []byte { return rawAck(tPUBREL, 7) }, out: outAnswered, typ: tPUBCOMP, code: 0x92},
	{name: "pubrec-unknown-id", clause: "§3.6.2.1 PUBREL 0x92 for an unknown id", only: 5,
		pkt: func(bool) []byte { return rawAck(tPUBREC, 7) }, out: outAnswered, typ: tPUBREL, code: 0x92},
	{name: "puback-unknown-id", clause: "an unknown PUBACK is ignored",
		pkt: func(bool) []byte { return rawAck(tPUBACK, 7) }, out: outIgnored},
	{name: "payload-format-invalid", clause: "[MQTT-3.3.2-4] PUBACK 0x99", only: 5,
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x32, "a/b", 3, propsRaw(v5, 0x01, 1), "\xFF\xFE") },
		out: outAnswered, typ: tPUBACK, code: 0x99},

	// Topics: 10,000 levels.
	{name: "topic-10000-levels", clause: "mqtt.max_topic_levels on a topic name",
		pkt: func(v5 bool) []byte { return publishRaw(v5, 0x30, deepTopic(10000), 0, nil, "x") }, out: outClosed, code: 0x90, event: evViolation},
	{name: "filter-10000-levels", clause: "mqtt.max_topic_levels on a topic filter",
		pkt: func(v5 bool) []byte { return subscribeRaw(v5, 0x82, 4, nil, deepTopic(10000), 1) },
		out: outAnswered, typ: tSUBACK, code: 0x8F, code3: 0x80},
	{name: "will-topic-wildcard", clause: "[MQTT-3.3.2-2] in the will topic", first: true,
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x06, nil, rawStr("ww"), propsRaw(v5), rawStr("w/#"), rawStr("bye"))
		},
		out: outRefused, code: 0x90, event: evRefused},

	// Features the broker does not offer.
	{name: "retain-not-available", clause: "[MQTT-3.2.2-14]",
		tune: func(l *broker.Limits) { l.RetainAvailable = false },
		pkt:  func(v5 bool) []byte { return publishRaw(v5, 0x31, "a/b", 0, nil, "x") }, out: outClosed, code: 0x9A, event: evViolation},
	{name: "will-retain-not-available", clause: "[MQTT-3.2.2-13]", first: true,
		tune: func(l *broker.Limits) { l.RetainAvailable = false },
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x26, nil, rawStr("wr2"), propsRaw(v5), rawStr("w/t"), rawStr("bye"))
		}, out: outRefused, code: 0x9A, code3: 3, event: evRefused},
	{name: "qos-not-supported", clause: "[MQTT-3.2.2-11]",
		tune: func(l *broker.Limits) { l.MaxQoS = 1 },
		pkt:  func(v5 bool) []byte { return publishRaw(v5, 0x34, "a/b", 5, nil, "x") }, out: outClosed, code: 0x9B, event: evViolation},
	{name: "will-qos-not-supported", clause: "[MQTT-3.2.2-12]", first: true,
		tune: func(l *broker.Limits) { l.MaxQoS = 1 },
		pkt: func(v5 bool) []byte {
			return connectRaw(v5, 0x16, nil, rawStr("wq2"), propsRaw(v5), rawStr("w/t"), rawStr("bye"))
		}, out: outRefused, code: 0x9B, code3: 3, event: evRefused},
}

// TestHostile_Protocol runs the table for both versions.
func TestHostile_Protocol(t *testing.T) {
	base := heapBytes()
	shared := startHostile(t, nil)
	t.Run("cases", func(t *testing.T) {
		for _, tc := range hostileCases {
			for _, v5 := range []bool{false, true} {
				if tc.only == 4 && v5 || tc.only == 5 && !v5 {
					continue
				}
				name := tc.name + "/v311"
				if v5 {
					name = tc.name + "/v5"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					h := shared
					if tc.tune != nil {
						h = startHostile(t, tc.tune)
					}
					runHostile(t, h, tc, v5)
					h.alive(t)
				})
			}
		}
	})
	shared.idle(t)
	if g := heapGrowth(base); g > tableHeapSlack {
		t.Errorf("heap grew by %s over the protocol table (bound %s)", mib(g), mib(tableHeapSlack))
	}
}

// runHostile sends one case and checks its outcome and audit event.
func runHostile(t *testing.T, h *hostileBroker, tc hostileCase, v5 bool) {
	c := dialRaw(t, h.addr, v5)
	if !tc.first {
		ka := tc.keepAlive
		if ka == 0 {
			ka = 30
		}
		c.connect(rawConnect{Version: protoVersion(v5), ClientID: fmt.Sprintf("h%d-%s", protoVersion(v5), tc.name), Clean: true, KeepAlive: ka})
	}
	remote := c.localAddr()
	what := fmt.Sprintf("%s (%s)", tc.name, tc.clause)
	c.sendMaybe(tc.pkt(v5))
	if tc.halfClose {
		c.halfClose()
	}
	within := closeWithin + tc.wait
	switch tc.out {
	case outClosed:
		res := c.readUntilClosed(t, within, what)
		for _, p := range res.Packets {
			if p.Type != tDISCONNECT || !v5 {
				t.Errorf("%s: unexpected %v before the close", what, p)
			}
		}
		if v5 && tc.code != 0 {
			if res.Disconnect == nil {
				t.Errorf("%s: closed without DISCONNECT %#x", what, tc.code)
			} else if got := disconnectReason(res.Disconnect); got != tc.code {
				t.Errorf("%s: DISCONNECT %#x, want %#x", what, got, tc.code)
			}
		}
	case outRefused, outSilent:
		res := c.readUntilClosed(t, within, what)
		want := -1 // no packet
		if tc.out == outRefused {
			switch {
			case v5:
				want = int(tc.code)
			case tc.code3 != 0:
				want = int(tc.code3)
			}
		}
		switch {
		case want < 0 && len(res.Packets) > 0:
			t.Errorf("%s: want the close without a packet, got %v", what, res.Packets)
		case want >= 0 && len(res.Packets) != 1:
			t.Errorf("%s: want one CONNACK %#x, got %v", what, want, res.Packets)
		case want >= 0:
			if ca := parseConnack(t, res.Packets[0], v5); int(ca.Code) != want {
				t.Errorf("%s: CONNACK %#x, want %#x", what, ca.Code, want)
			}
		}
	case outAnswered:
		p := c.expect(tc.typ)
		var got byte
		if tc.typ == tSUBACK {
			got = subackCodes(t, p, v5)[0]
		} else {
			_, got = ackID(p)
		}
		want := tc.code
		if !v5 {
			want = tc.code3
		}
		if got != want {
			t.Errorf("%s: answer code %#x, want %#x", what, got, want)
		}
		fallthrough
	case outIgnored:
		if other := c.ping(); len(other) > 0 {
			t.Errorf("%s: unexpected %v", what, other)
		}
		c.send(rawDisconnect(v5, 0))
		c.readUntilClosed(t, closeWithin, what+": DISCONNECT")
	}
	if tc.event != "" {
		code := tc.code
		if !v5 && tc.event3 != 0 {
			code = tc.event3
		}
		h.expectEvent(t, remote, tc.event, packet.ReasonCode(code))
	}
}

// TestHostile_RefusalWithinMaximumPacketSize: a refused MQTT 5 client that
// announced a small Maximum Packet Size gets a CONNACK that fits it, the
// Reason String left out [MQTT-3.1.2-24] [MQTT-3.1.2-25].
func TestHostile_RefusalWithinMaximumPacketSize(t *testing.T) {
	h := startHostile(t, nil)
	const max = 16
	c := dialRaw(t, h.addr, true)
	c.send(rawConnect{Version: 5, ClientID: "a\nb", Clean: true, KeepAlive: 30,
		Props: props{{ID: propMaxPacketSize, N: max}}}.bytes())
	res := c.readUntilClosed(t, closeWithin, "refused CONNECT")
	if len(res.Packets) != 1 {
		t.Fatalf("want one CONNACK, got %v", res.Packets)
	}
	p := res.Packets[0]
	if size := 1 + len(appendVarint(nil, len(p.Body))) + len(p.Body); size > max {
		t.Errorf("CONNACK of %d bytes to a client whose Maximum Packet Size is %d", size, max)
	}
	if ca := parseConnack(t, p, true); ca.Code != 0x85 {
		t.Errorf("CONNACK %#x, want 0x85", ca.Code)
	}
	h.alive(t)
}
