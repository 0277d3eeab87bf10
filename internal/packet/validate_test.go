package packet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// A CONNECT v5 prefix up to the keep alive: name, level 5, clean start,
// keep alive 60. Add the property length, properties, payload.
const c5 = "0004 4D515454 05 02 003C"

// validationCases: each rule, named by its specification tag or section,
// with a packet breaking it and the reason code the decoder must report.
var validationCases = []struct {
	name string
	v    Version // 0: before CONNECT
	o    Origin
	hex  string
	code ReasonCode
}{
	// Fixed header and variable byte integers.
	{"MQTT-1.5.5-1 remaining length of five bytes", V311, 0, "30 FF FF FF FF 7F", MalformedPacket},
	{"MQTT-1.5.5-1 remaining length not minimal", V311, 0, "C0 80 00", MalformedPacket},
	{"MQTT-1.5.5-1 non-minimal property length", V5, 0, "30 06 0001 74 80 00 70", MalformedPacket},
	{"MQTT-2.1.2 reserved packet type 0", V311, 0, "00 00", MalformedPacket},
	{"MQTT-2.1.2 AUTH before MQTT 5", V311, 0, "F0 00", MalformedPacket},
	{"MQTT-3.1.0-1 first packet not CONNECT", 0, 0, "C0 00", ProtocolError},
	{"MQTT-3.1.0-1 first packet PUBLISH", 0, 0, "30 04 0001 74 70", ProtocolError},
	{"MQTT-2.1.3-1 CONNECT flags", 0, 0, "11 0D 0004 4D515454 04 02 003C 0001 63", MalformedPacket},
	{"MQTT-2.1.3-1 PUBREL flags 0000", V311, 0, "60 02 0001", MalformedPacket},
	{"MQTT-2.1.3-1 SUBSCRIBE flags 0000", V311, 0, "80 06 0001 0001 61 00", MalformedPacket},
	{"MQTT-2.1.3-1 UNSUBSCRIBE flags 0011", V311, 0, "A3 05 0001 0001 61", MalformedPacket},
	{"MQTT-2.1.3-1 PUBACK flags 0010", V5, 0, "42 02 0001", MalformedPacket},
	{"MQTT-2.1.3-1 PINGREQ flags", V311, 0, "C1 00", MalformedPacket},
	{"MQTT-2.1.3-1 DISCONNECT flags", V5, 0, "E8 00", MalformedPacket},
	{"3.12 PINGREQ with a body", V311, 0, "C0 01 00", MalformedPacket},
	{"3.14 DISCONNECT 3.1.1 with a body", V311, 0, "E0 01 00", MalformedPacket},

	// UTF-8 strings.
	{"MQTT-1.5.4-1 ill-formed UTF-8", V311, 0, "30 04 0002 C3 28", MalformedPacket},
	{"MQTT-1.5.4-1 encoded surrogate", V311, 0, "30 05 0003 ED A0 80", MalformedPacket},
	{"MQTT-1.5.4-1 overlong encoding", V311, 0, "30 04 0002 C0 AF", MalformedPacket},
	{"MQTT-1.5.4-1 truncated sequence", V311, 0, "30 04 0002 61 E4", MalformedPacket},
	{"MQTT-1.5.4-2 U+0000", V311, 0, "30 04 0002 61 00", MalformedPacket},
	{"MQTT-1.5.4-2 U+0000 after 8 ASCII", V311, 0, "30 0C 000A 6161616161616161 0061", MalformedPacket},
	{"MQTT-1.5.4-1 client id", 0, 0, "10 0D 0004 4D515454 04 02 003C 0001 FF", MalformedPacket},
	{"MQTT-1.5.4-1 user property", V5, 0, "30 0B 0001 74 07 26 0001 6B 0001 FF 70", MalformedPacket},

	// Remaining length against the content.
	{"MQTT-1.5.4 string beyond the packet", V311, 0, "30 03 0005 61", MalformedPacket},
	{"3.4 PUBACK 3.1.1 trailing bytes", V311, 0, "40 03 0001 00", MalformedPacket},
	{"3.4 PUBACK 3.1.1 too short", V311, 0, "40 01 00", MalformedPacket},
	{"3.4 PUBACK 5 trailing bytes", V5, 0, "40 05 0001 00 00 FF", MalformedPacket},
	{"3.1 CONNECT trailing bytes", 0, 0, "10 0E 0004 4D515454 04 02 003C 0001 63 00", MalformedPacket},
	{"3.1 CONNECT truncated", 0, 0, "10 08 0004 4D515454 04 02", MalformedPacket},
	{"3.8 SUBSCRIBE truncated filter", V311, 0, "82 05 0001 0005 61", MalformedPacket},
	{"3.8 SUBSCRIBE missing options", V311, 0, "82 05 0001 0001 61", MalformedPacket},
	{"3.10 UNSUBSCRIBE truncated filter", V311, 0, "A2 04 0001 0001", MalformedPacket},
	{"3.15 AUTH reason code without property length", V5, 0, "F0 01 18", MalformedPacket},

	// PUBLISH.
	{"MQTT-3.3.1-4 QoS 3", V311, 0, "36 05 0001 74 0001", MalformedPacket},
	{"MQTT-3.3.1-2 DUP on QoS 0", V311, 0, "38 04 0001 74 70", MalformedPacket},
	{"MQTT-2.2.1-3 PUBLISH packet identifier 0", V311, 0, "32 05 0001 74 0000", ProtocolError},
	{"MQTT-3.3.2-2 '+' in topic name", V311, 0, "30 05 0003 612F2B", TopicNameInvalid},
	{"MQTT-3.3.2-2 '#' in topic name", V5, 0, "30 04 0001 23 00", TopicNameInvalid},
	{"MQTT-4.7.3-1 empty topic 3.1.1", V311, 0, "30 02 0000", MalformedPacket},
	{"3.3.2.1 empty topic without alias", V5, 0, "30 03 0000 00", ProtocolError},
	{"MQTT-3.3.2-8 topic alias 0", V5, 0, "30 07 0001 74 03 23 0000", TopicAliasInvalid},
	{"MQTT-3.3.4-6 subscription identifier from client", V5, 0, "30 06 0001 74 02 0B 01", ProtocolError},
	{"MQTT-3.3.2-14 response topic with wildcard", V5, 0, "30 08 0001 74 04 08 0001 23", ProtocolError},
	{"3.3.2.3.2 payload format 2", V5, 0, "30 06 0001 74 02 01 02", ProtocolError},

	// Properties.
	{"2.2.2.2 property not allowed in PUBLISH", V5, 0, "30 09 0001 74 05 11 00000001", MalformedPacket},
	{"2.2.2.2 unknown property 0x7F", V5, 0, "30 06 0001 74 02 7F 00", MalformedPacket},
	{"2.2.2.2 unknown property 0x00", V5, 0, "30 06 0001 74 02 00 00", MalformedPacket},
	{"2.2.2.2 two-byte property identifier", V5, 0, "30 07 0001 74 03 81 01 00", MalformedPacket},
	{"2.2.2.2 duplicate payload format", V5, 0, "30 08 0001 74 04 01 00 01 00", ProtocolError},
	{"2.2.2.2 duplicate reason string", V5, 0, "40 0B 0001 80 07 1F 0001 61 1F 0001 62", ProtocolError},
	{"2.2.2.1 property length beyond the packet", V5, 0, "30 05 0001 74 05 01", MalformedPacket},
	{"2.2.2.1 property value truncated", V5, 0, "30 05 0001 74 01 01", MalformedPacket},
	{"2.2.2.1 string property beyond property length", V5, 0, "30 09 0001 74 03 03 0003 616263", MalformedPacket},
	{"3.8.2.1.2 duplicate subscription identifier", V5, 0, "82 0B 0001 04 0B 01 0B 02 0001 61 00", ProtocolError},
	{"3.8.2.1.2 subscription identifier 0", V5, 0, "82 09 0001 02 0B 00 0001 61 00", ProtocolError},
	{"3.8.2.1.2 subscription identifier over 4 bytes", V5, 0, "82 0D 0001 06 0B FF FF FF FF 01 0001 61 00", MalformedPacket},
	{"3.1.2.11.3 receive maximum 0", 0, 0, "10 11 " + c5 + " 03 21 0000 0001 63", ProtocolError},
	{"3.1.2.11.4 maximum packet size 0", 0, 0, "10 13 " + c5 + " 05 27 00000000 0001 63", ProtocolError},
	{"3.1.2.11.7 request problem information 2", 0, 0, "10 10 " + c5 + " 02 17 02 0001 63", ProtocolError},
	{"3.1.2.11.6 request response information 2", 0, 0, "10 10 " + c5 + " 02 19 02 0001 63", ProtocolError},
	{"3.1.2.11.2 duplicate session expiry", 0, 0, "10 18 " + c5 + " 0A 11 00000001 11 00000002 0001 63", ProtocolError},
	{"3.1.2.11.10 authentication data without method", 0, 0, "10 12 " + c5 + " 04 16 0001 AA 0001 63", ProtocolError},
	{"3.1.2.11 will delay in CONNECT properties", 0, 0, "10 13 " + c5 + " 05 18 00000001 0001 63", MalformedPacket},
	{"3.1.3.2 session expiry in will properties", 0, 0,
		"10 19 0004 4D515454 05 06 003C 00 0001 63 05 11 00000001 0001 74 0000", MalformedPacket},
	{"3.1.3.2 will payload format 2", 0, 0,
		"10 16 0004 4D515454 05 06 003C 00 0001 63 02 01 02 0001 74 0000", ProtocolError},
	{"3.2.2.3.4 maximum QoS 2", V5, FromServer, "20 05 00 00 02 24 02", ProtocolError},
	{"3.2.2.3.5 retain available 2", V5, FromServer, "20 05 00 00 02 25 02", ProtocolError},
	{"3.2.2.3.11 wildcard subscription available 2", V5, FromServer, "20 05 00 00 02 28 02", ProtocolError},
	{"3.2.2.3.12 subscription identifiers available 2", V5, FromServer, "20 05 00 00 02 29 02", ProtocolError},
	{"3.2.2.3.13 shared subscription available 2", V5, FromServer, "20 05 00 00 02 2A 02", ProtocolError},
	{"3.2.2.3.3 receive maximum 0 in CONNACK", V5, FromServer, "20 06 00 00 03 21 0000", ProtocolError},

	// CONNECT.
	{"MQTT-3.1.2-1 unknown protocol name", 0, 0, "10 0D 0004 4D515458 04 02 003C 0001 63", ProtocolError},
	{"MQTT-3.1.2-1 lower case protocol name", 0, 0, "10 0D 0004 6D717474 04 02 003C 0001 63", ProtocolError},
	{"MQTT-3.1.2-2 level 6", 0, 0, "10 0D 0004 4D515454 06 02 003C 0001 63", UnsupportedProtocolVersion},
	{"MQTT-3.1.2-2 MQTT at level 3", 0, 0, "10 0D 0004 4D515454 03 02 003C 0001 63", UnsupportedProtocolVersion},
	{"MQTT-3.1.2-2 MQIsdp at level 4", 0, 0, "10 0F 0006 4D5149736470 04 02 003C 0001 63", UnsupportedProtocolVersion},
	{"MQTT-3.1.2-3 reserved connect flag", 0, 0, "10 0D 0004 4D515454 04 03 003C 0001 63", MalformedPacket},
	{"MQTT-3.1.2-12 will QoS 3", 0, 0, "10 0D 0004 4D515454 04 1E 003C 0001 63", MalformedPacket},
	{"MQTT-3.1.2-11 will QoS without will flag", 0, 0, "10 0D 0004 4D515454 04 0A 003C 0001 63", MalformedPacket},
	{"MQTT-3.1.2-13 will retain without will flag", 0, 0, "10 0D 0004 4D515454 05 22 003C 00 0001 63", MalformedPacket},
	{"MQTT-3.1.2-22 password without user name 3.1.1", 0, 0, "10 11 0004 4D515454 04 42 003C 0001 63 0002 7077", MalformedPacket},
	{"MQTT-3.1.2-22 password without user name 3.1", 0, 0, "10 13 0006 4D5149736470 03 42 003C 0001 63 0002 7077", MalformedPacket},
	{"MQTT-3.3.2-2 will topic with wildcard", 0, 0, "10 13 0004 4D515454 04 06 003C 0001 63 0001 23 0001 78", TopicNameInvalid},
	{"MQTT-4.7.3-1 empty will topic", 0, 0, "10 12 0004 4D515454 04 06 003C 0001 63 0000 0001 78", TopicNameInvalid},
	{"3.1.3.4 will payload missing", 0, 0, "10 10 0004 4D515454 04 06 003C 0001 63 0001 74", MalformedPacket},

	// SUBSCRIBE and UNSUBSCRIBE.
	{"MQTT-3.8.3-2 SUBSCRIBE without filters 3.1.1", V311, 0, "82 02 0001", ProtocolError},
	{"MQTT-3.8.3-2 SUBSCRIBE without filters 5", V5, 0, "82 03 0001 00", ProtocolError},
	{"MQTT-2.2.1-3 SUBSCRIBE packet identifier 0", V311, 0, "82 06 0000 0001 61 00", ProtocolError},
	{"MQTT-3.8.3-4 3.1.1 reserved option bits", V311, 0, "82 06 0001 0001 61 04", MalformedPacket},
	{"MQTT-3.8.3-4 3.1.1 QoS 3", V311, 0, "82 06 0001 0001 61 03", MalformedPacket},
	{"MQTT-3.8.3-5 reserved option bits", V5, 0, "82 07 0001 00 0001 61 40", MalformedPacket},
	{"3.8.3.1 retain handling 3", V5, 0, "82 07 0001 00 0001 61 30", ProtocolError},
	{"3.8.3.1 maximum QoS 3", V5, 0, "82 07 0001 00 0001 61 03", ProtocolError},
	{"MQTT-3.8.3-4 no local on a shared subscription", V5, 0, "82 10 0001 00 000A 2473686172652F672F74 04", ProtocolError},
	{"MQTT-3.10.3-2 UNSUBSCRIBE without filters", V311, 0, "A2 02 0001", ProtocolError},
	{"MQTT-3.10.3-2 UNSUBSCRIBE without filters 5", V5, 0, "A2 03 0001 00", ProtocolError},
	{"MQTT-2.2.1-3 UNSUBSCRIBE packet identifier 0", V311, 0, "A2 05 0000 0001 61", ProtocolError},
	{"2.2.2.2 UNSUBSCRIBE with a reason string", V5, 0, "A2 0A 0001 04 1F 0001 61 0001 61", MalformedPacket},

	// Acknowledgements and reason codes.
	{"MQTT-2.2.1-3 PUBACK packet identifier 0", V311, 0, "40 02 0000", ProtocolError},
	{"MQTT-2.2.1-3 PUBREL packet identifier 0", V5, 0, "62 02 0000", ProtocolError},
	{"MQTT-3.4.2-1 PUBACK reason code 0x92", V5, 0, "40 03 0001 92", ProtocolError},
	{"MQTT-3.5.2-1 PUBREC reason code 0x04", V5, 0, "50 03 0001 04", ProtocolError},
	{"MQTT-3.6.2-1 PUBREL reason code 0x10", V5, 0, "62 03 0001 10", ProtocolError},
	{"MQTT-3.7.2-1 PUBCOMP reason code 0x80", V5, 0, "70 03 0001 80", ProtocolError},
	{"2.2.2.2 PUBACK with a topic alias", V5, 0, "40 07 0001 00 03 23 0001", MalformedPacket},
	{"MQTT-3.14.2-1 DISCONNECT server code from client", V5, FromClient, "E0 01 8E", ProtocolError},
	{"MQTT-3.14.2-1 DISCONNECT client code from server", V5, FromServer, "E0 01 04", ProtocolError},
	{"MQTT-3.14.2-1 DISCONNECT unknown code", V5, 0, "E0 01 03", ProtocolError},
	{"MQTT-3.14.2-2 session expiry from server", V5, FromServer, "E0 07 00 05 11 00000000", ProtocolError},
	{"2.2.2.2 DISCONNECT with a topic alias", V5, 0, "E0 05 00 03 23 0001", MalformedPacket},
	{"MQTT-3.15.2-1 AUTH reason code 0x01", V5, 0, "F0 0A 01 08 15 0005 5343524D31", ProtocolError},
	{"3.15.2.2.2 AUTH without authentication method", V5, 0, "F0 02 18 00", ProtocolError},
	{"3.15.2.2.3 AUTH data without method", V5, 0, "F0 06 18 04 16 0001 AA", ProtocolError},
	{"MQTT-3.2.2-1 CONNACK reserved flags", V311, FromServer, "20 02 02 00", MalformedPacket},
	{"3.2.2.3 CONNACK return code 6", V311, FromServer, "20 02 00 06", MalformedPacket},
	{"MQTT-3.2.2-8 CONNACK reason code 0x10", V5, FromServer, "20 03 00 10 00", ProtocolError},
	{"MQTT-3.2.2-6 session present with a failure", V5, FromServer, "20 03 01 80 00", ProtocolError},
	{"MQTT-3.9.3-2 SUBACK 3.1.1 return code 3", V311, FromServer, "90 03 0001 03", MalformedPacket},
	{"MQTT-3.9.3-1 SUBACK reason code 0x10", V5, FromServer, "90 04 0001 00 10", ProtocolError},
	{"3.9.3 SUBACK without reason codes", V5, FromServer, "90 03 0001 00", ProtocolError},
	{"MQTT-3.11.3-2 UNSUBACK reason code 0x10", V5, FromServer, "B0 04 0001 00 10", ProtocolError},
	{"3.11 UNSUBACK 3.1.1 with a payload", V311, FromServer, "B0 03 0001 00", MalformedPacket},
}

