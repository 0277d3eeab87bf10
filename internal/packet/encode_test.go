package packet

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func rs(s string) Properties {
	return propsWith(Properties{ReasonString: s}, PropReasonString)
}

// TestAckEncoding: 3.4.2.1 and 3.4.2.2.1: Reason Code and Property Length
// are left out for Success without properties; the property length alone
// for a reason code without properties. Nothing but the identifier before
// MQTT 5.
func TestAckEncoding(t *testing.T) {
	bad := rs("no")
	alias := propsWith(Properties{TopicAlias: 3}, PropTopicAlias) // not allowed in acks
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"v5 success", AppendPuback(nil, 1, Success, nil, V5), "40 02 0001"},
		{"v5 success empty props", AppendPuback(nil, 1, Success, &Properties{}, V5), "40 02 0001"},
		{"v5 code only", AppendPubrec(nil, 1, PacketIdentifierInUse, nil, V5), "50 03 0001 91"},
		{"v5 properties", AppendPubcomp(nil, 1, Success, &bad, V5), "70 09 0001 00 05 1F 0002 6E6F"},
		{"v5 pubrel", AppendPubrel(nil, 1, PacketIdentifierNotFound, nil, V5), "62 03 0001 92"},
		{"v5 disallowed property dropped", AppendPuback(nil, 1, Success, &alias, V5), "40 02 0001"},
		{"v311 drops code and properties", AppendPuback(nil, 1, NotAuthorized, &bad, V311), "40 02 0001"},
		{"v31 pubrel flags", AppendPubrel(nil, 9, Success, nil, V31), "62 02 0009"},
		{"v5 disconnect normal", AppendDisconnect(nil, Success, nil, V5), "E0 00"},
		{"v5 disconnect code", AppendDisconnect(nil, ServerShuttingDown, nil, V5), "E0 01 8B"},
		{"v5 disconnect props", AppendDisconnect(nil, Success, &bad, V5), "E0 07 00 05 1F 0002 6E6F"},
		{"v311 disconnect", AppendDisconnect(nil, ServerShuttingDown, &bad, V311), "E0 00"},
		{"auth success", AppendAuth(nil, Success, nil), "F0 00"},
		{"pingreq", AppendPingreq(nil), "C0 00"},
		{"pingresp", AppendPingresp(nil), "D0 00"},
	}
	for _, tc := range cases {
		if want := unhex(t, tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s: % X, want % X", tc.name, tc.got, want)
		}
	}
}

// TestV3Mappings: CONNACK return codes [MQTT-3.2.2.3], SUBACK failure 0x80,
// UNSUBACK without payload.
func TestV3Mappings(t *testing.T) {
	props := rs("x")
	for code, ret := range map[ReasonCode]byte{
		Success: 0, UnsupportedProtocolVersion: 1, ClientIdentifierNotValid: 2,
		ServerUnavailable: 3, ServerBusy: 3, BadUserNameOrPassword: 4, NotAuthorized: 5, Banned: 5,
	} {
		b := AppendConnack(nil, &Connack{SessionPresent: true, ReasonCode: code, Properties: props}, V311)
		sp := byte(0)
		if code == Success {
			sp = 1
		}
		if want := []byte{0x20, 2, sp, ret}; !bytes.Equal(b, want) {
			t.Errorf("CONNACK %v: % X, want % X", code, b, want)
		}
	}
	if b := AppendConnack(nil, &Connack{SessionPresent: true}, V31); !bytes.Equal(b, []byte{0x20, 2, 0, 0}) {
		t.Errorf("3.1 CONNACK % X", b)
	}
	if b := AppendConnack(nil, &Connack{SessionPresent: true, ReasonCode: Banned}, V5); !bytes.Equal(b, unhex(t, "20 03 00 8A 00")) {
		t.Errorf("v5 CONNACK failure keeps session present: % X", b)
	}
	b := AppendSuback(nil, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{GrantedQoS2, NotAuthorized, QuotaExceeded, GrantedQoS0}}, V311)
	if want := unhex(t, "90 06 0001 02 80 80 00"); !bytes.Equal(b, want) {
		t.Errorf("SUBACK % X, want % X", b, want)
	}
	b = AppendUnsuback(nil, &Unsuback{PacketID: 4, ReasonCodes: []ReasonCode{Success}, Properties: props}, V311)
	if want := unhex(t, "B0 02 0004"); !bytes.Equal(b, want) {
		t.Errorf("UNSUBACK % X, want % X", b, want)
	}
	b = AppendSubscribe(nil, &Subscribe{PacketID: 1, Subscriptions: []Subscription{
		{Filter: "a", QoS: 1, NoLocal: true, RetainHandling: 2}}}, V311)
	if want := unhex(t, "82 06 0001 0001 61 01"); !bytes.Equal(b, want) {
		t.Errorf("3.1.1 SUBSCRIBE keeps v5 options: % X", b)
	}
	// DUP is never sent on QoS 0 [MQTT-3.3.1-2].
	if b := AppendPublish(nil, &Publish{Dup: true, Topic: "t"}, V311); b[0] != 0x30 {
		t.Errorf("DUP on QoS 0: % X", b)
	}
}

