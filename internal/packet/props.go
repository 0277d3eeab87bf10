package packet

import (
	"fmt"
	"math/bits"
)

// Property legality is a table, not code [MQTT-2.2.2.2]: propTable, indexed
// by PropID, gives each property's data type, the packet types that may
// carry it (a bitmask of 1<<Type, with bit willKind for will properties),
// the packet types where it may repeat, and a value rule.

// willKind is the pseudo packet type of the will properties in CONNECT.
const willKind = 16

type propType uint8

const (
	ptNone   propType = iota
	ptByte            // one byte integer
	ptU16             // two byte integer
	ptU32             // four byte integer
	ptVarint          // variable byte integer
	ptString          // UTF-8 string
	ptBinary          // binary data
	ptPair            // UTF-8 string pair
)

type propRule uint8

const (
	ruleNone    propRule = iota
	ruleBool             // the value must be 0 or 1
	ruleNonZero          // the value must not be 0
)

type propInfo struct {
	typ    propType
	rule   propRule
	in     uint32 // packet kinds (1<<Type, 1<<willKind) that may carry it
	repeat uint32 // packet kinds where it may appear more than once
}

const (
	kConnect     = 1 << CONNECT
	kConnack     = 1 << CONNACK
	kPublish     = 1 << PUBLISH
	kPuback      = 1 << PUBACK
	kPubrec      = 1 << PUBREC
	kPubrel      = 1 << PUBREL
	kPubcomp     = 1 << PUBCOMP
	kSubscribe   = 1 << SUBSCRIBE
	kSuback      = 1 << SUBACK
	kUnsubscribe = 1 << UNSUBSCRIBE
	kUnsuback    = 1 << UNSUBACK
	kDisconnect  = 1 << DISCONNECT
	kAuth        = 1 << AUTH
	kWill        = 1 << willKind
	kAcks        = kPuback | kPubrec | kPubrel | kPubcomp
	kUser        = kConnect | kConnack | kPublish | kWill | kAcks | kSubscribe | kSuback |
		kUnsubscribe | kUnsuback | kDisconnect | kAuth
)

// propTable: MQTT 5 Table 2-4 with the per-property rules of chapter 3.
var propTable = [PropSharedSubscriptionAvailable + 1]propInfo{
	PropPayloadFormat:                   {ptByte, ruleBool, kPublish | kWill, 0},
	PropMessageExpiryInterval:           {ptU32, ruleNone, kPublish | kWill, 0},
	PropContentType:                     {ptString, ruleNone, kPublish | kWill, 0},
	PropResponseTopic:                   {ptString, ruleNone, kPublish | kWill, 0},
	PropCorrelationData:                 {ptBinary, ruleNone, kPublish | kWill, 0},
	PropSubscriptionIdentifier:          {ptVarint, ruleNonZero, kPublish | kSubscribe, kPublish},
	PropSessionExpiryInterval:           {ptU32, ruleNone, kConnect | kConnack | kDisconnect, 0},
	PropAssignedClientIdentifier:        {ptString, ruleNone, kConnack, 0},
	PropServerKeepAlive:                 {ptU16, ruleNone, kConnack, 0},
	PropAuthenticationMethod:            {ptString, ruleNone, kConnect | kConnack | kAuth, 0},
	PropAuthenticationData:              {ptBinary, ruleNone, kConnect | kConnack | kAuth, 0},
	PropRequestProblemInformation:       {ptByte, ruleBool, kConnect, 0},
	PropWillDelayInterval:               {ptU32, ruleNone, kWill, 0},
	PropRequestResponseInformation:      {ptByte, ruleBool, kConnect, 0},
	PropResponseInformation:             {ptString, ruleNone, kConnack, 0},
	PropServerReference:                 {ptString, ruleNone, kConnack | kDisconnect, 0},
	PropReasonString:                    {ptString, ruleNone, kConnack | kAcks | kSuback | kUnsuback | kDisconnect | kAuth, 0},
	PropReceiveMaximum:                  {ptU16, ruleNonZero, kConnect | kConnack, 0},
	PropTopicAliasMaximum:               {ptU16, ruleNone, kConnect | kConnack, 0},
	PropTopicAlias:                      {ptU16, ruleNone, kPublish, 0},
	PropMaximumQoS:                      {ptByte, ruleBool, kConnack, 0},
	PropRetainAvailable:                 {ptByte, ruleBool, kConnack, 0},
	PropUserProperty:                    {ptPair, ruleNone, kUser, kUser},
	PropMaximumPacketSize:               {ptU32, ruleNonZero, kConnect | kConnack, 0},
	PropWildcardSubscriptionAvailable:   {ptByte, ruleBool, kConnack, 0},
	PropSubscriptionIdentifierAvailable: {ptByte, ruleBool, kConnack, 0},
	PropSharedSubscriptionAvailable:     {ptByte, ruleBool, kConnack, 0},
}

