package packet

// The encoders come in two forms. Append checks a packet with CheckEncode
// and refuses what cannot or must not be sent. The typed AppendXxx
// functions are the hot path: they do not check and do not allocate beyond
// growing dst, and they expect a packet that CheckEncode accepts (every
// packet produced by Decode is one). They never emit a property the packet
// type may not carry, a DUP flag on QoS 0, or properties before MQTT 5.

func appendU16(dst []byte, v uint16) []byte { return append(dst, byte(v>>8), byte(v)) }

func appendString(dst []byte, s string) []byte {
	return append(appendU16(dst, uint16(len(s))), s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	return append(appendU16(dst, uint16(len(b))), b...)
}

func appendHeader(dst []byte, t Type, flags byte, body int) []byte {
	return AppendVarint(append(dst, byte(t)<<4|flags), uint32(body))
}

func withProps(plen int) int { return VarintSize(uint32(plen)) + plen }

// Append appends the encoding of p for version v (for a CONNECT, p.Version
// when set). It returns dst unchanged and an *Error when CheckEncode refuses
// p.
func Append(dst []byte, p Packet, v Version) ([]byte, error) {
	if err := CheckEncode(p, v); err != nil {
		return dst, err
	}
	switch p := p.(type) {
	case *Connect:
		return AppendConnect(dst, p, v), nil
	case *Connack:
		return AppendConnack(dst, p, v), nil
	case *Publish:
		return AppendPublish(dst, p, v), nil
	case *Puback:
		return AppendPuback(dst, p.PacketID, p.ReasonCode, &p.Properties, v), nil
	case *Pubrec:
		return AppendPubrec(dst, p.PacketID, p.ReasonCode, &p.Properties, v), nil
	case *Pubrel:
		return AppendPubrel(dst, p.PacketID, p.ReasonCode, &p.Properties, v), nil
	case *Pubcomp:
		return AppendPubcomp(dst, p.PacketID, p.ReasonCode, &p.Properties, v), nil
	case *Subscribe:
		return AppendSubscribe(dst, p, v), nil
	case *Suback:
		return AppendSuback(dst, p, v), nil
	case *Unsubscribe:
		return AppendUnsubscribe(dst, p, v), nil
	case *Unsuback:
		return AppendUnsuback(dst, p, v), nil
	case *Pingreq:
		return AppendPingreq(dst), nil
	case *Pingresp:
		return AppendPingresp(dst), nil
	case *Disconnect:
		return AppendDisconnect(dst, p.ReasonCode, &p.Properties, v), nil
	case *Auth:
		return AppendAuth(dst, p.ReasonCode, &p.Properties), nil
	}
	return dst, malformed("packet", "unknown packet type")
}

// Size reports the encoded size of p for version v, fixed header included,
// as the typed encoders produce it. The broker compares it with the
// client's Maximum Packet Size before sending [MQTT-3.1.2-24].
func Size(p Packet, v Version) int {
	switch p := p.(type) {
	case *Connect:
		b, _, _ := connectLen(p, v)
		return total(b)
	case *Connack:
		b, _ := connackLen(p, v)
		return total(b)
	case *Publish:
		return p.Size(v)
	case *Puback:
		return AckSize(PUBACK, p.ReasonCode, &p.Properties, v)
	case *Pubrec:
		return AckSize(PUBREC, p.ReasonCode, &p.Properties, v)
	case *Pubrel:
		return AckSize(PUBREL, p.ReasonCode, &p.Properties, v)
	case *Pubcomp:
		return AckSize(PUBCOMP, p.ReasonCode, &p.Properties, v)
	case *Subscribe:
		b, _ := subscribeLen(p, v)
		return total(b)
	case *Suback:
		b, _ := subackLen(p, v)
		return total(b)
	case *Unsubscribe:
		b, _ := unsubscribeLen(p, v)
		return total(b)
	case *Unsuback:
		b, _ := unsubackLen(p, v)
		return total(b)
	case *Pingreq, *Pingresp:
		return 2
	case *Disconnect:
		b, _ := codePropsLen(DISCONNECT, p.ReasonCode, &p.Properties, v)
		return total(b)
	case *Auth:
		b, _ := codePropsLen(AUTH, p.ReasonCode, &p.Properties, V5)
		return total(b)
	}
	return 0
}

func total(body int) int { return 1 + VarintSize(uint32(body)) + body }

// publishLen reports the body length and the property length.
func publishLen(p *Publish, v Version) (body, plen int) {
	body = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		body += 2
	}
	if v == V5 {
		plen = propsLen(&p.Properties, int(PUBLISH))
		body += withProps(plen)
	}
	return body, plen
}

// Size reports the encoded size of the PUBLISH for version v, fixed header
// included. A PUBLISH larger than the client's Maximum Packet Size is not
// sent at all; the broker behaves as if it had been [MQTT-3.1.2-25].
func (p *Publish) Size(v Version) int {
	body, _ := publishLen(p, v)
	return total(body)
}