// TestAppendErrors: what the checked encoder refuses.
func TestAppendErrors(t *testing.T) {
	long := strings.Repeat("a", 0x10000)
	up := Properties{UserProperties: []UserProperty{{long, "v"}}}
	cases := []struct {
		name string
		p    Packet
		v    Version
		code ReasonCode
	}{
		{"topic over 65535 bytes", &Publish{Topic: long}, V311, MalformedPacket},
		{"QoS 3", &Publish{Topic: "t", QoS: 3, PacketID: 1}, V311, MalformedPacket},
		{"DUP on QoS 0", &Publish{Topic: "t", Dup: true}, V311, MalformedPacket},
		{"packet identifier 0", &Publish{Topic: "t", QoS: 1}, V311, ProtocolError},
		{"wildcard topic", &Publish{Topic: "a/#"}, V5, TopicNameInvalid},
		{"empty topic 3.1.1", &Publish{}, V311, ProtocolError},
		{"empty topic without alias", &Publish{}, V5, ProtocolError},
		{"topic alias 0", &Publish{Topic: "t", Properties: propsWith(Properties{}, PropTopicAlias)}, V5, TopicAliasInvalid},
		{"invalid UTF-8 topic", &Publish{Topic: "a\x00"}, V311, MalformedPacket},
		{"user property over 65535 bytes", &Publish{Topic: "t", Properties: up}, V5, MalformedPacket},
		{"property not allowed", &Puback{PacketID: 1, Properties: propsWith(Properties{}, PropTopicAlias)}, V5, MalformedPacket},
		{"reason code not allowed", &Pubrel{PacketID: 1, ReasonCode: NotAuthorized}, V5, ProtocolError},
		{"disconnect reason not allowed", &Disconnect{ReasonCode: GrantedQoS1}, V5, ProtocolError},
		{"subscription identifier 0", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}},
			Properties: Properties{SubscriptionIdentifiers: []uint32{0}}}, V5, ProtocolError},
		{"two subscription identifiers in SUBSCRIBE", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a"}},
			Properties: Properties{SubscriptionIdentifiers: []uint32{1, 2}}}, V5, ProtocolError},
		{"no subscriptions", &Subscribe{PacketID: 1}, V311, ProtocolError},
		{"retain handling 3", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}, V5, ProtocolError},
		{"no unsubscribe filter", &Unsubscribe{PacketID: 1}, V5, ProtocolError},
		{"empty suback", &Suback{PacketID: 1}, V5, ProtocolError},
		{"AUTH before MQTT 5", &Auth{}, V311, MalformedPacket},
		{"AUTH without method", &Auth{ReasonCode: ContinueAuthentication}, V5, ProtocolError},
		{"auth data without method", &Connack{Properties: propsWith(Properties{}, PropAuthenticationData)}, V5, ProtocolError},
		{"receive maximum 0", &Connack{Properties: propsWith(Properties{}, PropReceiveMaximum)}, V5, ProtocolError},
		{"password without user name 3.1.1", &Connect{Version: V311, PasswordFlag: true}, 0, MalformedPacket},
		{"will QoS 3", &Connect{Version: V5, WillFlag: true, WillQoS: 3, WillTopic: "t"}, 0, MalformedPacket},
		{"will retain without will", &Connect{Version: V5, WillRetain: true}, 0, MalformedPacket},
		{"protocol name mismatch", &Connect{Version: V31, ProtocolName: "MQTT"}, 0, ProtocolError},
		{"unknown version", &Connect{Version: 6}, 0, ProtocolError},
		{"unknown version for PUBLISH", &Publish{Topic: "t"}, 7, ProtocolError},
		{"nil packet", nil, V5, MalformedPacket},
	}
	for _, tc := range cases {
		b, err := Append([]byte{1}, tc.p, tc.v)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.code)
		}
		if !bytes.Equal(b, []byte{1}) {
			t.Errorf("%s: dst changed on error", tc.name)
		}
	}
	big := &Publish{Topic: "t", Payload: make([]byte, MaxRemainingLength)}
	if err := CheckEncode(big, V311); err == nil || err.(*Error).Code != PacketTooLarge {
		t.Errorf("oversized PUBLISH: %v", err)
	}
}

