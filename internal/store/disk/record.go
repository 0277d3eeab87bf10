package disk

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/binread"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
)

// The plaintext of a record, before sealing (seal.go), is a kind byte and
// the fields in a fixed order:
//
//	message: 'M' topic payload qos flags properties created expiry publisher setBy
//	session: 'S' identity version expiryAfter disconnected willDelay
//	         nsubs {flags filter optsFilter? qos retainHandling subID}...
//	         will? (a message without its kind byte)
//
// Integers are uvarints (signed: zigzag varints), strings a uvarint length
// and the bytes, byte slices a uvarint length+1 (0: nil), times a presence
// byte then seconds (varint) and nanoseconds (uvarint). Properties are the
// Present mask (uvarint), the value of each present scalar property in
// ascending identifier order, then the subscription identifiers and user
// properties, each a count and the values. The decoder checks every length
// against what remains before it allocates.
const (
	kindMessage byte = 'M'
	kindSession byte = 'S'
	kindInbound byte = 'I' // the whole plaintext of an inbound record
	kindState   byte = 'T' // a state record: this byte, then the value

	// identityExt starts the optional identity section of a session record
	// (format 2): groups, method, anonymous, topics grant.
	identityExt byte = 'X'
)

// errMalformed is the decoding failure of a record whose envelope was intact
// (or that was not sealed): a bug or a newer writer, never silent.
var errMalformed = errors.New("malformed record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// encodeMessage appends the plaintext of a message record.
func encodeMessage(b []byte, m *session.Message) []byte {
	return appendMessageFields(append(b, kindMessage), m)
}

func appendMessageFields(b []byte, m *session.Message) []byte {
	b = appendString(b, m.Topic)
	b = appendBytes(b, m.Payload)
	var flags byte
	if m.Retain {
		flags |= 1
	}
	b = append(b, m.QoS, flags)
	b = appendProperties(b, &m.Properties)
	b = appendTime(b, m.Created)
	b = appendTime(b, m.Expiry)
	b = appendString(b, m.Publisher)
	return appendString(b, m.SetBy)
}

// encodeSession appends the plaintext of a session record. The client id is
// the record's key and is not repeated.
func encodeSession(b []byte, s *store.Session) []byte {
	b = append(b, kindSession)
	b = appendString(b, s.Identity)
	b = append(b, byte(s.Version))
	b = binary.AppendVarint(b, int64(s.ExpiryAfter))
	b = appendTime(b, s.Disconnected)
	b = binary.AppendVarint(b, int64(s.WillDelay))
	b = binary.AppendUvarint(b, uint64(len(s.Subscriptions)))
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		var flags byte
		if sub.Opts.NoLocal {
			flags |= 1
		}
		if sub.Opts.RetainAsPublished {
			flags |= 2
		}
		if sub.Opts.Filter != sub.Filter {
			flags |= 4 // the options carry their own filter
		}
		b = append(b, flags)
		b = appendString(b, sub.Filter)
		if flags&4 != 0 {
			b = appendString(b, sub.Opts.Filter)
		}
		b = append(b, sub.Opts.QoS, sub.Opts.RetainHandling)
		b = binary.AppendUvarint(b, uint64(sub.SubID))
	}
	if s.Will == nil {
		b = append(b, 0)
	} else {
		b = appendMessageFields(append(b, 1), s.Will)
	}
	if len(s.Groups) == 0 && s.Method == "" && !s.Anonymous && s.Topics == nil {
		return b // the record of format 1
	}
	b = append(b, identityExt)
	b = appendStrings(b, s.Groups)
	b = appendString(b, s.Method)
	var flags byte
	if s.Anonymous {
		flags |= 1
	}
	if s.Topics != nil {
		flags |= 2
	}
	b = append(b, flags)
	if s.Topics != nil {
		b = appendStrings(b, s.Topics.Publish)
		b = appendStrings(b, s.Topics.Subscribe)
	}
	return b
}

func appendStrings(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// reader decodes a record's plaintext: binread's reader (the first
// failure sticks as errMalformed) with the record's own field kinds.
type reader struct{ binread.Reader }

func newReader(b []byte) *reader { return &reader{binread.New(b, errMalformed)} }

func (r *reader) string() string { return string(r.Raw(r.Uvarint())) }

func (r *reader) bytes() []byte {
	n := r.Uvarint()
	if n == 0 || r.Err() != nil {
		return nil
	}
	return append([]byte{}, r.Raw(n-1)...)
}

func (r *reader) time() time.Time {
	switch r.Byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := r.Varint()
		nsec := r.Max(999_999_999)
		if r.Err() != nil {
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec))
	}
	r.Fail()
	return time.Time{}
}

// decodeMessage decodes a message record's plaintext.
func decodeMessage(b []byte) (*session.Message, error) {
	r := newReader(b)
	if r.Byte() != kindMessage {
		return nil, errMalformed
	}
	m := r.messageFields()
	if err := r.End(); err != nil {
		return nil, err
	}
	return m, nil
}

