package packet

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// ValidUTF8 reports whether b is a valid MQTT UTF-8 string body: well-formed
// UTF-8 without encoded surrogates (U+D800..U+DFFF) [MQTT-1.5.4-1] and
// without U+0000 [MQTT-1.5.4-2]. The broker may also use it to check a
// payload whose Payload Format Indicator is 1 [MQTT-3.3.2-4].
func ValidUTF8(b []byte) bool {
	const hi = 0x8080808080808080
	const lo = 0x0101010101010101
	i := 0
	// ASCII fast path, eight bytes at a time: no byte has its high bit set
	// and no byte is zero.
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if x&hi != 0 || (x-lo)&^x&hi != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			// utf8.Valid rejects overlong forms and surrogates.
			rest := b[i:]
			return utf8.Valid(rest) && indexZero(rest) < 0
		}
	}
	return true
}

// ValidUTF8String is ValidUTF8 for a string.
func ValidUTF8String(s string) bool {
	return ValidUTF8(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// hasWildcard reports whether a topic name carries '+' or '#', which only
// topic filters may [MQTT-3.3.2-2].
func hasWildcard(s string) bool { return strings.ContainsAny(s, "+#") }

// isShared reports whether a topic filter names a shared subscription.
func isShared(filter string) bool { return strings.HasPrefix(filter, "$share/") }

// Origin says which side sent a packet. A few rules depend on it: the
// DISCONNECT reason codes each side may use, the Session Expiry Interval in
// a DISCONNECT, and Subscription Identifiers in a PUBLISH.
type Origin uint8

const (
	// FromClient is the default: the packet was sent by a client and is
	// read by the broker.
	FromClient Origin = iota
	// FromServer: the packet was sent by a server (test clients, bridges).
	FromServer
)

// reasonSet is a 256-bit set of reason codes.
type reasonSet [4]uint64

func setOf(codes ...ReasonCode) (s reasonSet) {
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// Reason codes each packet may carry, from the MQTT 5 tables in sections
// 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1 and
// 3.15.2.1.
var (
	connackReasons = setOf(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
		0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F)
	pubackReasons  = setOf(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99) // also PUBREC
	pubrelReasons  = setOf(0x00, 0x92)                                           // also PUBCOMP
	subackReasons  = setOf(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	unsubackReason = setOf(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	authReasons    = setOf(0x00, 0x18, 0x19)
	// DISCONNECT codes by sender ("Sent by" column of Table 3-10).
	disconnectClient = setOf(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95,
		0x96, 0x97, 0x98, 0x99)
	disconnectServer = setOf(0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
		0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E,
		0x9F, 0xA0, 0xA1, 0xA2)
	disconnectAny = union(disconnectClient, disconnectServer)
)

func union(a, b reasonSet) reasonSet {
	for i := range a {
		a[i] |= b[i]
	}
	return a
}

// ReasonAllowed reports whether an MQTT 5 packet of type t sent by o may
// carry reason code r. Only DISCONNECT depends on o. Types without a reason
// code report false.
func ReasonAllowed(t Type, o Origin, r ReasonCode) bool {
	switch t {
	case CONNACK:
		return connackReasons.has(r)
	case PUBACK, PUBREC:
		return pubackReasons.has(r)
	case PUBREL, PUBCOMP:
		return pubrelReasons.has(r)
	case SUBACK:
		return subackReasons.has(r)
	case UNSUBACK:
		return unsubackReason.has(r)
	case AUTH:
		return authReasons.has(r)
	case DISCONNECT:
		if o == FromServer {
			return disconnectServer.has(r)
		}
		return disconnectClient.has(r)
	}
	return false
}

// reasonEncodable is ReasonAllowed for the encoder, which does not know the
// sender: DISCONNECT accepts the union of both sides.
func reasonEncodable(t Type, r ReasonCode) bool {
	if t == DISCONNECT {
		return disconnectAny.has(r)
	}
	return ReasonAllowed(t, FromClient, r)
}