// allowedIDs[kind] is the set of property ids (bit 1<<PropID) a packet kind
// may carry, derived from propTable.
var allowedIDs = func() (m [willKind + 1]uint64) {
	for id, info := range propTable {
		for k := range m {
			if info.in&(1<<k) != 0 {
				m[k] |= 1 << id
			}
		}
	}
	return m
}()

// PropAllowed reports whether an MQTT 5 packet of type t may carry property
// id. It is the table the decoder enforces.
func PropAllowed(t Type, id PropID) bool {
	return int(id) < len(propTable) && int(t) < willKind && propTable[id].in&(1<<t) != 0
}

// WillPropAllowed reports whether the will properties may carry id.
func WillPropAllowed(id PropID) bool {
	return int(id) < len(propTable) && propTable[id].in&kWill != 0
}

var kindNames = [willKind + 1]string{
	CONNECT: "connect", CONNACK: "connack", PUBLISH: "publish", PUBACK: "puback",
	PUBREC: "pubrec", PUBREL: "pubrel", PUBCOMP: "pubcomp", SUBSCRIBE: "subscribe",
	SUBACK: "suback", UNSUBSCRIBE: "unsubscribe", UNSUBACK: "unsuback",
	DISCONNECT: "disconnect", AUTH: "auth", willKind: "connect.will",
}

// Field names built once, so that the decoder never concatenates strings
// on the success path.
var (
	propsFields    = fieldNames(".properties")
	packetIDFields = fieldNames(".packet_id")
	reasonFields   = fieldNames(".reason_code")
)

func fieldNames(suffix string) (f [willKind + 1]string) {
	for k, name := range kindNames {
		if name != "" {
			f[k] = name + suffix
		}
	}
	return f
}

func propField(kind int, id PropID) string {
	return fmt.Sprintf("%s.properties.0x%02X", kindNames[kind], byte(id))
}

// decodeProps reads a property length and the properties that follow into
// p, for packet kind (a Type or willKind). p must be zero on entry.
func decodeProps(c *cursor, p *Properties, kind int) error {
	n, err := c.varint(propsFields[kind])
	if err != nil {
		return err
	}
	if int(n) > c.left() {
		// The property length exceeds the remaining data.
		return malformed(propsFields[kind], "length exceeds packet")
	}
	end := c.pos + int(n)
	pc := cursor{b: c.b[:end], pos: c.pos}
	c.pos = end
	for pc.pos < end {
		if err := decodeProp(&pc, p, kind); err != nil {
			return err
		}
	}
	// Authentication Data needs an Authentication Method (3.1.2.11.10,
	// 3.2.2.3.18, 3.15.2.2.3).
	if p.Has(PropAuthenticationData) && !p.Has(PropAuthenticationMethod) {
		return protocolErr(propField(kind, PropAuthenticationData), "authentication data without method")
	}
	return nil
}