func (r *reader) messageFields() *session.Message {
	m := &session.Message{Topic: r.string(), Payload: r.bytes(), QoS: r.Byte()}
	flags := r.Byte()
	if m.QoS > 2 || flags&^1 != 0 {
		r.Fail()
	}
	m.Retain = flags&1 != 0
	r.properties(&m.Properties)
	m.Created = r.time()
	m.Expiry = r.time()
	m.Publisher = r.string()
	m.SetBy = r.string()
	return m
}

// decodeSession decodes a session record's plaintext.
func decodeSession(clientID string, b []byte) (*store.Session, error) {
	r := newReader(b)
	if r.Byte() != kindSession {
		return nil, errMalformed
	}
	s := &store.Session{ClientID: clientID, Identity: r.string(), Version: packet.Version(r.Byte())}
	s.ExpiryAfter = time.Duration(r.Varint())
	s.Disconnected = r.time()
	s.WillDelay = time.Duration(r.Varint())
	if n := r.Count(); n > 0 {
		s.Subscriptions = make([]store.Subscription, n)
		for i := range s.Subscriptions {
			r.subscription(&s.Subscriptions[i])
		}
	}
	switch r.Byte() {
	case 0:
	case 1:
		s.Will = r.messageFields()
	default:
		r.Fail()
	}
	if r.Len() > 0 && r.Err() == nil {
		if r.Byte() != identityExt {
			r.Fail()
		}
		s.Groups = r.strings()
		s.Method = r.string()
		flags := r.Byte()
		if flags&^3 != 0 {
			r.Fail()
		}
		s.Anonymous = flags&1 != 0
		if flags&2 != 0 {
			s.Topics = &auth.TopicGrant{Publish: r.strings(), Subscribe: r.strings()}
		}
	}
	if err := r.End(); err != nil {
		return nil, err
	}
	return s, nil
}

// strings reads a list written by appendStrings; nil when empty.
func (r *reader) strings() []string {
	n := r.Count() // each entry takes at least a byte: bounded by the record
	if n == 0 || r.Err() != nil {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
		if r.Err() != nil {
			return nil
		}
	}
	return out
}

func (r *reader) subscription(sub *store.Subscription) {
	flags := r.Byte()
	if flags&^7 != 0 {
		r.Fail()
	}
	sub.Filter = r.string()
	sub.Opts.Filter = sub.Filter
	if flags&4 != 0 {
		sub.Opts.Filter = r.string()
	}
	sub.Opts.NoLocal = flags&1 != 0
	sub.Opts.RetainAsPublished = flags&2 != 0
	sub.Opts.QoS = r.Byte()
	sub.Opts.RetainHandling = r.Byte()
	sub.SubID = uint32(r.Max(math.MaxUint32))
}

// propKind is how a property's value is stored.
type propKind uint8

const (
	propNone   propKind = iota
	propNum             // uvarint, at most propMax[id]
	propString          // string
	propBinary          // byte slice
)

// propKinds gives the stored kind of every scalar property; Subscription
// Identifier and User Property are lists, stored after the scalars.
var propKinds = [64]propKind{
	packet.PropPayloadFormat:                   propNum,
	packet.PropMessageExpiryInterval:           propNum,
	packet.PropContentType:                     propString,
	packet.PropResponseTopic:                   propString,
	packet.PropCorrelationData:                 propBinary,
	packet.PropSessionExpiryInterval:           propNum,
	packet.PropAssignedClientIdentifier:        propString,
	packet.PropServerKeepAlive:                 propNum,
	packet.PropAuthenticationMethod:            propString,
	packet.PropAuthenticationData:              propBinary,
	packet.PropRequestProblemInformation:       propNum,
	packet.PropWillDelayInterval:               propNum,
	packet.PropRequestResponseInformation:      propNum,
	packet.PropResponseInformation:             propString,
	packet.PropServerReference:                 propString,
	packet.PropReasonString:                    propString,
	packet.PropReceiveMaximum:                  propNum,
	packet.PropTopicAliasMaximum:               propNum,
	packet.PropTopicAlias:                      propNum,
	packet.PropMaximumQoS:                      propNum,
	packet.PropRetainAvailable:                 propNum,
	packet.PropMaximumPacketSize:               propNum,
	packet.PropWildcardSubscriptionAvailable:   propNum,
	packet.PropSubscriptionIdentifierAvailable: propNum,
	packet.PropSharedSubscriptionAvailable:     propNum,
}

// presentMask is the set of Present bits a record keeps: the scalars of
// propKinds and the two list properties.
var presentMask = func() uint64 {
	m := uint64(1)<<packet.PropSubscriptionIdentifier | 1<<packet.PropUserProperty
	for id, k := range propKinds {
		if k != propNone {
			m |= 1 << id
		}
	}
	return m
}()

