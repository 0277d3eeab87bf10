package packet

// DecodePublish decodes a PUBLISH sent by a client into p, which it
// overwrites. It is the allocation-free form of Decode for the hot path:
// Topic and Payload alias body (see Decode); only User Properties and
// Subscription Identifiers allocate.
func DecodePublish(h FixedHeader, body []byte, v Version, p *Publish) error {
	if err := checkTyped(h, PUBLISH, body, v); err != nil {
		return err
	}
	return decodePublish(h.Flags, body, v, FromClient, p)
}

// DecodePublishFrom is DecodePublish for a PUBLISH sent by o.
func DecodePublishFrom(h FixedHeader, body []byte, v Version, o Origin, p *Publish) error {
	if err := checkTyped(h, PUBLISH, body, v); err != nil {
		return err
	}
	return decodePublish(h.Flags, body, v, o, p)
}

func decodePublish(flags byte, body []byte, v Version, o Origin, p *Publish) error {
	*p = Publish{
		Dup:    flags&8 != 0,
		QoS:    (flags >> 1) & 3, // 3 refused by FixedHeader.check
		Retain: flags&1 != 0,
	}
	c := cursor{b: body}
	var err error
	if p.Topic, err = c.str("publish.topic"); err != nil {
		return err
	}
	if hasWildcard(p.Topic) {
		// The Topic Name MUST NOT contain wildcard characters
		// [MQTT-3.3.2-2].
		return &Error{Code: TopicNameInvalid, Field: "publish.topic", Msg: "wildcard in topic name"}
	}
	if p.QoS > 0 {
		// A non-zero packet identifier is present for QoS 1 and 2
		// [MQTT-2.2.1-3]; none for QoS 0 [MQTT-2.2.1-2].
		if p.PacketID, err = packetID(&c, "publish.packet_id"); err != nil {
			return err
		}
	}
	if v == V5 {
		if err := decodeProps(&c, &p.Properties, int(PUBLISH)); err != nil {
			return err
		}
		if err := checkPublishProps(p, o); err != nil {
			return err
		}
	}
	if p.Topic == "" {
		if v != V5 {
			// Topic Names MUST be at least one character long
			// [MQTT-4.7.3-1].
			return malformed("publish.topic", "empty topic name")
		}
		if !p.Properties.Has(PropTopicAlias) {
			// A zero length Topic Name needs a Topic Alias (3.3.2.1).
			return protocolErr("publish.topic", "empty topic name without topic alias")
		}
	}
	p.Payload = c.rest()
	return nil
}

func checkPublishProps(p *Publish, o Origin) error {
	pp := &p.Properties
	if pp.Present == 0 {
		return nil
	}
	if pp.Has(PropTopicAlias) && pp.TopicAlias == 0 {
		// A sender MUST NOT send a Topic Alias of 0 [MQTT-3.3.2-8].
		return &Error{Code: TopicAliasInvalid, Field: propField(int(PUBLISH), PropTopicAlias), Msg: "topic alias 0"}
	}
	if pp.Has(PropResponseTopic) && hasWildcard(pp.ResponseTopic) {
		// The Response Topic MUST NOT contain wildcards [MQTT-3.3.2-14].
		return protocolErr(propField(int(PUBLISH), PropResponseTopic), "wildcard in response topic")
	}
	if o == FromClient && pp.Has(PropSubscriptionIdentifier) {
		// A PUBLISH from a Client MUST NOT contain a Subscription
		// Identifier [MQTT-3.3.4-6].
		return protocolErr(propField(int(PUBLISH), PropSubscriptionIdentifier), "sent by a client")
	}
	return nil
}
