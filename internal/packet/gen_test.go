package packet

import (
	"math/bits"
	"math/rand/v2"
)

// gen builds random, valid packets for round-trip tests.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))} }

func (g *gen) bool() bool        { return g.r.IntN(2) == 0 }
func (g *gen) n(n int) int       { return g.r.IntN(n) }
func (g *gen) u16() uint16       { return uint16(g.r.Uint32()) }
func (g *gen) id() uint16        { return uint16(1 + g.r.IntN(0xFFFF)) }
func (g *gen) chance(p int) bool { return g.r.IntN(100) < p }

var genRunes = []rune("abcxyz/._-0123456789 é中😀$")

func (g *gen) str(max int) string {
	n := g.n(max + 1)
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = genRunes[g.n(len(genRunes))]
	}
	return string(rs)
}

// topic returns a non-empty topic name without wildcards.
func (g *gen) topic() string {
	for {
		if s := g.str(12); s != "" {
			return s
		}
	}
}

func (g *gen) filter() string {
	switch g.n(5) {
	case 0:
		return "a/+/c"
	case 1:
		return "#"
	case 2:
		return "$share/g/" + g.topic()
	}
	return g.topic()
}

// bin returns random bytes, nil when empty (as the decoder returns them).
func (g *gen) bin(max int) []byte {
	n := g.n(max + 1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *gen) pick(s reasonSet) ReasonCode {
	var all []ReasonCode
	for c := 0; c < 256; c++ {
		if s.has(ReasonCode(c)) {
			all = append(all, ReasonCode(c))
		}
	}
	return all[g.n(len(all))]
}

// props fills random valid properties for kind, as sent by o: only a
// server's PUBLISH carries (possibly several) Subscription Identifiers.
func (g *gen) props(kind int, o Origin) Properties {
	var p Properties
	m := allowedIDs[kind]
	for m != 0 {
		id := PropID(bits.TrailingZeros64(m))
		m &= m - 1
		if !g.chance(25) {
			continue
		}
		switch id {
		case PropSubscriptionIdentifier:
			if kind == int(PUBLISH) && o == FromClient {
				continue
			}
			n := 1
			if kind == int(PUBLISH) {
				n += g.n(3)
			}
			for range n {
				p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, uint32(1+g.r.IntN(MaxRemainingLength)))
			}
		case PropUserProperty:
			for range 1 + g.n(3) {
				p.UserProperties = append(p.UserProperties, UserProperty{g.str(5), g.str(5)})
			}
		case PropAuthenticationData:
			p.AuthenticationData = g.bin(8)
			p.Set(PropAuthenticationMethod)
			p.AuthenticationMethod = g.str(6)
		case PropCorrelationData:
			p.CorrelationData = g.bin(8)
		case PropSessionExpiryInterval:
			if kind == int(DISCONNECT) && o == FromServer {
				continue
			}
			p.SessionExpiryInterval = g.r.Uint32()
		case PropResponseTopic:
			p.ResponseTopic = g.topic()
		case PropTopicAlias:
			p.TopicAlias = g.id()
		default:
			info := propTable[id]
			var v uint32
			switch info.typ {
			case ptByte:
				v = uint32(g.n(256))
			case ptU16:
				v = uint32(g.u16())
			case ptU32:
				v = g.r.Uint32()
			}
			switch info.rule {
			case ruleBool:
				v &= 1
			case ruleNonZero:
				if v == 0 {
					v = 1
				}
			}
			if info.typ == ptString {
				setProp(&p, id, 0, g.str(8), nil)
			} else {
				setProp(&p, id, v, "", nil)
			}
		}
		p.Set(id)
	}
	return p
}

var versions = []Version{V31, V311, V5}

// packet returns a random packet valid for v, and its origin.
func (g *gen) packet(v Version) (Packet, Origin) {
	o := FromClient
	if g.bool() {
		o = FromServer
	}
	var props = func(t int) Properties {
		if v != V5 {
			return Properties{}
		}
		return g.props(t, o)
	}
	switch t := Type(1 + g.n(15)); t {
	case CONNECT:
		return g.connect(v), FromClient
	case CONNACK:
		p := &Connack{ReasonCode: Success}
		if v == V5 {
			if g.bool() {
				p.ReasonCode = g.pick(connackReasons)
			}
			p.Properties = props(int(CONNACK))
		} else if g.bool() {
			p.ReasonCode = v3ReturnCodes[g.n(len(v3ReturnCodes))]
		}
		p.SessionPresent = p.ReasonCode == Success && v != V31 && g.bool()
		return p, o
	case PUBLISH:
		p := &Publish{QoS: byte(g.n(3)), Retain: g.bool(), Topic: g.topic(), Payload: g.bin(40)}
		if p.QoS > 0 {
			p.PacketID = g.id()
			p.Dup = g.bool()
		}
		p.Properties = props(int(PUBLISH))
		if v == V5 && p.Properties.Has(PropTopicAlias) && g.bool() {
			p.Topic = ""
		}
		return p, o
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		id, code := g.id(), Success
		var pp Properties
		if v == V5 {
			pp = props(int(t))
			if g.bool() {
				if t == PUBACK || t == PUBREC {
					code = g.pick(pubackReasons)
				} else {
					code = g.pick(pubrelReasons)
				}
			}
		}
		switch t {
		case PUBACK:
			return &Puback{id, code, pp}, o
		case PUBREC:
			return &Pubrec{id, code, pp}, o
		case PUBREL:
			return &Pubrel{id, code, pp}, o
		}
		return &Pubcomp{id, code, pp}, o
	case SUBSCRIBE:
		p := &Subscribe{PacketID: g.id(), Properties: props(int(SUBSCRIBE))}
		for range 1 + g.n(4) {
			s := Subscription{Filter: g.filter(), QoS: byte(g.n(3))}
			if v == V5 {
				s.NoLocal = !isShared(s.Filter) && g.bool()
				s.RetainAsPublished = g.bool()
				s.RetainHandling = byte(g.n(3))
			}
			p.Subscriptions = append(p.Subscriptions, s)
		}
		return p, o
	case SUBACK:
		p := &Suback{PacketID: g.id(), Properties: props(int(SUBACK))}
		for range 1 + g.n(4) {
			if v == V5 {
				p.ReasonCodes = append(p.ReasonCodes, g.pick(subackReasons))
			} else {
				p.ReasonCodes = append(p.ReasonCodes, []ReasonCode{0, 1, 2, 0x80}[g.n(4)])
			}
		}
		return p, o
	case UNSUBSCRIBE:
		p := &Unsubscribe{PacketID: g.id(), Properties: props(int(UNSUBSCRIBE))}
		for range 1 + g.n(4) {
			p.Filters = append(p.Filters, g.filter())
		}
		return p, o
	case UNSUBACK:
		p := &Unsuback{PacketID: g.id()}
		if v == V5 {
			p.Properties = props(int(UNSUBACK))
			for range 1 + g.n(4) {
				p.ReasonCodes = append(p.ReasonCodes, g.pick(unsubackReason))
			}
		}
		return p, o
	case PINGREQ:
		return &Pingreq{}, o
	case PINGRESP:
		return &Pingresp{}, o
	case DISCONNECT, AUTH:
		if v != V5 {
			return &Disconnect{}, o
		}
		if t == AUTH {
			p := &Auth{}
			if g.bool() {
				p.ReasonCode = g.pick(authReasons)
				p.Properties = props(int(AUTH))
				p.Properties.Set(PropAuthenticationMethod)
				p.Properties.AuthenticationMethod = g.str(8)
			}
			return p, o
		}
		p := &Disconnect{Properties: props(int(DISCONNECT))}
		if g.bool() {
			if o == FromServer {
				p.ReasonCode = g.pick(disconnectServer)
			} else {
				p.ReasonCode = g.pick(disconnectClient)
			}
		}
		return p, o
	}
	panic("unreachable")
}

func (g *gen) connect(v Version) *Connect {
	p := &Connect{
		ProtocolName: protoMQTT,
		Version:      v,
		CleanStart:   g.bool(),
		KeepAlive:    g.u16(),
		ClientID:     g.str(10),
	}
	if v == V31 {
		p.ProtocolName = protoMQIsdp
	}
	if v == V5 {
		p.Properties = g.props(int(CONNECT), FromClient)
	}
	if g.bool() {
		p.WillFlag = true
		p.WillQoS = byte(g.n(3))
		p.WillRetain = g.bool()
		p.WillTopic = g.topic()
		p.WillPayload = g.bin(20)
		if v == V5 {
			p.WillProperties = g.props(willKind, FromClient)
		}
	}
	if g.bool() {
		p.UsernameFlag = true
		p.Username = g.str(8)
	}
	if g.bool() && (p.UsernameFlag || v == V5) {
		p.PasswordFlag = true
		p.Password = g.bin(12)
	}
	return p
}