func appendProperties(b []byte, p *packet.Properties) []byte {
	present := p.Present & presentMask
	b = binary.AppendUvarint(b, present)
	for m := present; m != 0; m &= m - 1 {
		id := packet.PropID(bits.TrailingZeros64(m))
		switch propKinds[id] {
		case propNum:
			b = binary.AppendUvarint(b, uint64(propNumber(p, id)))
		case propString:
			b = appendString(b, *propStringField(p, id))
		case propBinary:
			b = appendBytes(b, *propBinaryField(p, id))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(p.SubscriptionIdentifiers)))
	for _, v := range p.SubscriptionIdentifiers {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(p.UserProperties)))
	for _, u := range p.UserProperties {
		b = appendString(appendString(b, u.Key), u.Value)
	}
	return b
}

func (r *reader) properties(p *packet.Properties) {
	p.Present = r.Uvarint()
	if p.Present&^presentMask != 0 {
		r.Fail()
		return
	}
	for m := p.Present; m != 0 && r.Err() == nil; m &= m - 1 {
		id := packet.PropID(bits.TrailingZeros64(m))
		switch propKinds[id] {
		case propNum:
			setPropNumber(p, id, uint32(r.Max(uint64(propMax(id)))))
		case propString:
			*propStringField(p, id) = r.string()
		case propBinary:
			*propBinaryField(p, id) = r.bytes()
		}
	}
	if n := r.Count(); n > 0 {
		p.SubscriptionIdentifiers = make([]uint32, n)
		for i := range p.SubscriptionIdentifiers {
			p.SubscriptionIdentifiers[i] = uint32(r.Max(math.MaxUint32))
		}
	}
	if n := r.Count(); n > 0 {
		p.UserProperties = make([]packet.UserProperty, n)
		for i := range p.UserProperties {
			p.UserProperties[i] = packet.UserProperty{Key: r.string(), Value: r.string()}
		}
	}
}

// numField returns the field of a numeric property: exactly one of the
// three pointers is set.
func numField(p *packet.Properties, id packet.PropID) (b *byte, u16 *uint16, u32 *uint32) {
	switch id {
	case packet.PropPayloadFormat:
		return &p.PayloadFormat, nil, nil
	case packet.PropMessageExpiryInterval:
		return nil, nil, &p.MessageExpiryInterval
	case packet.PropSessionExpiryInterval:
		return nil, nil, &p.SessionExpiryInterval
	case packet.PropServerKeepAlive:
		return nil, &p.ServerKeepAlive, nil
	case packet.PropRequestProblemInformation:
		return &p.RequestProblemInformation, nil, nil
	case packet.PropWillDelayInterval:
		return nil, nil, &p.WillDelayInterval
	case packet.PropRequestResponseInformation:
		return &p.RequestResponseInformation, nil, nil
	case packet.PropReceiveMaximum:
		return nil, &p.ReceiveMaximum, nil
	case packet.PropTopicAliasMaximum:
		return nil, &p.TopicAliasMaximum, nil
	case packet.PropTopicAlias:
		return nil, &p.TopicAlias, nil
	case packet.PropMaximumQoS:
		return &p.MaximumQoS, nil, nil
	case packet.PropRetainAvailable:
		return &p.RetainAvailable, nil, nil
	case packet.PropMaximumPacketSize:
		return nil, nil, &p.MaximumPacketSize
	case packet.PropWildcardSubscriptionAvailable:
		return &p.WildcardSubscriptionAvailable, nil, nil
	case packet.PropSubscriptionIdentifierAvailable:
		return &p.SubscriptionIdentifierAvailable, nil, nil
	case packet.PropSharedSubscriptionAvailable:
		return &p.SharedSubscriptionAvailable, nil, nil
	}
	panic("disk: not a numeric property") // propKinds and numField disagree
}

func propNumber(p *packet.Properties, id packet.PropID) uint32 {
	switch b, u16, u32 := numField(p, id); {
	case b != nil:
		return uint32(*b)
	case u16 != nil:
		return uint32(*u16)
	default:
		return *u32
	}
}

func setPropNumber(p *packet.Properties, id packet.PropID, v uint32) {
	switch b, u16, u32 := numField(p, id); {
	case b != nil:
		*b = byte(v)
	case u16 != nil:
		*u16 = uint16(v)
	default:
		*u32 = v
	}
}

// propMax is the largest value a numeric property's field holds.
func propMax(id packet.PropID) uint32 {
	var p packet.Properties
	switch b, u16, _ := numField(&p, id); {
	case b != nil:
		return math.MaxUint8
	case u16 != nil:
		return math.MaxUint16
	}
	return math.MaxUint32
}

func propStringField(p *packet.Properties, id packet.PropID) *string {
	switch id {
	case packet.PropContentType:
		return &p.ContentType
	case packet.PropResponseTopic:
		return &p.ResponseTopic
	case packet.PropAssignedClientIdentifier:
		return &p.AssignedClientIdentifier
	case packet.PropAuthenticationMethod:
		return &p.AuthenticationMethod
	case packet.PropResponseInformation:
		return &p.ResponseInformation
	case packet.PropServerReference:
		return &p.ServerReference
	case packet.PropReasonString:
		return &p.ReasonString
	}
	panic("disk: not a string property")
}

func propBinaryField(p *packet.Properties, id packet.PropID) *[]byte {
	if id == packet.PropCorrelationData {
		return &p.CorrelationData
	}
	return &p.AuthenticationData
}
