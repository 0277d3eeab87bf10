// Package packet is Moat's MQTT codec for protocol versions 3.1, 3.1.1 and
// 5.0. It imports only the standard library.
//
// The codec has one Go type per control packet. Decoding is strict: it
// enforces every structural rule of the specifications (remaining length and
// variable byte integer bounds, UTF-8 rules, reserved flags, property
// legality and uniqueness, packet identifier 0) and reports violations as
// *Error values that carry the MQTT 5 reason code the broker must answer
// with. Protocol semantics that need session state (topic alias ranges,
// inflight windows) and authorization are not the codec's business.
package packet

import "fmt"

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types [MQTT-2.1.2].
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

// String names the packet type as the specification does ("PUBLISH").
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol levels. V31 uses the protocol name "MQIsdp", the others "MQTT".
const (
	V31  Version = 3
	V311 Version = 4
	V5   Version = 5
)

// String reports the protocol version as "3.1", "3.1.1" or "5.0".
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("Version(%d)", byte(v))
}

// Packet is implemented by every control packet type.
type Packet interface {
	// Type reports the control packet type.
	Type() Type
}

// Limits of the wire format.
const (
	// MaxRemainingLength is the largest value a four-byte variable byte
	// integer can hold [MQTT-1.5.5].
	MaxRemainingLength = 268_435_455
	// MaxPacketSize is the largest possible packet: fixed header byte, a
	// four-byte remaining length and the largest body.
	MaxPacketSize = 1 + 4 + MaxRemainingLength
)

// FixedHeader is the first part of every packet.
type FixedHeader struct {
	Type      Type
	Flags     byte // low nibble of the first byte
	Remaining int  // remaining length: the size of the body that follows
}

// Size reports the whole packet size: header byte, length bytes and body.
func (h FixedHeader) Size() int { return 1 + VarintSize(uint32(h.Remaining)) + h.Remaining }

// Connect is the CONNECT packet. Password and AuthenticationData are
// secrets: String and LogValue redact them.
type Connect struct {
	ProtocolName string  // "MQTT" or, for V31, "MQIsdp"
	Version      Version // protocol level
	CleanStart   bool    // Clean Session in 3.1.1
	KeepAlive    uint16  // seconds
	Properties   Properties

	ClientID string

	WillFlag       bool
	WillQoS        byte
	WillRetain     bool
	WillProperties Properties
	WillTopic      string
	WillPayload    []byte

	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Connack is the CONNACK packet. For 3.1 and 3.1.1 the ReasonCode is mapped
// to a connect return code on encoding (see ReasonCode.V3ConnectReturn).
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet. After Decode, Topic and Payload alias the
// body buffer handed to Decode; the caller must not reuse that buffer while
// the packet is in use.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty in MQTT 5 when a topic alias is set
	PacketID   uint16 // present only for QoS 1 and 2
	Properties Properties
	Payload    []byte
}

// Puback is the PUBACK packet (QoS 1 acknowledgement).
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrec is the PUBREC packet (QoS 2, step 1 of the answer).
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrel is the PUBREL packet (QoS 2 release). Fixed header flags are 0010.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubcomp is the PUBCOMP packet (QoS 2 completion).
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options. The
// option fields other than QoS exist only in MQTT 5 and are zero otherwise.
type Subscription struct {
	Filter            string
	QoS               byte // maximum QoS
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send at subscribe, 1 only if new, 2 never
}

// Subscribe is the SUBSCRIBE packet. Fixed header flags are 0010.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties
	Subscriptions []Subscription // at least one [MQTT-3.8.3-2]
}

// Suback is the SUBACK packet: one reason code per requested filter, in
// order. For 3.1.1 a failure is encoded as 0x80.
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet. Fixed header flags are 0010.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string // at least one [MQTT-3.10.3-2]
}

// Unsuback is the UNSUBACK packet. ReasonCodes and Properties exist only in
// MQTT 5 and are not encoded for earlier versions.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet. Reason code and properties exist only
// in MQTT 5.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the MQTT 5 AUTH packet. Properties.AuthenticationData is a secret.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Type implementations.
func (*Connect) Type() Type     { return CONNECT }
func (*Connack) Type() Type     { return CONNACK }
func (*Publish) Type() Type     { return PUBLISH }
func (*Puback) Type() Type      { return PUBACK }
func (*Pubrec) Type() Type      { return PUBREC }
func (*Pubrel) Type() Type      { return PUBREL }
func (*Pubcomp) Type() Type     { return PUBCOMP }
func (*Subscribe) Type() Type   { return SUBSCRIBE }
func (*Suback) Type() Type      { return SUBACK }
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }
func (*Unsuback) Type() Type    { return UNSUBACK }
func (*Pingreq) Type() Type     { return PINGREQ }
func (*Pingresp) Type() Type    { return PINGRESP }
func (*Disconnect) Type() Type  { return DISCONNECT }
func (*Auth) Type() Type        { return AUTH }

// Interface guards.
var (
	_ Packet = (*Connect)(nil)
	_ Packet = (*Connack)(nil)
	_ Packet = (*Publish)(nil)
	_ Packet = (*Puback)(nil)
	_ Packet = (*Pubrec)(nil)
	_ Packet = (*Pubrel)(nil)
	_ Packet = (*Pubcomp)(nil)
	_ Packet = (*Subscribe)(nil)
	_ Packet = (*Suback)(nil)
	_ Packet = (*Unsubscribe)(nil)
	_ Packet = (*Unsuback)(nil)
	_ Packet = (*Pingreq)(nil)
	_ Packet = (*Pingresp)(nil)
	_ Packet = (*Disconnect)(nil)
	_ Packet = (*Auth)(nil)
)