// TestValidation checks every decoding rule and its exact reason code.
func TestValidation(t *testing.T) {
	for _, tc := range validationCases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(unhex(t, tc.hex)), 0)
			r.SetOrigin(tc.o)
			p, err := r.ReadPacket(tc.v)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got packet %v, error %v; want *Error %v", p, err, tc.code)
			}
			if e.Code != tc.code {
				t.Fatalf("code %v (%v); want %v", e.Code, e, tc.code)
			}
			if p != nil && tc.code != UnsupportedProtocolVersion {
				t.Fatalf("packet %v returned with error", p)
			}
		})
	}
}

// TestValidPackets: packets close to the rules above that must decode.
func TestValidPackets(t *testing.T) {
	cases := []struct {
		name string
		v    Version
		o    Origin
		hex  string
	}{
		{"MQTT-1.5.5 varint 127 / 128 boundary", V311, 0, "30 80 01 0001 74" + strings.Repeat("61", 125)},
		{"MQTT-1.5.4 multi-byte UTF-8 topic", V311, 0, "30 0B 0009 C3A9 E4B8AD F09F9880 70"},
		{"2.2.2.2 user property repeats in order", V5, 0, "30 13 0001 74 0E 26 0001 6B 0001 31 26 0001 6B 0001 32 70"},
		{"2.2.2.2 subscription identifiers repeat from server", V5, FromServer, "30 08 0001 74 04 0B 01 0B 02 70"},
		{"3.1.2.9 password without user name in MQTT 5", 0, 0, "10 11 0004 4D515454 05 40 0000 00 0000 0002 7331"},
		{"3.1.3.3 empty client id", 0, 0, "10 0C 0004 4D515454 04 02 003C 0000"},
		{"3.3.2.1 empty topic with alias", V5, 0, "30 07 0000 03 23 0001 7A"},
		{"3.4.2.2.1 PUBACK reason code and empty properties", V5, 0, "40 04 0001 10 00"},
		{"3.14.2.2.1 DISCONNECT reason code only", V5, 0, "E0 01 04"},
		{"3.14 DISCONNECT from server with server reference", V5, FromServer, "E0 06 9C 04 1C 0001 68"},
		{"3.8.3.1 retain handling 2", V5, 0, "82 07 0001 00 0001 61 2E"},
		{"3.8.3.1 no local on a normal filter", V5, 0, "82 07 0001 00 0001 61 04"},
		{"3.15 AUTH with method and data", V5, 0, "F0 0E 18 0C 15 0005 5343524D31 16 0001 AA"},
		{"3.2.2 CONNACK 3.1 ignores the unused flag", V31, FromServer, "20 02 01 00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(unhex(t, tc.hex)), 0)
			r.SetOrigin(tc.o)
			if _, err := r.ReadPacket(tc.v); err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
		})
	}
}