func decodeProp(c *cursor, p *Properties, kind int) error {
	b, err := c.u8(propsFields[kind])
	if err != nil {
		return err
	}
	id := PropID(b)
	// An identifier not valid for the packet type is malformed; so is an
	// identifier of more than one byte (b >= 0x80), as none exist
	// [MQTT-2.2.2.2].
	if int(id) >= len(propTable) || propTable[id].in&(1<<kind) == 0 {
		return malformed(propField(kind, id), "property not allowed in this packet")
	}
	info := &propTable[id]
	// Each property may appear once, except those the table marks as
	// repeatable (User Property; Subscription Identifier in PUBLISH).
	if p.Present&(1<<id) != 0 && info.repeat&(1<<kind) == 0 {
		return protocolErr(propField(kind, id), "duplicate property")
	}
	p.Present |= 1 << id

	var num uint32
	var s string
	var bin []byte
	switch info.typ {
	case ptByte:
		var v byte
		v, err = c.u8("")
		num = uint32(v)
	case ptU16:
		var v uint16
		v, err = c.u16("")
		num = uint32(v)
	case ptU32:
		num, err = c.u32("")
	case ptVarint:
		num, err = c.varint("")
	case ptString:
		s, err = c.str("")
	case ptBinary:
		bin, err = c.binary("")
	case ptPair:
		var k, v string
		if k, err = c.str(""); err == nil {
			v, err = c.str("")
		}
		if err == nil {
			if p.UserProperties == nil {
				p.UserProperties = make([]UserProperty, 0, 4)
			}
			p.UserProperties = append(p.UserProperties, UserProperty{k, v})
		}
	}
	if err != nil {
		err.(*Error).Field = propField(kind, id)
		return err
	}
	switch {
	case info.rule == ruleBool && num > 1:
		return protocolErr(propField(kind, id), "value must be 0 or 1")
	case info.rule == ruleNonZero && num == 0:
		return protocolErr(propField(kind, id), "value must not be 0")
	}
	setProp(p, id, num, s, bin)
	return nil
}

func setProp(p *Properties, id PropID, num uint32, s string, bin []byte) {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = byte(num)
	case PropMessageExpiryInterval:
		p.MessageExpiryInterval = num
	case PropContentType:
		p.ContentType = s
	case PropResponseTopic:
		p.ResponseTopic = s
	case PropCorrelationData:
		p.CorrelationData = bin
	case PropSubscriptionIdentifier:
		p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, num)
	case PropSessionExpiryInterval:
		p.SessionExpiryInterval = num
	case PropAssignedClientIdentifier:
		p.AssignedClientIdentifier = s
	case PropServerKeepAlive:
		p.ServerKeepAlive = uint16(num)
	case PropAuthenticationMethod:
		p.AuthenticationMethod = s
	case PropAuthenticationData:
		p.AuthenticationData = bin
	case PropRequestProblemInformation:
		p.RequestProblemInformation = byte(num)
	case PropWillDelayInterval:
		p.WillDelayInterval = num
	case PropRequestResponseInformation:
		p.RequestResponseInformation = byte(num)
	case PropResponseInformation:
		p.ResponseInformation = s
	case PropServerReference:
		p.ServerReference = s
	case PropReasonString:
		p.ReasonString = s
	case PropReceiveMaximum:
		p.ReceiveMaximum = uint16(num)
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = uint16(num)
	case PropTopicAlias:
		p.TopicAlias = uint16(num)
	case PropMaximumQoS:
		p.MaximumQoS = byte(num)
	case PropRetainAvailable:
		p.RetainAvailable = byte(num)
	case PropMaximumPacketSize:
		p.MaximumPacketSize = num
	case PropWildcardSubscriptionAvailable:
		p.WildcardSubscriptionAvailable = byte(num)
	case PropSubscriptionIdentifierAvailable:
		p.SubscriptionIdentifierAvailable = byte(num)
	case PropSharedSubscriptionAvailable:
		p.SharedSubscriptionAvailable = byte(num)
	}
}

