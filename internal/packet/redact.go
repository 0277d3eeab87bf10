package packet

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Secrets never leave the codec in logs: Connect.Password and every
// Properties.AuthenticationData print as "<redacted N bytes>". Connect,
// Connack, Publish, Auth and Properties implement fmt.Formatter (so every
// verb, %d and %#v included, goes through the redacting String),
// fmt.Stringer and slog.LogValuer; the packets that carry secrets (Connect,
// Connack, Auth) also implement json.Marshaler. Every other packet type
// implements slog.LogValuer so that slog's JSON handler never falls back to
// encoding/json. Publish and Properties keep their plain JSON encoding for
// stores; Publish logs its payload as a size only.

func redacted(b []byte) string { return "<redacted " + strconv.Itoa(len(b)) + " bytes>" }

func sized(b []byte) string { return "<" + strconv.Itoa(len(b)) + " bytes>" }

var propNames = [PropSharedSubscriptionAvailable + 1]string{
	PropPayloadFormat: "payload_format", PropMessageExpiryInterval: "message_expiry",
	PropContentType: "content_type", PropResponseTopic: "response_topic",
	PropCorrelationData: "correlation_data", PropSubscriptionIdentifier: "subscription_ids",
	PropSessionExpiryInterval: "session_expiry", PropAssignedClientIdentifier: "assigned_client_id",
	PropServerKeepAlive: "server_keep_alive", PropAuthenticationMethod: "auth_method",
	PropAuthenticationData: "auth_data", PropRequestProblemInformation: "request_problem_info",
	PropWillDelayInterval: "will_delay", PropRequestResponseInformation: "request_response_info",
	PropResponseInformation: "response_info", PropServerReference: "server_reference",
	PropReasonString: "reason_string", PropReceiveMaximum: "receive_maximum",
	PropTopicAliasMaximum: "topic_alias_maximum", PropTopicAlias: "topic_alias",
	PropMaximumQoS: "maximum_qos", PropRetainAvailable: "retain_available",
	PropUserProperty: "user_properties", PropMaximumPacketSize: "maximum_packet_size",
	PropWildcardSubscriptionAvailable:   "wildcard_sub_available",
	PropSubscriptionIdentifierAvailable: "sub_id_available",
	PropSharedSubscriptionAvailable:     "shared_sub_available",
}

// attrs lists the present properties, secrets redacted.
func (p *Properties) attrs() []slog.Attr {
	m := p.Present
	if len(p.UserProperties) > 0 {
		m |= 1 << PropUserProperty
	}
	if len(p.SubscriptionIdentifiers) > 0 {
		m |= 1 << PropSubscriptionIdentifier
	}
	var out []slog.Attr
	for id := PropID(1); int(id) < len(propTable); id++ {
		if m&(1<<id) == 0 || propTable[id].typ == ptNone {
			continue
		}
		name := propNames[id]
		switch id {
		case PropAuthenticationData:
			out = append(out, slog.String(name, redacted(p.AuthenticationData)))
		case PropCorrelationData:
			out = append(out, slog.String(name, sized(p.CorrelationData)))
		case PropSubscriptionIdentifier:
			out = append(out, slog.Any(name, p.SubscriptionIdentifiers))
		case PropUserProperty:
			kv := make([]string, len(p.UserProperties))
			for i, u := range p.UserProperties {
				kv[i] = u.Key + "=" + u.Value
			}
			out = append(out, slog.Any(name, kv))
		default:
			if propTable[id].typ == ptString {
				out = append(out, slog.String(name, propString(p, id)))
			} else {
				out = append(out, slog.Uint64(name, uint64(propNum(p, id))))
			}
		}
	}
	return out
}

// writeAttrs renders attributes as name=value, strings quoted.
func writeAttrs(sb *strings.Builder, attrs []slog.Attr) {
	for i, a := range attrs {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(a.Key)
		sb.WriteByte('=')
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindString:
			s := v.String()
			if strings.HasPrefix(s, "<") && strings.HasSuffix(s, " bytes>") {
				sb.WriteString(s)
			} else {
				sb.WriteString(strconv.Quote(s))
			}
		case slog.KindGroup:
			sb.WriteByte('{')
			writeAttrs(sb, v.Group())
			sb.WriteByte('}')
		default:
			fmt.Fprint(sb, v.Any())
		}
	}
}

// attrsJSON renders attributes as a JSON object, in order.
func attrsJSON(attrs []slog.Attr) ([]byte, error) {
	b := []byte{'{'}
	for i, a := range attrs {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(a.Key)
		b = append(append(b, k...), ':')
		v := a.Value.Resolve()
		var vb []byte
		var err error
		if v.Kind() == slog.KindGroup {
			vb, err = attrsJSON(v.Group())
		} else {
			vb, err = json.Marshal(v.Any())
		}
		if err != nil {
			return nil, err
		}
		b = append(b, vb...)
	}
	return append(b, '}'), nil
}

func render(name string, attrs []slog.Attr) string {
	var sb strings.Builder
	sb.WriteString(name)
	sb.WriteByte('{')
	writeAttrs(&sb, attrs)
	sb.WriteByte('}')
	return sb.String()
}

