package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type validCase struct {
	name string
	wire []byte
	want Header
}

const (
	maxV6       = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	worstV1Line = "PROXY UNKNOWN " + maxV6 + " " + maxV6 + " 65535 65535\r\n" // [PP-2.1] 107 bytes
)

func validV1() []validCase {
	return []validCase{
		{"spec example", []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("192.168.0.1:56324"), Dest: ap("192.168.0.11:443")}},
		{"tcp4 longest", []byte("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("255.255.255.255:65535"), Dest: ap("255.255.255.255:65535")}},
		{"tcp4 zeros", []byte("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("0.0.0.0:0"), Dest: ap("0.0.0.0:0")}},
		{"tcp6", []byte("PROXY TCP6 2001:db8::1 2001:DB8::2 1 65535\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("[2001:db8::1]:1"), Dest: ap("[2001:db8::2]:65535")}},
		{"tcp6 shortest", []byte("PROXY TCP6 :: ::1 0 0\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("[::]:0"), Dest: ap("[::1]:0")}},
		{"tcp6 longest", []byte("PROXY TCP6 " + maxV6 + " " + maxV6 + " 65535 65535\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("[" + maxV6 + "]:65535"), Dest: ap("[" + maxV6 + "]:65535")}},
		{"tcp6 4in6 hex", []byte("PROXY TCP6 ::ffff:c000:201 ::1 5 6\r\n"),
			Header{Version: 1, Command: Proxy, Source: ap("[::ffff:192.0.2.1]:5"), Dest: ap("[::1]:6")}},
		{"unknown short", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Command: Local}},
		{"unknown worst case", []byte(worstV1Line), Header{Version: 1, Command: Local}},
		{"unknown ignores rest", []byte("PROXY UNKNOWN whatever  goes here\r\n"), Header{Version: 1, Command: Local}},
	}
}

func validV2() []validCase {
	tlvs := [][]byte{
		tlv(TLVALPN, []byte("mqtt")),
		tlv(TLVNoop, []byte{0, 0, 0}),
		tlv(TLVAuthority, []byte("broker.example")),
		tlv(TLVUniqueID, bytes.Repeat([]byte{7}, 128)),
		tlv(0xE0, nil),
	}
	keptTLVs := []TLV{
		{TLVALPN, []byte("mqtt")},
		{TLVAuthority, []byte("broker.example")},
		{TLVUniqueID, bytes.Repeat([]byte{7}, 128)},
		{0xE0, []byte{}},
	}
	var many [][]byte
	var manyWant []TLV
	for i := range MaxTLVs {
		many = append(many, tlv(0xF0, []byte{byte(i)}))
		manyWant = append(manyWant, TLV{0xF0, []byte{byte(i)}})
	}
	crc := withCRC(v2(0x21, 0x11, inet4("10.0.0.1", "10.0.0.2", 1883, 8883), tlv(TLVALPN, []byte("mqtt"))))
	largest := v2(0x21, 0x11, inet4("10.0.0.1", "10.0.0.2", 1, 2), tlv(TLVNoop, make([]byte, MaxV2Size-16-12-3)))
	return []validCase{
		{"tcp4", v2(0x21, 0x11, inet4("192.0.2.1", "198.51.100.2", 50000, 1883)),
			Header{Version: 2, Command: Proxy, Source: ap("192.0.2.1:50000"), Dest: ap("198.51.100.2:1883")}},
		{"tcp6", v2(0x21, 0x21, inet6("2001:db8::1", "2001:db8::2", 1, 65535)),
			Header{Version: 2, Command: Proxy, Source: ap("[2001:db8::1]:1"), Dest: ap("[2001:db8::2]:65535")}},
		{"local unspec", v2(0x20, 0x00), Header{Version: 2, Command: Local}},
		{"local ignores inet block", v2(0x20, 0x11, inet4("192.0.2.1", "192.0.2.2", 1, 2)), Header{Version: 2, Command: Local}},
		{"local ignores unix block", v2(0x20, 0x31, make([]byte, 216)), Header{Version: 2, Command: Local}},
		{"local with tlv", v2(0x20, 0x00, tlv(TLVAuthority, []byte("hc"))),
			Header{Version: 2, Command: Local, TLVs: []TLV{{TLVAuthority, []byte("hc")}}}},
		{"tlvs", v2(0x21, 0x11, append(inet4("192.0.2.1", "192.0.2.2", 1, 2), bytes.Join(tlvs, nil)...)),
			Header{Version: 2, Command: Proxy, Source: ap("192.0.2.1:1"), Dest: ap("192.0.2.2:2"), TLVs: keptTLVs}},
		{"max tlvs", v2(0x21, 0x11, append(inet4("192.0.2.1", "192.0.2.2", 1, 2), bytes.Join(many, nil)...)),
			Header{Version: 2, Command: Proxy, Source: ap("192.0.2.1:1"), Dest: ap("192.0.2.2:2"), TLVs: manyWant}},
		{"crc32c", crc, Header{Version: 2, Command: Proxy, Source: ap("10.0.0.1:1883"), Dest: ap("10.0.0.2:8883"),
			TLVs: []TLV{{TLVALPN, []byte("mqtt")}, {TLVCRC32C, crc[len(crc)-4:]}}}},
		{"largest", largest, Header{Version: 2, Command: Proxy, Source: ap("10.0.0.1:1"), Dest: ap("10.0.0.2:2")}},
	}
}

type invalidCase struct {
	name string
	wire []byte
	code Code
}

func invalidV1() []invalidCase {
	const ok = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443"
	return []invalidCase{
		{"lone LF", []byte(ok + "\n" + "\x10\x00"), CodeSyntax},
		{"CR then EOF", []byte(ok + "\r"), CodeIO},
		{"CR then byte", []byte(ok + "\rX\n"), CodeSyntax},
		{"CR CR LF", []byte(ok + "\r\r\n"), CodeSyntax},
		{"no CRLF", []byte(ok), CodeIO},
		{"double space after PROXY", []byte("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), CodeFamily},
		{"double space between fields", []byte("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), CodeSyntax},
		{"trailing space", []byte(ok + " \r\n"), CodeSyntax},
		{"extra field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), CodeSyntax},
		{"missing field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), CodeSyntax},
		{"no addresses", []byte("PROXY TCP4\r\n\x10\x0d\x00\x04MQTT"), CodeSyntax},
		{"tab", []byte("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), CodeSignature},
		{"lower case", []byte("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), CodeSignature},
		{"PROXZ", []byte("PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), CodeSignature},
		{"tcp5", []byte("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), CodeFamily},
		{"lower tcp4", []byte("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), CodeFamily},
		{"UNKNOWNX", []byte("PROXY UNKNOWNX\r\n"), CodeFamily},
		{"leading zero octet", []byte("PROXY TCP4 192.168.000.1 1.2.3.4 1 2\r\n"), CodeAddress},
		{"short ipv4", []byte("PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n"), CodeAddress},
		{"octet 256", []byte("PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n"), CodeAddress},
		{"v6 in tcp4", []byte("PROXY TCP4 ::1 1.2.3.4 1 2\r\n"), CodeAddress},
		{"v4 in tcp6", []byte("PROXY TCP6 ::1 1.2.3.4 1 2\r\n"), CodeAddress},
		{"dotted 4in6", []byte("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"), CodeAddress},
		{"zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), CodeAddress},
		{"5 hex digits", []byte("PROXY TCP6 2001:0db80::1 ::1 1 2\r\n"), CodeAddress},
		{"plus port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), CodePort},
		{"minus port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n"), CodePort},
		{"leading zero port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), CodePort},
		{"port 65536", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), CodePort},
		{"port 99999", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n"), CodePort},
		{"port 6 digits", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n"), CodePort},
		{"hex port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n"), CodePort},
		{"non ascii", []byte("PROXY UNKNOWN \xff\r\n"), CodeSyntax},
		{"nul", []byte("PROXY UNKNOWN \x00\r\n"), CodeSyntax},
		{"108 bytes", []byte(worstV1Line[:len(worstV1Line)-2] + "f\r\n"), CodeTooLong},
		{"endless", []byte("PROXY UNKNOWN " + strings.Repeat("a", 200)), CodeTooLong},
		{"empty", nil, CodeIO},
		{"P only", []byte("P"), CodeIO},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), CodeSignature},
		{"mqtt", mqttConnect, CodeSignature},
	}
}

func invalidV2() []invalidCase {
	a4 := inet4("192.0.2.1", "192.0.2.2", 1, 2)
	a6 := inet6("2001:db8::1", "2001:db8::2", 1, 2)
	var many [][]byte
	for range MaxTLVs + 1 {
		many = append(many, tlv(0xF0, nil))
	}
	badCRC := withCRC(v2(0x21, 0x11, a4))
	badCRC[len(badCRC)-1] ^= 1
	tamperedCRC := withCRC(v2(0x21, 0x11, a4))
	tamperedCRC[16] ^= 1 // source address changed after the checksum
	return []invalidCase{
		{"bad signature", append([]byte("\r\n\r\n\x00\r\nQUIX\n"), 0x21, 0x11, 0, 12), CodeSignature},
		{"v1 signature as v2", append([]byte("\r\n\r\n\x00\r\nQUIT\r"), 0x21, 0x11, 0, 12), CodeSignature},
		{"version 1", v2(0x11, 0x11, a4), CodeVersion},
		{"version 3", v2(0x31, 0x11, a4), CodeVersion},
		{"version 0", v2(0x01, 0x11, a4), CodeVersion},
		{"command 2", v2(0x22, 0x11, a4), CodeCommand},
		{"command f", v2(0x2F, 0x11, a4), CodeCommand},
		{"family 4", v2(0x21, 0x41, a4), CodeFamily},
		{"transport 3", v2(0x21, 0x13, a4), CodeFamily},
		{"local family 4", v2(0x20, 0x41), CodeFamily},
		{"proxy unspec", v2(0x21, 0x00), CodeFamily},
		{"proxy inet unspec transport", v2(0x21, 0x10, a4), CodeFamily},
		{"proxy unspec stream", v2(0x21, 0x01, a4), CodeFamily},
		{"proxy unix", v2(0x21, 0x31, make([]byte, 216)), CodeUnsupported},
		{"proxy udp4", v2(0x21, 0x12, a4), CodeUnsupported},
		{"proxy udp6", v2(0x21, 0x22, a6), CodeUnsupported},
		{"inet len 11", v2Len(0x21, 0x11, 11, a4[:11]), CodeLength},
		{"inet6 len 35", v2Len(0x21, 0x21, 35, a6[:35]), CodeLength},
		{"inet6 with inet block", v2(0x21, 0x21, a4), CodeLength},
		{"local inet len 0", v2(0x20, 0x11), CodeLength},
		{"local unix short", v2(0x20, 0x31, make([]byte, 215)), CodeLength},
		{"over cap", v2Len(0x21, 0x11, MaxV2Size-16+1, nil), CodeTooLong},
		{"length 65535", v2Len(0x21, 0x11, 65535, nil), CodeTooLong},
		{"truncated body", v2Len(0x21, 0x11, 12, a4[:6]), CodeIO},
		{"truncated fixed", v2(0x21, 0x11)[:15], CodeIO},
		{"truncated signature", v2Signature[:5], CodeIO},
		{"tlv header cut", v2(0x21, 0x11, a4, []byte{0x01, 0x00}), CodeTLV},
		{"tlv one byte", v2(0x21, 0x11, a4, []byte{0x01}), CodeTLV},
		{"tlv value past block", v2(0x21, 0x11, a4, []byte{0x01, 0x00, 0x05, 'm', 'q'}), CodeTLV},
		{"tlv length 65535", v2(0x21, 0x11, a4, []byte{0x01, 0xff, 0xff}), CodeTLV},
		{"too many tlvs", v2(0x21, 0x11, a4, bytes.Join(many, nil)), CodeTLV},
		{"crc wrong", badCRC, CodeChecksum},
		{"crc over tampered header", tamperedCRC, CodeChecksum},
		{"crc 3 bytes", v2(0x21, 0x11, a4, tlv(TLVCRC32C, []byte{1, 2, 3})), CodeTLV},
		{"crc twice", withCRC(v2(0x21, 0x11, a4, tlv(TLVCRC32C, make([]byte, 4)))), CodeTLV},
		{"unique id 129", v2(0x21, 0x11, a4, tlv(TLVUniqueID, make([]byte, 129))), CodeTLV},
	}
}

func TestReadValid(t *testing.T) {
	for _, tc := range append(validV1(), validV2()...) {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Read(&guardReader{t: t, data: tc.wire, limit: len(tc.wire)})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if err := sameHeader(h, &tc.want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReadSplit reads every valid header one byte at a time, followed by an
// MQTT CONNECT that must be left in the reader untouched.
func TestReadSplit(t *testing.T) {
	for _, tc := range append(validV1(), validV2()...) {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(append(append([]byte{}, tc.wire...), mqttConnect...))
			h, err := Read(iotest.OneByteReader(r))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if err := sameHeader(h, &tc.want); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(r)
			if !bytes.Equal(rest, mqttConnect) {
				t.Fatalf("left %x, want the CONNECT %x", rest, mqttConnect)
			}
		})
	}
}

func TestReadInvalid(t *testing.T) {
	for _, tc := range append(invalidV1(), invalidV2()...) {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(tc.wire)
				if split {
					r = iotest.OneByteReader(r)
				}
				h, err := Read(r)
				if h != nil {
					t.Fatalf("header %+v with error %v", h, err)
				}
				wantCode(t, err, tc.code)
				if len(err.Error()) > 200 {
					t.Fatalf("error message is %d bytes long", len(err.Error()))
				}
			}
		})
	}
}

func TestReadIOErrors(t *testing.T) {
	_, err := Read(bytes.NewReader(nil))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	_, err = Read(bytes.NewReader([]byte("PROXY TCP4 1.2.3.4")))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut v1: %v, want io.ErrUnexpectedEOF", err)
	}
	_, err = Read(bytes.NewReader(v2Signature[:]))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut v2: %v, want io.ErrUnexpectedEOF", err)
	}
	boom := errors.New("boom")
	_, err = Read(iotest.DataErrReader(iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("reader error: %v, want boom", err)
	}
	wantCode(t, err, CodeIO)
}

// TestV1LongestLines checks the line lengths of [PP-2.1] against the cap.
func TestV1LongestLines(t *testing.T) {
	if len(worstV1Line) != MaxV1Size {
		t.Fatalf("worst case line is %d bytes, spec says %d", len(worstV1Line), MaxV1Size)
	}
	for _, tc := range validV1() {
		if len(tc.wire) > MaxV1Size {
			t.Errorf("%s: %d bytes", tc.name, len(tc.wire))
		}
	}
}

func TestHeaderTLV(t *testing.T) {
	h, err := Read(bytes.NewReader(v2(0x21, 0x11, inet4("10.0.0.1", "10.0.0.2", 1, 2),
		tlv(TLVAuthority, []byte("a")), tlv(TLVAuthority, []byte("b")))))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := h.TLV(TLVAuthority); !ok || string(v) != "a" {
		t.Fatalf("TLV(authority) = %q, %v", v, ok)
	}
	if _, ok := h.TLV(TLVNetNS); ok {
		t.Fatal("TLV(netns) found")
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Read(bytes.NewReader([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n")))
	const want = "proxyproto v1: port: v1.source_port: want 0..65535 without leading zeros"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	for c := CodeIO; c <= CodeChecksum; c++ {
		if strings.HasPrefix(c.String(), "Code(") {
			t.Errorf("code %d has no name", c)
		}
	}
	if Proxy.String() != "PROXY" || Local.String() != "LOCAL" || Command(7).String() != "Command(7)" {
		t.Error("Command.String")
	}
}
