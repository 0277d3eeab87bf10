package packet

// Protocol names [MQTT-3.1.2.1].
const (
	protoMQTT   = "MQTT"
	protoMQIsdp = "MQIsdp" // MQTT 3.1
)

// DecodeConnect decodes a CONNECT into p, which it overwrites. The version
// comes from the packet. When the protocol level is not supported it
// returns an *Error with code UnsupportedProtocolVersion and leaves
// p.ProtocolName and p.Version set, so the broker can answer with a
// 3.1.1-format CONNACK [MQTT-3.1.2-2]. Zero-length binary fields
// (Password, WillPayload) decode as nil: PasswordFlag, not the slice, tells
// an empty password from none.
func DecodeConnect(h FixedHeader, body []byte, p *Connect) error {
	if err := checkTyped(h, CONNECT, body, 0); err != nil {
		return err
	}
	return decodeConnect(body, p)
}

func decodeConnect(body []byte, p *Connect) error {
	*p = Connect{}
	c := cursor{b: body}
	name, err := c.str("connect.protocol_name")
	if err != nil {
		return err
	}
	level, err := c.u8("connect.protocol_level")
	if err != nil {
		return err
	}
	v := Version(level)
	switch {
	case name == protoMQTT && (v == V311 || v == V5), name == protoMQIsdp && v == V31:
	case name == protoMQTT || name == protoMQIsdp:
		// A known protocol at a level this server does not support:
		// answer 0x84 (or return code 1) and close [MQTT-3.1.2-2].
		p.ProtocolName, p.Version = name, v
		return &Error{Code: UnsupportedProtocolVersion, Field: "connect.protocol_level",
			Msg: "unsupported protocol level"}
	default:
		// Not MQTT: the server MUST NOT go on processing the packet as
		// MQTT [MQTT-3.1.2-1].
		return protocolErr("connect.protocol_name", "unknown protocol name")
	}
	p.ProtocolName, p.Version = name, v

	flags, err := c.u8("connect.flags")
	if err != nil {
		return err
	}
	if flags&0x01 != 0 {
		// The reserved flag MUST be 0 [MQTT-3.1.2-3].
		return malformed("connect.flags", "reserved flag set")
	}
	p.CleanStart = flags&0x02 != 0
	p.WillFlag = flags&0x04 != 0
	p.WillQoS = (flags >> 3) & 3
	p.WillRetain = flags&0x20 != 0
	p.PasswordFlag = flags&0x40 != 0
	p.UsernameFlag = flags&0x80 != 0
	if p.WillQoS == 3 {
		// Will QoS 3 is malformed [MQTT-3.1.2-12].
		return malformed("connect.will_qos", "QoS 3")
	}
	if !p.WillFlag && p.WillQoS != 0 {
		// Without a will, Will QoS MUST be 0 [MQTT-3.1.2-11].
		return malformed("connect.will_qos", "set without will flag")
	}
	if !p.WillFlag && p.WillRetain {
		// Without a will, Will Retain MUST be 0 [MQTT-3.1.2-13].
		return malformed("connect.will_retain", "set without will flag")
	}
	if v != V5 && p.PasswordFlag && !p.UsernameFlag {
		// Before MQTT 5, no password without a user name [MQTT-3.1.2-22].
		return malformed("connect.flags", "password flag without user name flag")
	}
	if p.KeepAlive, err = c.u16("connect.keep_alive"); err != nil {
		return err
	}
	if v == V5 {
		if err := decodeProps(&c, &p.Properties, int(CONNECT)); err != nil {
			return err
		}
	}
	// The Client Identifier is always present [MQTT-3.1.3-3]; whether an
	// empty one is acceptable is the broker's decision.
	if p.ClientID, err = c.str("connect.client_id"); err != nil {
		return err
	}
	if p.WillFlag {
		if err := decodeWill(&c, p); err != nil {
			return err
		}
	}
	if p.UsernameFlag {
		if p.Username, err = c.str("connect.username"); err != nil {
			return err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = c.binary("connect.password"); err != nil {
			return err
		}
	}
	return c.end("connect")
}

func decodeWill(c *cursor, p *Connect) error {
	var err error
	if p.Version == V5 {
		// Will properties have their own legality set (3.1.3.2).
		if err := decodeProps(c, &p.WillProperties, willKind); err != nil {
			return err
		}
		if wp := &p.WillProperties; wp.Has(PropResponseTopic) && hasWildcard(wp.ResponseTopic) {
			// A Response Topic is a Topic Name [MQTT-3.3.2-14].
			return protocolErr(propField(willKind, PropResponseTopic), "wildcard in response topic")
		}
	}
	if p.WillTopic, err = c.str("connect.will_topic"); err != nil {
		return err
	}
	if p.WillTopic == "" || hasWildcard(p.WillTopic) {
		// The Will Topic is a Topic Name: at least one character
		// [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2]. CONNACK 0x90.
		return &Error{Code: TopicNameInvalid, Field: "connect.will_topic", Msg: "invalid will topic"}
	}
	p.WillPayload, err = c.binary("connect.will_payload")
	return err
}

// DecodeConnack decodes a CONNACK into p, which it overwrites.
func DecodeConnack(h FixedHeader, body []byte, v Version, p *Connack) error {
	if err := checkTyped(h, CONNACK, body, v); err != nil {
		return err
	}
	return decodeConnack(body, v, p)
}

// v3ReturnCodes maps 3.1.1 connect return codes to reason codes, the
// inverse of ReasonCode.V3ConnectReturn.
var v3ReturnCodes = [...]ReasonCode{Success, UnsupportedProtocolVersion,
	ClientIdentifierNotValid, ServerUnavailable, BadUserNameOrPassword, NotAuthorized}

func decodeConnack(body []byte, v Version, p *Connack) error {
	*p = Connack{}
	c := cursor{b: body}
	flags, err := c.u8("connack.flags")
	if err != nil {
		return err
	}
	code, err := c.u8("connack.reason_code")
	if err != nil {
		return err
	}
	if flags&0xFE != 0 {
		// Bits 7-1 of the acknowledge flags are reserved and MUST be 0
		// [MQTT-3.2.2-1].
		return malformed("connack.flags", "reserved flags set")
	}
	switch v {
	case V31, V311:
		if int(code) >= len(v3ReturnCodes) {
			// Return codes 6-255 are reserved (3.2.2.3).
			return malformed("connack.return_code", "reserved return code")
		}
		p.ReasonCode = v3ReturnCodes[code]
		// MQTT 3.1 has no session present flag: the byte is unused.
		p.SessionPresent = v == V311 && flags&1 != 0
	default:
		p.ReasonCode = ReasonCode(code)
		p.SessionPresent = flags&1 != 0
		// [MQTT-3.2.2-8]: one of the CONNACK reason codes.
		if !connackReasons.has(p.ReasonCode) {
			return protocolErr("connack.reason_code", "reason code not allowed")
		}
		if err := decodeProps(&c, &p.Properties, int(CONNACK)); err != nil {
			return err
		}
	}
	if p.SessionPresent && p.ReasonCode != Success {
		// With a non-zero code, Session Present MUST be 0 [MQTT-3.2.2-6].
		return protocolErr("connack.flags", "session present with a failure code")
	}
	return c.end("connack")
}