func format(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	io.WriteString(f, s) //nolint:errcheck // fmt.State reports errors itself
}

// String lists the present properties with AuthenticationData redacted.
func (p Properties) String() string { return render("", p.attrs()) }

// GoString is String: %#v must not print secrets either.
func (p Properties) GoString() string { return "packet.Properties" + p.String() }

// Format routes every verb through String.
func (p Properties) Format(f fmt.State, verb rune) { format(f, verb, p.String()) }

// LogValue implements slog.LogValuer with AuthenticationData redacted.
func (p Properties) LogValue() slog.Value { return slog.GroupValue(p.attrs()...) }

func propsAttr(p *Properties, key string) []slog.Attr {
	if a := p.attrs(); len(a) > 0 {
		return []slog.Attr{slog.Attr{Key: key, Value: slog.GroupValue(a...)}}
	}
	return nil
}

func (c *Connect) attrs() []slog.Attr {
	a := []slog.Attr{
		slog.String("protocol", c.ProtocolName),
		slog.String("version", c.Version.String()),
		slog.String("client_id", c.ClientID),
		slog.Bool("clean_start", c.CleanStart),
		slog.Uint64("keep_alive", uint64(c.KeepAlive)),
	}
	if c.UsernameFlag {
		a = append(a, slog.String("username", c.Username))
	}
	if c.PasswordFlag || len(c.Password) > 0 {
		a = append(a, slog.String("password", redacted(c.Password)))
	}
	a = append(a, propsAttr(&c.Properties, "properties")...)
	if c.WillFlag {
		w := []slog.Attr{
			slog.String("topic", c.WillTopic),
			slog.Uint64("qos", uint64(c.WillQoS)),
			slog.Bool("retain", c.WillRetain),
			slog.String("payload", sized(c.WillPayload)),
		}
		w = append(w, propsAttr(&c.WillProperties, "properties")...)
		a = append(a, slog.Attr{Key: "will", Value: slog.GroupValue(w...)})
	}
	return a
}

// String describes the CONNECT with the password and authentication data
// redacted and the will payload as its size.
func (c Connect) String() string { return render("CONNECT", c.attrs()) }

// GoString is String: %#v must not print secrets either.
func (c Connect) GoString() string { return "packet.Connect" + c.String()[len("CONNECT"):] }

// Format routes every verb through String.
func (c Connect) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// LogValue implements slog.LogValuer with the secrets redacted.
func (c Connect) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

// MarshalJSON renders what LogValue does, so encoding/json cannot reveal
// secrets either.
func (c Connect) MarshalJSON() ([]byte, error) { return attrsJSON(c.attrs()) }

func (c *Connack) attrs() []slog.Attr {
	a := []slog.Attr{
		slog.Bool("session_present", c.SessionPresent),
		slog.String("reason", c.ReasonCode.String()),
	}
	return append(a, propsAttr(&c.Properties, "properties")...)
}

// String describes the CONNACK with the authentication data redacted.
func (c Connack) String() string { return render("CONNACK", c.attrs()) }

// GoString is String.
func (c Connack) GoString() string { return "packet.Connack" + c.String()[len("CONNACK"):] }

// Format routes every verb through String.
func (c Connack) Format(f fmt.State, verb rune) { format(f, verb, c.String()) }

// LogValue implements slog.LogValuer with the authentication data redacted.
func (c Connack) LogValue() slog.Value { return slog.GroupValue(c.attrs()...) }

// MarshalJSON renders what LogValue does, so encoding/json cannot reveal
// secrets either.
func (c Connack) MarshalJSON() ([]byte, error) { return attrsJSON(c.attrs()) }

func (a *Auth) attrs() []slog.Attr {
	out := []slog.Attr{slog.String("reason", a.ReasonCode.String())}
	return append(out, propsAttr(&a.Properties, "properties")...)
}

// String describes the AUTH with the authentication data redacted.
func (a Auth) String() string { return render("AUTH", a.attrs()) }

// GoString is String.
func (a Auth) GoString() string { return "packet.Auth" + a.String()[len("AUTH"):] }

// Format routes every verb through String.
func (a Auth) Format(f fmt.State, verb rune) { format(f, verb, a.String()) }

// LogValue implements slog.LogValuer with the authentication data redacted.
func (a Auth) LogValue() slog.Value { return slog.GroupValue(a.attrs()...) }

// MarshalJSON renders what LogValue does, so encoding/json cannot reveal
// secrets either.
func (a Auth) MarshalJSON() ([]byte, error) { return attrsJSON(a.attrs()) }

func (p *Publish) attrs() []slog.Attr {
	a := []slog.Attr{
		slog.String("topic", p.Topic),
		slog.Uint64("qos", uint64(p.QoS)),
	}
	if p.QoS > 0 {
		a = append(a, slog.Uint64("packet_id", uint64(p.PacketID)))
	}
	a = append(a,
		slog.Bool("retain", p.Retain),
		slog.Bool("dup", p.Dup),
		slog.String("payload", sized(p.Payload)))
	return append(a, propsAttr(&p.Properties, "properties")...)
}

