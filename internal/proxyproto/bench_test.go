package proxyproto

import (
	"bytes"
	"testing"
)

func benchmarkRead(b *testing.B, wire []byte) {
	r := bytes.NewReader(wire)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		if _, err := Read(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadV1TCP4(b *testing.B) {
	benchmarkRead(b, []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"))
}

func BenchmarkReadV1TCP6(b *testing.B) {
	benchmarkRead(b, []byte("PROXY TCP6 2001:db8:85a3::8a2e:370:7334 2001:db8::2 56324 443\r\n"))
}

func BenchmarkReadV2TCP4(b *testing.B) {
	benchmarkRead(b, v2(0x21, 0x11, inet4("192.168.0.1", "192.168.0.11", 56324, 443)))
}

func BenchmarkReadV2TCP6TLVsCRC(b *testing.B) {
	benchmarkRead(b, withCRC(v2(0x21, 0x21, inet6("2001:db8::1", "2001:db8::2", 56324, 443),
		tlv(TLVALPN, []byte("mqtt")), tlv(TLVAuthority, []byte("broker.example")))))
}