// AppendPublish appends the PUBLISH p for version v. p must satisfy
// CheckEncode; p does not escape.
func AppendPublish(dst []byte, p *Publish, v Version) []byte {
	body, plen := publishLen(p, v)
	qos := p.QoS & 3
	flags := qos << 1
	if p.Dup && qos > 0 { // DUP MUST be 0 for QoS 0 [MQTT-3.3.1-2]
		flags |= 8
	}
	if p.Retain {
		flags |= 1
	}
	dst = appendHeader(dst, PUBLISH, flags, body)
	dst = appendString(dst, p.Topic)
	if qos > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == V5 {
		dst = appendProps(dst, &p.Properties, int(PUBLISH), plen)
	}
	return append(dst, p.Payload...)
}

// ackLen: before MQTT 5 the body is the packet identifier; in MQTT 5 the
// reason code and property length are left out for Success without
// properties, and the property length for a reason code without properties
// (3.4.2.1, 3.4.2.2.1).
func ackLen(t Type, code ReasonCode, props *Properties, v Version) (body, plen int) {
	if v != V5 {
		return 2, 0
	}
	plen = propsLen(props, int(t))
	switch {
	case plen > 0:
		return 3 + withProps(plen), plen
	case code != Success:
		return 3, 0
	}
	return 2, 0
}

// AckSize reports the encoded size of a PUBACK, PUBREC, PUBREL or PUBCOMP
// (t) with the given reason code and properties (props may be nil).
func AckSize(t Type, code ReasonCode, props *Properties, v Version) int {
	b, _ := ackLen(t, code, props, v)
	return total(b)
}

func appendAck(dst []byte, t Type, flags byte, id uint16, code ReasonCode, props *Properties, v Version) []byte {
	body, plen := ackLen(t, code, props, v)
	dst = appendU16(appendHeader(dst, t, flags, body), id)
	if body > 2 {
		dst = append(dst, byte(code))
	}
	if body > 3 {
		dst = appendProps(dst, props, int(t), plen)
	}
	return dst
}

// AppendPuback appends a PUBACK. props may be nil. Reason code and
// properties are encoded only for MQTT 5.
func AppendPuback(dst []byte, id uint16, code ReasonCode, props *Properties, v Version) []byte {
	return appendAck(dst, PUBACK, 0, id, code, props, v)
}

// AppendPubrec appends a PUBREC; see AppendPuback.
func AppendPubrec(dst []byte, id uint16, code ReasonCode, props *Properties, v Version) []byte {
	return appendAck(dst, PUBREC, 0, id, code, props, v)
}

// AppendPubrel appends a PUBREL (flags 0010); see AppendPuback.
func AppendPubrel(dst []byte, id uint16, code ReasonCode, props *Properties, v Version) []byte {
	return appendAck(dst, PUBREL, 2, id, code, props, v)
}

// AppendPubcomp appends a PUBCOMP; see AppendPuback.
func AppendPubcomp(dst []byte, id uint16, code ReasonCode, props *Properties, v Version) []byte {
	return appendAck(dst, PUBCOMP, 0, id, code, props, v)
}

// codePropsLen is the body of DISCONNECT and AUTH: empty for Success
// without properties (3.14.2.1, 3.15.2); DISCONNECT may also leave out the
// property length alone (3.14.2.2.1), AUTH may not.
func codePropsLen(t Type, code ReasonCode, props *Properties, v Version) (body, plen int) {
	if v != V5 {
		return 0, 0
	}
	plen = propsLen(props, int(t))
	switch {
	case plen > 0 || t == AUTH && code != Success:
		return 1 + withProps(plen), plen
	case code != Success:
		return 1, 0
	}
	return 0, 0
}

// AppendDisconnect appends a DISCONNECT. props may be nil. Before MQTT 5 a
// DISCONNECT has no body and the code and properties are dropped.
func AppendDisconnect(dst []byte, code ReasonCode, props *Properties, v Version) []byte {
	body, plen := codePropsLen(DISCONNECT, code, props, v)
	dst = appendHeader(dst, DISCONNECT, 0, body)
	if body > 0 {
		dst = append(dst, byte(code))
	}
	if body > 1 {
		dst = appendProps(dst, props, int(DISCONNECT), plen)
	}
	return dst
}

// AppendAuth appends an AUTH (MQTT 5 only). props may be nil; it must
// carry the Authentication Method unless code is Success and there are no
// properties.
func AppendAuth(dst []byte, code ReasonCode, props *Properties) []byte {
	body, plen := codePropsLen(AUTH, code, props, V5)
	dst = appendHeader(dst, AUTH, 0, body)
	if body > 0 {
		dst = appendProps(append(dst, byte(code)), props, int(AUTH), plen)
	}
	return dst
}

// AppendPingreq appends a PINGREQ.
func AppendPingreq(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// AppendPingresp appends a PINGRESP.
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }
