package packet

// DecodeSubscribe decodes a SUBSCRIBE into p, which it overwrites.
func DecodeSubscribe(h FixedHeader, body []byte, v Version, p *Subscribe) error {
	if err := checkTyped(h, SUBSCRIBE, body, v); err != nil {
		return err
	}
	return decodeSubscribe(body, v, p)
}

// countEntries counts the length-prefixed strings, each followed by extra
// bytes, that fill b exactly. It returns -1 when they do not.
func countEntries(b []byte, extra int) int {
	n := 0
	for len(b) > 0 {
		if len(b) < 2 {
			return -1
		}
		l := 2 + (int(b[0])<<8 | int(b[1])) + extra
		if l > len(b) {
			return -1
		}
		b = b[l:]
		n++
	}
	return n
}

func decodeSubscribe(body []byte, v Version, p *Subscribe) error {
	*p = Subscribe{}
	c := cursor{b: body}
	var err error
	if p.PacketID, err = packetID(&c, "subscribe.packet_id"); err != nil {
		return err
	}
	if v == V5 {
		if err := decodeProps(&c, &p.Properties, int(SUBSCRIBE)); err != nil {
			return err
		}
	}
	n := countEntries(c.b[c.pos:], 1)
	if n < 0 {
		return truncated("subscribe.subscriptions")
	}
	if n == 0 {
		// The payload MUST contain at least one topic filter
		// [MQTT-3.8.3-2].
		return protocolErr("subscribe.subscriptions", "no topic filter")
	}
	p.Subscriptions = make([]Subscription, n)
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		// Topic filters are UTF-8 strings [MQTT-3.8.3-1]; their syntax
		// is checked by the topic package (SUBACK 0x8F).
		if s.Filter, err = c.str("subscribe.filter"); err != nil {
			return err
		}
		opts, _ := c.u8("")
		if err := decodeSubOptions(opts, v, s); err != nil {
			return err
		}
	}
	return nil
}

func decodeSubOptions(opts byte, v Version, s *Subscription) error {
	s.QoS = opts & 3
	if v != V5 {
		if opts&0xFC != 0 || s.QoS == 3 {
			// Reserved bits 7-2 MUST be 0 and QoS 0, 1 or 2, else
			// malformed (3.1.1 [MQTT-3.8.3-4]).
			return malformed("subscribe.options", "reserved bits set or QoS 3")
		}
		return nil
	}
	if opts&0xC0 != 0 {
		// Bits 7-6 are reserved: malformed [MQTT-3.8.3-5].
		return malformed("subscribe.options", "reserved bits set")
	}
	s.NoLocal = opts&0x04 != 0
	s.RetainAsPublished = opts&0x08 != 0
	s.RetainHandling = (opts >> 4) & 3
	if s.QoS == 3 {
		// "It is a Protocol Error if the Maximum QoS field has the
		// value 3" (3.8.3.1).
		return protocolErr("subscribe.options", "QoS 3")
	}
	if s.RetainHandling == 3 {
		// "It is a Protocol Error to send a Retain Handling value of
		// 3" (3.8.3.1).
		return protocolErr("subscribe.options", "retain handling 3")
	}
	if s.NoLocal && isShared(s.Filter) {
		// No Local on a shared subscription is a protocol error
		// [MQTT-3.8.3-4].
		return protocolErr("subscribe.options", "no local on a shared subscription")
	}
	return nil
}

// DecodeUnsubscribe decodes an UNSUBSCRIBE into p, which it overwrites.
func DecodeUnsubscribe(h FixedHeader, body []byte, v Version, p *Unsubscribe) error {
	if err := checkTyped(h, UNSUBSCRIBE, body, v); err != nil {
		return err
	}
	return decodeUnsubscribe(body, v, p)
}

func decodeUnsubscribe(body []byte, v Version, p *Unsubscribe) error {
	*p = Unsubscribe{}
	c := cursor{b: body}
	var err error
	if p.PacketID, err = packetID(&c, "unsubscribe.packet_id"); err != nil {
		return err
	}
	if v == V5 {
		if err := decodeProps(&c, &p.Properties, int(UNSUBSCRIBE)); err != nil {
			return err
		}
	}
	n := countEntries(c.b[c.pos:], 0)
	if n < 0 {
		return truncated("unsubscribe.filters")
	}
	if n == 0 {
		// At least one topic filter [MQTT-3.10.3-2].
		return protocolErr("unsubscribe.filters", "no topic filter")
	}
	p.Filters = make([]string, n)
	for i := range p.Filters {
		// [MQTT-3.10.3-1]: UTF-8 strings.
		if p.Filters[i], err = c.str("unsubscribe.filter"); err != nil {
			return err
		}
	}
	return nil
}

// decodeCodes reads one reason code per remaining byte.
func decodeCodes(c *cursor, name string) ([]ReasonCode, error) {
	rest := c.rest()
	if len(rest) == 0 {
		// One reason code per topic filter, and there is at least one.
		return nil, protocolErr(name+".reason_codes", "no reason code")
	}
	codes := make([]ReasonCode, len(rest))
	for i, b := range rest {
		codes[i] = ReasonCode(b)
	}
	return codes, nil
}

func decodeSuback(body []byte, v Version, p *Suback) error {
	*p = Suback{}
	c := cursor{b: body}
	var err error
	if p.PacketID, err = packetID(&c, "suback.packet_id"); err != nil {
		return err
	}
	if v == V5 {
		if err := decodeProps(&c, &p.Properties, int(SUBACK)); err != nil {
			return err
		}
	}
	if p.ReasonCodes, err = decodeCodes(&c, "suback"); err != nil {
		return err
	}
	for i, r := range p.ReasonCodes {
		switch {
		case v == V5 && !subackReasons.has(r):
			// [MQTT-3.9.3-1]: one of the SUBACK reason codes.
			return protocolErr("suback.reason_codes", "reason code not allowed")
		case v != V5 && r == 0x80:
			p.ReasonCodes[i] = UnspecifiedError
		case v != V5 && r > GrantedQoS2:
			// Return codes other than 0x00-0x02 and 0x80 are
			// reserved (3.1.1 [MQTT-3.9.3-2]).
			return malformed("suback.return_codes", "reserved return code")
		}
	}
	return nil
}

func decodeUnsuback(body []byte, v Version, p *Unsuback) error {
	*p = Unsuback{}
	c := cursor{b: body}
	var err error
	if p.PacketID, err = packetID(&c, "unsuback.packet_id"); err != nil {
		return err
	}
	if v != V5 {
		// A 3.1.1 UNSUBACK has no payload (3.11).
		return c.end("unsuback")
	}
	if err := decodeProps(&c, &p.Properties, int(UNSUBACK)); err != nil {
		return err
	}
	if p.ReasonCodes, err = decodeCodes(&c, "unsuback"); err != nil {
		return err
	}
	for _, r := range p.ReasonCodes {
		if !unsubackReason.has(r) {
			// [MQTT-3.11.3-2]: one of the UNSUBACK reason codes.
			return protocolErr("unsuback.reason_codes", "reason code not allowed")
		}
	}
	return nil
}
