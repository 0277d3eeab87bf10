package packet

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type goldenVector struct {
	name string
	v    Version
	b    []byte
}

func loadGolden(t testing.TB) []goldenVector {
	f, err := os.Open("testdata/golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenVector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			t.Fatalf("bad golden line %q", line)
		}
		lvl, err := strconv.Atoi(strings.TrimSpace(parts[1]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(parts[2], " ", ""))
		if err != nil {
			t.Fatalf("%s: %v", parts[0], err)
		}
		out = append(out, goldenVector{strings.TrimSpace(parts[0]), Version(lvl), b})
	}
	return out
}

func propsWith(p Properties, ids ...PropID) Properties {
	for _, id := range ids {
		p.Set(id)
	}
	return p
}

// goldenPackets are the packets the vectors of testdata/golden.txt encode.
var goldenPackets = map[string]Packet{
	"3.1-connect-v311-minimal": &Connect{ProtocolName: "MQTT", Version: V311, CleanStart: true,
		KeepAlive: 60, ClientID: "clid"},
	"3.1-connect-v31-credentials": &Connect{ProtocolName: "MQIsdp", Version: V31, CleanStart: true,
		KeepAlive: 10, ClientID: "c", UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("pw")},
	"3.1-connect-v5-will-properties": &Connect{ProtocolName: "MQTT", Version: V5, CleanStart: true, KeepAlive: 30,
		Properties: propsWith(Properties{SessionExpiryInterval: 3600, ReceiveMaximum: 20},
			PropSessionExpiryInterval, PropReceiveMaximum),
		ClientID: "id", WillFlag: true, WillQoS: 1, WillRetain: true,
		WillProperties: propsWith(Properties{WillDelayInterval: 10}, PropWillDelayInterval),
		WillTopic:      "w/t", WillPayload: []byte("bye"),
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte{1, 2}},
	"3.1-connect-v5-password-only": &Connect{ProtocolName: "MQTT", Version: V5,
		PasswordFlag: true, Password: []byte("s1")},
	"3.2-connack-v311-session":        &Connack{SessionPresent: true},
	"3.2-connack-v311-not-authorized": &Connack{ReasonCode: NotAuthorized},
	"3.2-connack-v31-accepted":        &Connack{},
	"3.2-connack-v5-empty":            &Connack{},
	"3.2-connack-v5-properties": &Connack{Properties: propsWith(Properties{MaximumQoS: 1},
		PropMaximumQoS, PropRetainAvailable)},
	"3.2-connack-v5-bad-auth":          &Connack{ReasonCode: BadAuthenticationMethod},
	"3.3-publish-v311-qos0":            &Publish{Topic: "a/b", Payload: []byte("hello")},
	"3.3-publish-v311-qos1-dup-retain": &Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 7, Payload: []byte("x")},
	"3.3-publish-v31-qos2":             &Publish{QoS: 2, Topic: "t", PacketID: 9},
	"3.3-publish-v5-qos2-properties": &Publish{QoS: 2, Topic: "t", PacketID: 0x0102,
		Properties: propsWith(Properties{PayloadFormat: 1, TopicAlias: 5,
			UserProperties: []UserProperty{{"k", "v"}}}, PropPayloadFormat, PropTopicAlias, PropUserProperty),
		Payload: []byte("p")},
	"3.3-publish-v5-qos0": &Publish{Topic: "t", Payload: []byte("p")},
	"3.3-publish-v5-alias-only": &Publish{Properties: propsWith(Properties{TopicAlias: 1}, PropTopicAlias),
		Payload: []byte("z")},
	"3.4-puback-v311":             &Puback{PacketID: 1},
	"3.4-puback-v5-success-short": &Puback{PacketID: 1},
	"3.4-puback-v5-code-only":     &Puback{PacketID: 1, ReasonCode: NoMatchingSubscribers},
	"3.4-puback-v5-reason-string": &Puback{PacketID: 1, ReasonCode: NotAuthorized,
		Properties: propsWith(Properties{ReasonString: "bad"}, PropReasonString)},
	"3.5-pubrec-v311":         &Pubrec{PacketID: 2},
	"3.5-pubrec-v5-in-use":    &Pubrec{PacketID: 2, ReasonCode: PacketIdentifierInUse},
	"3.6-pubrel-v311":         &Pubrel{PacketID: 1},
	"3.6-pubrel-v5-not-found": &Pubrel{PacketID: 1, ReasonCode: PacketIdentifierNotFound},
	"3.7-pubcomp-v31":         &Pubcomp{PacketID: 3},
	"3.7-pubcomp-v5":          &Pubcomp{PacketID: 3},
	"3.8-subscribe-v311": &Subscribe{PacketID: 10, Subscriptions: []Subscription{
		{Filter: "a/#", QoS: 1}, {Filter: "b", QoS: 2}}},
	"3.8-subscribe-v5-options": &Subscribe{PacketID: 1,
		Properties:    propsWith(Properties{SubscriptionIdentifiers: []uint32{5}}, PropSubscriptionIdentifier),
		Subscriptions: []Subscription{{Filter: "x", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
	"3.9-suback-v311-failure": &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, UnspecifiedError}},
	"3.9-suback-v5": &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, UnspecifiedError,
		WildcardSubscriptionsNotSupported}},
	"3.10-unsubscribe-v311":        &Unsubscribe{PacketID: 2, Filters: []string{"a"}},
	"3.10-unsubscribe-v5":          &Unsubscribe{PacketID: 2, Filters: []string{"a"}},
	"3.11-unsuback-v311":           &Unsuback{PacketID: 2},
	"3.11-unsuback-v5":             &Unsuback{PacketID: 2, ReasonCodes: []ReasonCode{NoSubscriptionExisted}},
	"3.12-pingreq":                 &Pingreq{},
	"3.13-pingresp":                &Pingresp{},
	"3.14-disconnect-v311":         &Disconnect{},
	"3.14-disconnect-v5-normal":    &Disconnect{},
	"3.14-disconnect-v5-with-will": &Disconnect{ReasonCode: DisconnectWithWill},
	"3.14-disconnect-v5-session":   &Disconnect{Properties: propsWith(Properties{}, PropSessionExpiryInterval)},
	"3.15-auth-v5-success":         &Auth{},
	"3.15-auth-v5-continue": &Auth{ReasonCode: ContinueAuthentication,
		Properties: propsWith(Properties{AuthenticationMethod: "SCRM1"}, PropAuthenticationMethod)},
}

