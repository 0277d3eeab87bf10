package packet

// Decode decodes the body of a packet whose fixed header is h, for protocol
// version v, as sent by a client (see DecodeFrom). The returned packet
// aliases body (strings through unsafe.String, byte slices directly): the
// caller must not modify or reuse body while the packet is in use. Reader
// allocates a fresh body for each packet, so its packets are safe to keep.
//
// For a CONNECT, v is ignored: the version comes from the packet. Errors
// are *Error values carrying the reason code to answer with. A CONNECT with
// an unknown protocol level returns both a *Connect (ProtocolName and
// Version set) and an *Error with code UnsupportedProtocolVersion.
func Decode(h FixedHeader, body []byte, v Version) (Packet, error) {
	return DecodeFrom(h, body, v, FromClient)
}

// DecodeFrom is Decode for packets sent by o.
func DecodeFrom(h FixedHeader, body []byte, v Version, o Origin) (Packet, error) {
	if err := h.check(v); err != nil {
		return nil, err
	}
	if len(body) != h.Remaining {
		return nil, malformed("header.remaining_length", "does not match the body")
	}
	switch h.Type {
	case CONNECT:
		p := new(Connect)
		if err := decodeConnect(body, p); err != nil {
			if e, ok := err.(*Error); ok && e.Code == UnsupportedProtocolVersion {
				return p, err
			}
			return nil, err
		}
		return p, nil
	case CONNACK:
		p := new(Connack)
		return ret(p, decodeConnack(body, v, p))
	case PUBLISH:
		p := new(Publish)
		return ret(p, decodePublish(h.Flags, body, v, o, p))
	case PUBACK:
		p := new(Puback)
		return ret(p, decodeAck(h.Type, body, v, &p.PacketID, &p.ReasonCode, &p.Properties))
	case PUBREC:
		p := new(Pubrec)
		return ret(p, decodeAck(h.Type, body, v, &p.PacketID, &p.ReasonCode, &p.Properties))
	case PUBREL:
		p := new(Pubrel)
		return ret(p, decodeAck(h.Type, body, v, &p.PacketID, &p.ReasonCode, &p.Properties))
	case PUBCOMP:
		p := new(Pubcomp)
		return ret(p, decodeAck(h.Type, body, v, &p.PacketID, &p.ReasonCode, &p.Properties))
	case SUBSCRIBE:
		p := new(Subscribe)
		return ret(p, decodeSubscribe(body, v, p))
	case SUBACK:
		p := new(Suback)
		return ret(p, decodeSuback(body, v, p))
	case UNSUBSCRIBE:
		p := new(Unsubscribe)
		return ret(p, decodeUnsubscribe(body, v, p))
	case UNSUBACK:
		p := new(Unsuback)
		return ret(p, decodeUnsuback(body, v, p))
	case PINGREQ:
		return &Pingreq{}, nil // body length checked in check
	case PINGRESP:
		return &Pingresp{}, nil
	case DISCONNECT:
		p := new(Disconnect)
		return ret(p, decodeDisconnect(body, v, o, p))
	case AUTH:
		p := new(Auth)
		return ret(p, decodeAuth(body, p))
	}
	return nil, malformed("header.type", "reserved packet type")
}

// checkTyped validates h for the typed decoders, which are entry points
// of their own.
func checkTyped(h FixedHeader, t Type, body []byte, v Version) error {
	if h.Type != t {
		return malformed("header.type", "unexpected packet type")
	}
	if err := h.check(v); err != nil {
		return err
	}
	if len(body) != h.Remaining {
		return malformed("header.remaining_length", "does not match the body")
	}
	return nil
}