// encodedIDs is the set of properties that p encodes for a packet kind:
// the Present bits, except that User Properties and Subscription
// Identifiers follow their slices, masked by what the kind may carry.
func encodedIDs(p *Properties, kind int) uint64 {
	m := p.Present &^ (1<<PropUserProperty | 1<<PropSubscriptionIdentifier)
	if len(p.UserProperties) > 0 {
		m |= 1 << PropUserProperty
	}
	if len(p.SubscriptionIdentifiers) > 0 {
		m |= 1 << PropSubscriptionIdentifier
	}
	return m & allowedIDs[kind]
}

// propsLen is the encoded size of p's properties for kind, without the
// property length prefix. Properties a kind may not carry are not counted
// (and not encoded).
func propsLen(p *Properties, kind int) int {
	if p == nil {
		return 0
	}
	m := encodedIDs(p, kind)
	n := 0
	for m != 0 {
		id := PropID(bits.TrailingZeros64(m))
		m &= m - 1
		switch propTable[id].typ {
		case ptByte:
			n += 2
		case ptU16:
			n += 3
		case ptU32:
			n += 5
		case ptVarint:
			for _, v := range p.SubscriptionIdentifiers {
				n += 1 + VarintSize(v)
			}
		case ptString:
			n += 3 + len(propString(p, id))
		case ptBinary:
			n += 3 + len(propBinary(p, id))
		case ptPair:
			for _, u := range p.UserProperties {
				n += 5 + len(u.Key) + len(u.Value)
			}
		}
	}
	return n
}