// TestGolden decodes every golden vector into its expected packet and
// encodes the packet back to the same bytes.
func TestGolden(t *testing.T) {
	vectors := loadGolden(t)
	seen := map[string]bool{}
	types := map[Type]map[Version]bool{}
	for _, gv := range vectors {
		t.Run(gv.name, func(t *testing.T) {
			want, ok := goldenPackets[gv.name]
			if !ok {
				t.Fatalf("no expected packet")
			}
			seen[gv.name] = true
			rv := gv.v
			if want.Type() == CONNECT {
				rv = 0
			}
			got, err := NewReader(bytes.NewReader(gv.b), 0).ReadPacket(rv)
			if err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n %+v\nwant\n %+v", got, want)
			}
			enc, err := Append(nil, want, gv.v)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(enc, gv.b) {
				t.Fatalf("encoded\n % X\nwant\n % X", enc, gv.b)
			}
			if types[want.Type()] == nil {
				types[want.Type()] = map[Version]bool{}
			}
			types[want.Type()][gv.v] = true
		})
	}
	for name := range goldenPackets {
		if !seen[name] {
			t.Errorf("expected packet %q has no vector", name)
		}
	}
	for typ := CONNECT; typ <= AUTH; typ++ {
		if len(types[typ]) == 0 {
			t.Errorf("no golden vector for %v", typ)
		}
	}
}
