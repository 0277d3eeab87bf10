package packet

// CheckEncode reports what Append refuses: values that cannot be encoded
// (a string or binary field over 65535 bytes, a packet over MaxPacketSize,
// QoS or Retain Handling 3, an unknown version) and packets every receiver
// must reject (a property the packet type may not carry, a reason code the
// packet type does not define, packet identifier 0 where one is required, a
// PUBLISH topic with wildcards, DUP on QoS 0, no topic filter in a
// SUBSCRIBE). The typed AppendXxx functions expect packets it accepts.
func CheckEncode(p Packet, v Version) error {
	if c, ok := p.(*Connect); ok {
		v = connectVersion(c, v)
	}
	if v != V31 && v != V311 && v != V5 {
		return protocolErr("version", "unknown protocol version")
	}
	if err := checkPacket(p, v); err != nil {
		return err
	}
	if Size(p, v) > MaxPacketSize {
		return &Error{Code: PacketTooLarge, Field: kindNames[p.Type()], Msg: "packet too large to encode"}
	}
	return nil
}

func checkLen(field string, n int) error {
	if n > 0xFFFF {
		return malformed(field, "longer than 65535 bytes")
	}
	return nil
}

// checkStr checks a UTF-8 string field: length and the rules of
// [MQTT-1.5.4-1] [MQTT-1.5.4-2].
func checkStr(field, s string) error {
	if err := checkLen(field, len(s)); err != nil {
		return err
	}
	if !ValidUTF8String(s) {
		return malformed(field, "invalid UTF-8 string")
	}
	return nil
}

func checkID(field string, id uint16) error {
	if id == 0 { // [MQTT-2.2.1-3]
		return protocolErr(field, "packet identifier 0")
	}
	return nil
}

func checkV5(t Type, code ReasonCode, props *Properties, v Version) error {
	if v != V5 {
		return nil
	}
	if !reasonEncodable(t, code) {
		return protocolErr(reasonFields[t], "reason code not allowed")
	}
	return checkProps(props, int(t))
}