// appendProps appends the property length n (from propsLen) and the
// properties, in ascending identifier order.
func appendProps(dst []byte, p *Properties, kind int, n int) []byte {
	dst = AppendVarint(dst, uint32(n))
	if n == 0 {
		return dst
	}
	m := encodedIDs(p, kind)
	for m != 0 {
		id := PropID(bits.TrailingZeros64(m))
		m &= m - 1
		switch propTable[id].typ {
		case ptByte:
			dst = append(dst, byte(id), byte(propNum(p, id)))
		case ptU16:
			v := propNum(p, id)
			dst = append(dst, byte(id), byte(v>>8), byte(v))
		case ptU32:
			v := propNum(p, id)
			dst = append(dst, byte(id), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
		case ptVarint:
			for _, v := range p.SubscriptionIdentifiers {
				dst = AppendVarint(append(dst, byte(id)), v)
			}
		case ptString:
			dst = appendString(append(dst, byte(id)), propString(p, id))
		case ptBinary:
			dst = appendBinary(append(dst, byte(id)), propBinary(p, id))
		case ptPair:
			for _, u := range p.UserProperties {
				dst = appendString(append(dst, byte(id)), u.Key)
				dst = appendString(dst, u.Value)
			}
		}
	}
	return dst
}

func propNum(p *Properties, id PropID) uint32 {
	switch id {
	case PropPayloadFormat:
		return uint32(p.PayloadFormat)
	case PropMessageExpiryInterval:
		return p.MessageExpiryInterval
	case PropSessionExpiryInterval:
		return p.SessionExpiryInterval
	case PropServerKeepAlive:
		return uint32(p.ServerKeepAlive)
	case PropRequestProblemInformation:
		return uint32(p.RequestProblemInformation)
	case PropWillDelayInterval:
		return p.WillDelayInterval
	case PropRequestResponseInformation:
		return uint32(p.RequestResponseInformation)
	case PropReceiveMaximum:
		return uint32(p.ReceiveMaximum)
	case PropTopicAliasMaximum:
		return uint32(p.TopicAliasMaximum)
	case PropTopicAlias:
		return uint32(p.TopicAlias)
	case PropMaximumQoS:
		return uint32(p.MaximumQoS)
	case PropRetainAvailable:
		return uint32(p.RetainAvailable)
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	case PropWildcardSubscriptionAvailable:
		return uint32(p.WildcardSubscriptionAvailable)
	case PropSubscriptionIdentifierAvailable:
		return uint32(p.SubscriptionIdentifierAvailable)
	case PropSharedSubscriptionAvailable:
		return uint32(p.SharedSubscriptionAvailable)
	}
	return 0
}

func propString(p *Properties, id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientIdentifier:
		return p.AssignedClientIdentifier
	case PropAuthenticationMethod:
		return p.AuthenticationMethod
	case PropResponseInformation:
		return p.ResponseInformation
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return ""
}

func propBinary(p *Properties, id PropID) []byte {
	if id == PropCorrelationData {
		return p.CorrelationData
	}
	return p.AuthenticationData
}

// checkProps reports what the checked Append refuses in properties: an
// identifier the packet kind may not carry, a value that cannot be encoded
// (string or binary over 65535 bytes, Subscription Identifier 0 or over
// MaxRemainingLength) or that breaks a value rule of the table.
func checkProps(p *Properties, kind int) error {
	all := p.Present
	if len(p.UserProperties) > 0 {
		all |= 1 << PropUserProperty
	}
	if len(p.SubscriptionIdentifiers) > 0 {
		all |= 1 << PropSubscriptionIdentifier
	}
	if bad := all &^ allowedIDs[kind]; bad != 0 {
		id := PropID(bits.TrailingZeros64(bad))
		return malformed(propField(kind, id), "property not allowed in this packet")
	}
	m := encodedIDs(p, kind)
	for m != 0 {
		id := PropID(bits.TrailingZeros64(m))
		m &= m - 1
		info := &propTable[id]
		switch info.typ {
		case ptByte, ptU16, ptU32:
			v := propNum(p, id)
			if info.rule == ruleBool && v > 1 || info.rule == ruleNonZero && v == 0 {
				return protocolErr(propField(kind, id), "invalid value")
			}
		case ptVarint:
			if len(p.SubscriptionIdentifiers) > 1 && info.repeat&(1<<kind) == 0 {
				return protocolErr(propField(kind, id), "duplicate property")
			}
			for _, v := range p.SubscriptionIdentifiers {
				if v == 0 || v > MaxRemainingLength {
					return protocolErr(propField(kind, id), "invalid subscription identifier")
				}
			}
		case ptString:
			if err := checkStr(propField(kind, id), propString(p, id)); err != nil {
				return err
			}
		case ptBinary:
			if len(propBinary(p, id)) > 0xFFFF {
				return malformed(propField(kind, id), "binary data longer than 65535 bytes")
			}
		case ptPair:
			for _, u := range p.UserProperties {
				if err := firstErr(checkStr(propField(kind, id), u.Key),
					checkStr(propField(kind, id), u.Value)); err != nil {
					return err
				}
			}
		}
	}
	if m := encodedIDs(p, kind); m&(1<<PropAuthenticationData) != 0 && m&(1<<PropAuthenticationMethod) == 0 {
		return protocolErr(propField(kind, PropAuthenticationData), "authentication data without method")
	}
	return nil
}

// Size reports the encoded size of the properties of an MQTT 5 packet of
// type t, property length prefix included. Properties t may not carry are
// not counted: the encoders leave them out.
func (p *Properties) Size(t Type) int {
	n := propsLen(p, int(t))
	return VarintSize(uint32(n)) + n
}

// DropDiagnostics removes the Reason String and the User Properties. A
// sender may leave them out of an acknowledgement, CONNACK, DISCONNECT or
// AUTH that would otherwise exceed the receiver's Maximum Packet Size
// [MQTT-3.1.2-25]; the broker calls it and encodes again when Size shows the
// packet would not fit. It must not be used on a PUBLISH, whose User
// Properties are part of the message [MQTT-3.3.2-18].
func (p *Properties) DropDiagnostics() {
	p.Clear(PropReasonString)
	p.Clear(PropUserProperty)
	p.ReasonString = ""
	p.UserProperties = nil
}