// TestSizeAndDropDiagnostics: the broker fits an acknowledgement into the
// client's Maximum Packet Size by dropping Reason String and User
// Properties [MQTT-3.1.2-25].
func TestSizeAndDropDiagnostics(t *testing.T) {
	props := rs(strings.Repeat("r", 100))
	props.UserProperties = []UserProperty{{"k", "v"}}
	full := AckSize(PUBACK, NotAuthorized, &props, V5)
	if b := AppendPuback(nil, 1, NotAuthorized, &props, V5); len(b) != full {
		t.Fatalf("AckSize %d, encoded %d", full, len(b))
	}
	props.DropDiagnostics()
	if n := AckSize(PUBACK, NotAuthorized, &props, V5); n != 5 {
		t.Fatalf("after DropDiagnostics: %d bytes", n)
	}
	if props.Has(PropReasonString) || props.UserProperties != nil {
		t.Fatal("diagnostics still present")
	}
	p := &Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: []byte("xyz"),
		Properties: propsWith(Properties{MessageExpiryInterval: 5}, PropMessageExpiryInterval)}
	for _, v := range versions {
		if n, b := p.Size(v), AppendPublish(nil, p, v); n != len(b) {
			t.Errorf("v%d: Size %d, encoded %d", v, n, len(b))
		}
	}
	if n := props.Size(PUBACK); n != 1 {
		t.Errorf("empty Properties.Size = %d", n)
	}
	pp := p.Properties
	if n := pp.Size(PUBLISH); n != 6 {
		t.Errorf("Properties.Size = %d, want 6", n)
	}
}

// TestAppendPublishNoAlloc: the hot path allocates nothing with a reused
// buffer.
func TestAppendPublishNoAlloc(t *testing.T) {
	p := &Publish{QoS: 1, PacketID: 7, Topic: "sensors/a/temp", Payload: make([]byte, 64),
		Properties: Properties{Present: 1 << PropUserProperty, UserProperties: []UserProperty{{"k", "v"}}}}
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendPublish(buf[:0], p, V5)
		buf = AppendPuback(buf, 7, Success, nil, V5)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per run", allocs)
	}
}

// TestPropertyTable spot-checks the legality table against Table 2-4.
func TestPropertyTable(t *testing.T) {
	yes := []struct {
		t  Type
		id PropID
	}{
		{PUBLISH, PropPayloadFormat}, {PUBLISH, PropTopicAlias}, {PUBLISH, PropSubscriptionIdentifier},
		{SUBSCRIBE, PropSubscriptionIdentifier}, {CONNECT, PropSessionExpiryInterval},
		{DISCONNECT, PropSessionExpiryInterval}, {DISCONNECT, PropServerReference},
		{CONNACK, PropAssignedClientIdentifier}, {AUTH, PropAuthenticationData},
		{PUBREL, PropReasonString}, {UNSUBSCRIBE, PropUserProperty},
	}
	no := []struct {
		t  Type
		id PropID
	}{
		{PUBLISH, PropSessionExpiryInterval}, {CONNECT, PropWillDelayInterval},
		{CONNECT, PropMaximumQoS}, {UNSUBSCRIBE, PropReasonString}, {SUBSCRIBE, PropReasonString},
		{PINGREQ, PropUserProperty}, {AUTH, PropSessionExpiryInterval}, {PUBLISH, PropUserProperty + 10},
	}
	for _, c := range yes {
		if !PropAllowed(c.t, c.id) {
			t.Errorf("%v should allow 0x%02X", c.t, byte(c.id))
		}
	}
	for _, c := range no {
		if PropAllowed(c.t, c.id) {
			t.Errorf("%v should refuse 0x%02X", c.t, byte(c.id))
		}
	}
	for _, id := range []PropID{PropPayloadFormat, PropMessageExpiryInterval, PropContentType,
		PropResponseTopic, PropCorrelationData, PropWillDelayInterval, PropUserProperty} {
		if !WillPropAllowed(id) {
			t.Errorf("will properties should allow 0x%02X", byte(id))
		}
	}
	if WillPropAllowed(PropTopicAlias) || WillPropAllowed(PropSessionExpiryInterval) {
		t.Error("will properties allow a PUBLISH-only or CONNECT property")
	}
}

func TestReasonAllowed(t *testing.T) {
	if !ReasonAllowed(DISCONNECT, FromClient, DisconnectWithWill) || ReasonAllowed(DISCONNECT, FromServer, DisconnectWithWill) {
		t.Error("0x04 is for clients only")
	}
	if ReasonAllowed(DISCONNECT, FromClient, SessionTakenOver) || !ReasonAllowed(DISCONNECT, FromServer, SessionTakenOver) {
		t.Error("0x8E is for servers only")
	}
	for _, c := range []ReasonCode{Success, ContinueAuthentication, ReAuthenticate} {
		if !ReasonAllowed(AUTH, FromClient, c) {
			t.Errorf("AUTH %v", c)
		}
	}
	if ReasonAllowed(PUBLISH, FromClient, Success) {
		t.Error("PUBLISH has no reason code")
	}
}