func TestUnsupportedVersionKeepsConnect(t *testing.T) {
	b := unhex(t, "10 0D 0004 4D515454 06 02 003C 0001 63")
	p, err := NewReader(bytes.NewReader(b), 0).ReadPacket(0)
	var e *Error
	if !errors.As(err, &e) || e.Code != UnsupportedProtocolVersion {
		t.Fatalf("err = %v", err)
	}
	c, ok := p.(*Connect)
	if !ok || c.Version != 6 || c.ProtocolName != "MQTT" {
		t.Fatalf("packet = %#v", p)
	}
}

func TestUserPropertyOrder(t *testing.T) {
	b := unhex(t, "30 1A 0001 74 15 26 0001 62 0001 31 26 0001 61 0001 32 26 0001 62 0001 33 70")
	p, err := NewReader(bytes.NewReader(b), 0).ReadPacket(V5)
	if err != nil {
		t.Fatal(err)
	}
	got := p.(*Publish).Properties.UserProperties
	want := []UserProperty{{"b", "1"}, {"a", "2"}, {"b", "3"}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("user properties %v, want %v", got, want)
	}
	out := AppendPublish(nil, p.(*Publish), V5)
	if !bytes.Equal(out, b) {
		t.Fatalf("re-encoded % X, want % X", out, b)
	}
}