// ret returns p, or nil with err: a failed decode never yields a half-filled
// packet.
func ret(p Packet, err error) (Packet, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// check validates a fixed header against version v (0: no CONNECT yet).
// These rules need no body, so Reader applies them before reading it.
func (h FixedHeader) check(v Version) error {
	if h.Remaining < 0 || h.Remaining > MaxRemainingLength {
		return malformed("header.remaining_length", "out of range")
	}
	switch {
	case h.Type == 0 || h.Type > AUTH:
		// Type 0 is reserved [MQTT-2.1.2].
		return malformed("header.type", "reserved packet type")
	case v == 0 && h.Type != CONNECT:
		// The first packet from a client MUST be CONNECT [MQTT-3.1.0-1].
		return protocolErr("header.type", "first packet is not CONNECT")
	case h.Type != CONNECT && v != V31 && v != V311 && v != V5:
		return protocolErr("header", "unknown protocol version")
	case h.Type == AUTH && v != V5:
		// AUTH is a reserved packet type before MQTT 5.
		return malformed("header.type", "AUTH before MQTT 5")
	}
	switch h.Type {
	case PUBLISH:
		qos := (h.Flags >> 1) & 3
		if qos == 3 {
			// A PUBLISH with both QoS bits set is malformed [MQTT-3.3.1-4].
			return malformed("publish.qos", "QoS 3")
		}
		if qos == 0 && h.Flags&8 != 0 {
			// DUP MUST be 0 for QoS 0 messages [MQTT-3.3.1-2].
			return malformed("publish.dup", "DUP set on QoS 0")
		}
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if h.Flags != 2 {
			// Reserved flags MUST be 0010 for these [MQTT-2.1.3-1].
			return malformed("header.flags", "reserved flags must be 0010")
		}
	default:
		if h.Flags != 0 {
			// Reserved flags MUST be 0000 elsewhere [MQTT-2.1.3-1].
			return malformed("header.flags", "reserved flags must be 0000")
		}
	}
	switch h.Type {
	case PINGREQ, PINGRESP:
		// PINGREQ and PINGRESP have no variable header or payload
		// (3.12, 3.13).
		if h.Remaining != 0 {
			return malformed("header.remaining_length", "must be 0")
		}
	case DISCONNECT:
		if v != V5 && h.Remaining != 0 {
			// A 3.1.1 DISCONNECT has no variable header (3.14).
			return malformed("header.remaining_length", "must be 0")
		}
	}
	return nil
}

// packetID reads a packet identifier that must not be 0 [MQTT-2.2.1-3]:
// SUBSCRIBE, UNSUBSCRIBE, PUBLISH with QoS > 0 and the acknowledgements,
// which echo it. The value parses, so 0 is a protocol error.
func packetID(c *cursor, field string) (uint16, error) {
	id, err := c.u16(field)
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, protocolErr(field, "packet identifier 0")
	}
	return id, nil
}

// decodeAck decodes PUBACK, PUBREC, PUBREL and PUBCOMP.
func decodeAck(t Type, body []byte, v Version, id *uint16, code *ReasonCode, props *Properties) error {
	name := kindNames[t]
	c := cursor{b: body}
	var err error
	if *id, err = packetID(&c, packetIDFields[t]); err != nil {
		return err
	}
	if v != V5 {
		// Before MQTT 5 the remaining length is exactly 2.
		return c.end(name)
	}
	// MQTT 5: remaining length 2 means Success without properties; 3 a
	// reason code only; more, a reason code and properties (3.4.2.1).
	if c.left() == 0 {
		return nil
	}
	b, _ := c.u8("")
	*code = ReasonCode(b)
	// The sender MUST use one of the packet's reason codes [MQTT-3.4.2-1]
	// [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1].
	if !ReasonAllowed(t, FromClient, *code) {
		return protocolErr(reasonFields[t], "reason code not allowed")
	}
	if c.left() == 0 {
		return nil
	}
	if err := decodeProps(&c, props, int(t)); err != nil {
		return err
	}
	return c.end(name)
}

func decodeDisconnect(body []byte, v Version, o Origin, p *Disconnect) error {
	if v != V5 || len(body) == 0 {
		// Remaining length 0: Normal disconnection, no properties
		// (3.14.2.1). Before MQTT 5, check already required it.
		return nil
	}
	c := cursor{b: body}
	b, _ := c.u8("")
	p.ReasonCode = ReasonCode(b)
	// The sender MUST use one of the DISCONNECT reason codes allowed to
	// it [MQTT-3.14.2-1].
	if !ReasonAllowed(DISCONNECT, o, p.ReasonCode) {
		return protocolErr("disconnect.reason_code", "reason code not allowed")
	}
	if c.left() == 0 {
		return nil
	}
	if err := decodeProps(&c, &p.Properties, int(DISCONNECT)); err != nil {
		return err
	}
	if o == FromServer && p.Properties.Has(PropSessionExpiryInterval) {
		// The Server MUST NOT send a Session Expiry Interval in a
		// DISCONNECT [MQTT-3.14.2-2].
		return protocolErr(propField(int(DISCONNECT), PropSessionExpiryInterval), "sent by the server")
	}
	return c.end("disconnect")
}

func decodeAuth(body []byte, p *Auth) error {
	if len(body) == 0 {
		// Remaining length 0: Success without properties (3.15.2).
		return nil
	}
	c := cursor{b: body}
	b, _ := c.u8("")
	p.ReasonCode = ReasonCode(b)
	// [MQTT-3.15.2-1]
	if !authReasons.has(p.ReasonCode) {
		return protocolErr("auth.reason_code", "reason code not allowed")
	}
	// Only the reason code and the property length together may be
	// omitted: a reason code alone is truncated.
	if err := decodeProps(&c, &p.Properties, int(AUTH)); err != nil {
		return err
	}
	if !p.Properties.Has(PropAuthenticationMethod) {
		// It is a Protocol Error to omit the Authentication Method
		// (3.15.2.2.2).
		return protocolErr(propField(int(AUTH), PropAuthenticationMethod), "missing")
	}
	return c.end("auth")
}