// String describes the PUBLISH; the payload appears as its size only.
func (p Publish) String() string { return render("PUBLISH", p.attrs()) }

// GoString is String.
func (p Publish) GoString() string { return "packet.Publish" + p.String()[len("PUBLISH"):] }

// Format routes every verb through String.
func (p Publish) Format(f fmt.State, verb rune) { format(f, verb, p.String()) }

// LogValue implements slog.LogValuer without the payload.
func (p Publish) LogValue() slog.Value { return slog.GroupValue(p.attrs()...) }

func idCodeProps(id uint16, code ReasonCode, p *Properties) slog.Value {
	a := []slog.Attr{slog.Uint64("packet_id", uint64(id)), slog.String("reason", code.String())}
	return slog.GroupValue(append(a, propsAttr(p, "properties")...)...)
}

// LogValue implements slog.LogValuer.
func (p Puback) LogValue() slog.Value { return idCodeProps(p.PacketID, p.ReasonCode, &p.Properties) }

// LogValue implements slog.LogValuer.
func (p Pubrec) LogValue() slog.Value { return idCodeProps(p.PacketID, p.ReasonCode, &p.Properties) }

// LogValue implements slog.LogValuer.
func (p Pubrel) LogValue() slog.Value { return idCodeProps(p.PacketID, p.ReasonCode, &p.Properties) }

// LogValue implements slog.LogValuer.
func (p Pubcomp) LogValue() slog.Value { return idCodeProps(p.PacketID, p.ReasonCode, &p.Properties) }

// LogValue implements slog.LogValuer.
func (p Subscribe) LogValue() slog.Value {
	f := make([]string, len(p.Subscriptions))
	for i, s := range p.Subscriptions {
		f[i] = s.Filter
	}
	a := []slog.Attr{slog.Uint64("packet_id", uint64(p.PacketID)), slog.Any("filters", f)}
	return slog.GroupValue(append(a, propsAttr(&p.Properties, "properties")...)...)
}

func codeNames(codes []ReasonCode) []string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = c.String()
	}
	return s
}

// LogValue implements slog.LogValuer.
func (p Suback) LogValue() slog.Value {
	a := []slog.Attr{slog.Uint64("packet_id", uint64(p.PacketID)), slog.Any("reasons", codeNames(p.ReasonCodes))}
	return slog.GroupValue(append(a, propsAttr(&p.Properties, "properties")...)...)
}

// LogValue implements slog.LogValuer.
func (p Unsubscribe) LogValue() slog.Value {
	a := []slog.Attr{slog.Uint64("packet_id", uint64(p.PacketID)), slog.Any("filters", p.Filters)}
	return slog.GroupValue(append(a, propsAttr(&p.Properties, "properties")...)...)
}

// LogValue implements slog.LogValuer.
func (p Unsuback) LogValue() slog.Value {
	a := []slog.Attr{slog.Uint64("packet_id", uint64(p.PacketID)), slog.Any("reasons", codeNames(p.ReasonCodes))}
	return slog.GroupValue(append(a, propsAttr(&p.Properties, "properties")...)...)
}

// LogValue implements slog.LogValuer.
func (p Disconnect) LogValue() slog.Value {
	a := []slog.Attr{slog.String("reason", p.ReasonCode.String())}
	return slog.GroupValue(append(a, propsAttr(&p.Properties, "properties")...)...)
}

// LogValue implements slog.LogValuer.
func (Pingreq) LogValue() slog.Value { return slog.StringValue("PINGREQ") }

// LogValue implements slog.LogValuer.
func (Pingresp) LogValue() slog.Value { return slog.StringValue("PINGRESP") }

// Every packet type logs through LogValue.
var (
	_ slog.LogValuer = (*Connect)(nil)
	_ slog.LogValuer = (*Connack)(nil)
	_ slog.LogValuer = (*Publish)(nil)
	_ slog.LogValuer = (*Puback)(nil)
	_ slog.LogValuer = (*Pubrec)(nil)
	_ slog.LogValuer = (*Pubrel)(nil)
	_ slog.LogValuer = (*Pubcomp)(nil)
	_ slog.LogValuer = (*Subscribe)(nil)
	_ slog.LogValuer = (*Suback)(nil)
	_ slog.LogValuer = (*Unsubscribe)(nil)
	_ slog.LogValuer = (*Unsuback)(nil)
	_ slog.LogValuer = (*Pingreq)(nil)
	_ slog.LogValuer = (*Pingresp)(nil)
	_ slog.LogValuer = (*Disconnect)(nil)
	_ slog.LogValuer = (*Auth)(nil)
	_ fmt.Formatter  = (*Connect)(nil)
	_ fmt.Formatter  = (*Auth)(nil)
	_ fmt.Formatter  = (*Properties)(nil)
	_ json.Marshaler = (*Connect)(nil)
	_ json.Marshaler = (*Connack)(nil)
	_ json.Marshaler = (*Auth)(nil)
)