func checkPacket(p Packet, v Version) error {
	switch p := p.(type) {
	case *Connect:
		return checkConnect(p, v)
	case *Connack:
		if v != V5 {
			return nil
		}
		return checkV5(CONNACK, p.ReasonCode, &p.Properties, v)
	case *Publish:
		return checkPublish(p, v)
	case *Puback:
		return firstErr(checkID("puback.packet_id", p.PacketID), checkV5(PUBACK, p.ReasonCode, &p.Properties, v))
	case *Pubrec:
		return firstErr(checkID("pubrec.packet_id", p.PacketID), checkV5(PUBREC, p.ReasonCode, &p.Properties, v))
	case *Pubrel:
		return firstErr(checkID("pubrel.packet_id", p.PacketID), checkV5(PUBREL, p.ReasonCode, &p.Properties, v))
	case *Pubcomp:
		return firstErr(checkID("pubcomp.packet_id", p.PacketID), checkV5(PUBCOMP, p.ReasonCode, &p.Properties, v))
	case *Subscribe:
		return checkSubscribe(p, v)
	case *Suback:
		return checkSuback(p, v)
	case *Unsubscribe:
		return checkUnsubscribe(p, v)
	case *Unsuback:
		if err := checkID("unsuback.packet_id", p.PacketID); err != nil || v != V5 {
			return err
		}
		if len(p.ReasonCodes) == 0 {
			return protocolErr("unsuback.reason_codes", "no reason code")
		}
		for _, c := range p.ReasonCodes {
			if !unsubackReason.has(c) {
				return protocolErr("unsuback.reason_codes", "reason code not allowed")
			}
		}
		return checkProps(&p.Properties, int(UNSUBACK))
	case *Pingreq, *Pingresp:
		return nil
	case *Disconnect:
		return checkV5(DISCONNECT, p.ReasonCode, &p.Properties, v)
	case *Auth:
		if v != V5 {
			return malformed("auth", "AUTH before MQTT 5")
		}
		if err := checkV5(AUTH, p.ReasonCode, &p.Properties, v); err != nil {
			return err
		}
		if (p.ReasonCode != Success || propsLen(&p.Properties, int(AUTH)) > 0) &&
			!p.Properties.Has(PropAuthenticationMethod) {
			return protocolErr(propField(int(AUTH), PropAuthenticationMethod), "missing")
		}
		return nil
	case nil:
		return malformed("packet", "nil packet")
	}
	return malformed("packet", "unknown packet type")
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkConnect(p *Connect, v Version) error {
	if p.ProtocolName != "" && p.ProtocolName != protocolName(&Connect{}, v) {
		return protocolErr("connect.protocol_name", "does not match the version")
	}
	switch {
	case p.WillQoS > 2:
		return malformed("connect.will_qos", "QoS 3")
	case !p.WillFlag && (p.WillQoS != 0 || p.WillRetain):
		return malformed("connect.will_qos", "will QoS or retain without will flag")
	case v != V5 && p.PasswordFlag && !p.UsernameFlag:
		return malformed("connect.flags", "password flag without user name flag")
	}
	err := firstErr(
		checkStr("connect.client_id", p.ClientID),
		checkStr("connect.username", p.Username),
		checkLen("connect.password", len(p.Password)),
	)
	if err != nil {
		return err
	}
	if p.WillFlag {
		if p.WillTopic == "" || hasWildcard(p.WillTopic) {
			return &Error{Code: TopicNameInvalid, Field: "connect.will_topic", Msg: "invalid will topic"}
		}
		err := firstErr(
			checkStr("connect.will_topic", p.WillTopic),
			checkLen("connect.will_payload", len(p.WillPayload)),
		)
		if err != nil {
			return err
		}
		if v == V5 {
			if err := checkProps(&p.WillProperties, willKind); err != nil {
				return err
			}
		}
	}
	if v == V5 {
		return checkProps(&p.Properties, int(CONNECT))
	}
	return nil
}

func checkPublish(p *Publish, v Version) error {
	switch {
	case p.QoS > 2:
		return malformed("publish.qos", "QoS 3")
	case p.QoS == 0 && p.Dup:
		return malformed("publish.dup", "DUP set on QoS 0")
	case p.QoS > 0 && p.PacketID == 0:
		return protocolErr("publish.packet_id", "packet identifier 0")
	case hasWildcard(p.Topic):
		return &Error{Code: TopicNameInvalid, Field: "publish.topic", Msg: "wildcard in topic name"}
	case p.Topic == "" && (v != V5 || !p.Properties.Has(PropTopicAlias)):
		return protocolErr("publish.topic", "empty topic name")
	}
	if err := checkStr("publish.topic", p.Topic); err != nil || v != V5 {
		return err
	}
	if p.Properties.Has(PropTopicAlias) && p.Properties.TopicAlias == 0 {
		return &Error{Code: TopicAliasInvalid, Field: propField(int(PUBLISH), PropTopicAlias), Msg: "topic alias 0"}
	}
	return checkProps(&p.Properties, int(PUBLISH))
}

func checkSubscribe(p *Subscribe, v Version) error {
	if err := checkID("subscribe.packet_id", p.PacketID); err != nil {
		return err
	}
	if len(p.Subscriptions) == 0 {
		return protocolErr("subscribe.subscriptions", "no topic filter")
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if err := checkStr("subscribe.filter", s.Filter); err != nil {
			return err
		}
		if s.QoS > 2 || v == V5 && s.RetainHandling > 2 {
			return protocolErr("subscribe.options", "QoS or retain handling 3")
		}
		if v == V5 && s.NoLocal && isShared(s.Filter) {
			return protocolErr("subscribe.options", "no local on a shared subscription")
		}
	}
	if v == V5 {
		return checkProps(&p.Properties, int(SUBSCRIBE))
	}
	return nil
}

func checkSuback(p *Suback, v Version) error {
	if err := checkID("suback.packet_id", p.PacketID); err != nil {
		return err
	}
	if len(p.ReasonCodes) == 0 {
		return protocolErr("suback.reason_codes", "no reason code")
	}
	if v != V5 {
		return nil
	}
	for _, c := range p.ReasonCodes {
		if !subackReasons.has(c) {
			return protocolErr("suback.reason_codes", "reason code not allowed")
		}
	}
	return checkProps(&p.Properties, int(SUBACK))
}

func checkUnsubscribe(p *Unsubscribe, v Version) error {
	if err := checkID("unsubscribe.packet_id", p.PacketID); err != nil {
		return err
	}
	if len(p.Filters) == 0 {
		return protocolErr("unsubscribe.filters", "no topic filter")
	}
	for _, f := range p.Filters {
		if err := checkStr("unsubscribe.filter", f); err != nil {
			return err
		}
	}
	if v == V5 {
		return checkProps(&p.Properties, int(UNSUBSCRIBE))
	}
	return nil
}
