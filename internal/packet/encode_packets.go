package packet

// connectVersion is the version a CONNECT is encoded with.
func connectVersion(p *Connect, v Version) Version {
	if p.Version != 0 {
		return p.Version
	}
	return v
}

func protocolName(p *Connect, v Version) string {
	switch {
	case p.ProtocolName != "":
		return p.ProtocolName
	case v == V31:
		return protoMQIsdp
	}
	return protoMQTT
}

func connectLen(p *Connect, v Version) (body, plen, wplen int) {
	v = connectVersion(p, v)
	body = 2 + len(protocolName(p, v)) + 1 + 1 + 2 + 2 + len(p.ClientID)
	if v == V5 {
		plen = propsLen(&p.Properties, int(CONNECT))
		body += withProps(plen)
	}
	if p.WillFlag {
		if v == V5 {
			wplen = propsLen(&p.WillProperties, willKind)
			body += withProps(wplen)
		}
		body += 4 + len(p.WillTopic) + len(p.WillPayload)
	}
	if p.UsernameFlag {
		body += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		body += 2 + len(p.Password)
	}
	return body, plen, wplen
}

// AppendConnect appends a CONNECT for p.Version (v when p.Version is 0),
// with p.ProtocolName or the name the version uses. The flags fields
// (WillFlag, UsernameFlag, PasswordFlag) decide which payload fields are
// encoded.
func AppendConnect(dst []byte, p *Connect, v Version) []byte {
	v = connectVersion(p, v)
	body, plen, wplen := connectLen(p, v)
	dst = appendHeader(dst, CONNECT, 0, body)
	dst = appendString(dst, protocolName(p, v))
	var flags byte
	if p.CleanStart {
		flags |= 0x02
	}
	if p.WillFlag {
		flags |= 0x04 | (p.WillQoS&3)<<3
		if p.WillRetain {
			flags |= 0x20
		}
	}
	if p.PasswordFlag {
		flags |= 0x40
	}
	if p.UsernameFlag {
		flags |= 0x80
	}
	dst = append(dst, byte(v), flags)
	dst = appendU16(dst, p.KeepAlive)
	if v == V5 {
		dst = appendProps(dst, &p.Properties, int(CONNECT), plen)
	}
	dst = appendString(dst, p.ClientID)
	if p.WillFlag {
		if v == V5 {
			dst = appendProps(dst, &p.WillProperties, willKind, wplen)
		}
		dst = appendString(dst, p.WillTopic)
		dst = appendBinary(dst, p.WillPayload)
	}
	if p.UsernameFlag {
		dst = appendString(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBinary(dst, p.Password)
	}
	return dst
}

func connackLen(p *Connack, v Version) (body, plen int) {
	if v != V5 {
		return 2, 0
	}
	plen = propsLen(&p.Properties, int(CONNACK))
	return 2 + withProps(plen), plen
}

// AppendConnack appends a CONNACK. Before MQTT 5 the reason code becomes a
// connect return code (ReasonCode.V3ConnectReturn) and the properties are
// dropped; MQTT 3.1 has no session present flag. Session Present is sent
// only with Success [MQTT-3.2.2-6].
func AppendConnack(dst []byte, p *Connack, v Version) []byte {
	body, plen := connackLen(p, v)
	dst = appendHeader(dst, CONNACK, 0, body)
	var flags byte
	if p.SessionPresent && p.ReasonCode == Success && v != V31 {
		flags = 1
	}
	if v != V5 {
		return append(dst, flags, p.ReasonCode.V3ConnectReturn())
	}
	dst = append(dst, flags, byte(p.ReasonCode))
	return appendProps(dst, &p.Properties, int(CONNACK), plen)
}

func subscribeLen(p *Subscribe, v Version) (body, plen int) {
	body = 2
	if v == V5 {
		plen = propsLen(&p.Properties, int(SUBSCRIBE))
		body += withProps(plen)
	}
	for i := range p.Subscriptions {
		body += 3 + len(p.Subscriptions[i].Filter)
	}
	return body, plen
}

// AppendSubscribe appends a SUBSCRIBE. Before MQTT 5 only the QoS of each
// subscription is encoded.
func AppendSubscribe(dst []byte, p *Subscribe, v Version) []byte {
	body, plen := subscribeLen(p, v)
	dst = appendU16(appendHeader(dst, SUBSCRIBE, 2, body), p.PacketID)
	if v == V5 {
		dst = appendProps(dst, &p.Properties, int(SUBSCRIBE), plen)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		opts := s.QoS & 3
		if v == V5 {
			if s.NoLocal {
				opts |= 0x04
			}
			if s.RetainAsPublished {
				opts |= 0x08
			}
			opts |= (s.RetainHandling & 3) << 4
		}
		dst = append(appendString(dst, s.Filter), opts)
	}
	return dst
}

func subackLen(p *Suback, v Version) (body, plen int) {
	body = 2 + len(p.ReasonCodes)
	if v == V5 {
		plen = propsLen(&p.Properties, int(SUBACK))
		body += withProps(plen)
	}
	return body, plen
}

// AppendSuback appends a SUBACK. Before MQTT 5 granted QoS 0-2 are kept and
// every other code becomes the failure return code 0x80 [MQTT-3.9.3-2].
func AppendSuback(dst []byte, p *Suback, v Version) []byte {
	body, plen := subackLen(p, v)
	dst = appendU16(appendHeader(dst, SUBACK, 0, body), p.PacketID)
	if v == V5 {
		dst = appendProps(dst, &p.Properties, int(SUBACK), plen)
		for _, c := range p.ReasonCodes {
			dst = append(dst, byte(c))
		}
		return dst
	}
	for _, c := range p.ReasonCodes {
		if c > GrantedQoS2 {
			c = 0x80
		}
		dst = append(dst, byte(c))
	}
	return dst
}

func unsubscribeLen(p *Unsubscribe, v Version) (body, plen int) {
	body = 2
	if v == V5 {
		plen = propsLen(&p.Properties, int(UNSUBSCRIBE))
		body += withProps(plen)
	}
	for _, f := range p.Filters {
		body += 2 + len(f)
	}
	return body, plen
}

// AppendUnsubscribe appends an UNSUBSCRIBE.
func AppendUnsubscribe(dst []byte, p *Unsubscribe, v Version) []byte {
	body, plen := unsubscribeLen(p, v)
	dst = appendU16(appendHeader(dst, UNSUBSCRIBE, 2, body), p.PacketID)
	if v == V5 {
		dst = appendProps(dst, &p.Properties, int(UNSUBSCRIBE), plen)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

func unsubackLen(p *Unsuback, v Version) (body, plen int) {
	if v != V5 {
		return 2, 0
	}
	plen = propsLen(&p.Properties, int(UNSUBACK))
	return 2 + withProps(plen) + len(p.ReasonCodes), plen
}

// AppendUnsuback appends an UNSUBACK. Before MQTT 5 it has no payload and
// the reason codes and properties are dropped.
func AppendUnsuback(dst []byte, p *Unsuback, v Version) []byte {
	body, plen := unsubackLen(p, v)
	dst = appendU16(appendHeader(dst, UNSUBACK, 0, body), p.PacketID)
	if v != V5 {
		return dst
	}
	dst = appendProps(dst, &p.Properties, int(UNSUBACK), plen)
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}
