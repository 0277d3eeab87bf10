package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"testing"
)

// v2 builds a binary header: signature, ver/cmd, fam/proto, the length of
// the parts, then the parts.
func v2(verCmd, famProto byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return v2Len(verCmd, famProto, len(body), body)
}

// v2Len is v2 with an explicit (possibly lying) length field.
func v2Len(verCmd, famProto byte, length int, body []byte) []byte {
	b := append([]byte{}, v2Signature[:]...)
	b = append(b, verCmd, famProto, byte(length>>8), byte(length))
	return append(b, body...)
}

// inet4 is an AF_INET address block.
func inet4(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sport), dport)
}

// inet6 is an AF_INET6 address block.
func inet6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sport), dport)
}

// tlv encodes one TLV.
func tlv(t TLVType, v []byte) []byte {
	return append([]byte{byte(t), byte(len(v) >> 8), byte(len(v))}, v...)
}

// withCRC appends a CRC32c TLV to a complete v2 header, fixing the length
// and computing the checksum as a sender does [PP-2.2.3].
func withCRC(h []byte) []byte {
	h = append(append([]byte{}, h...), tlv(TLVCRC32C, make([]byte, 4))...)
	binary.BigEndian.PutUint16(h[14:], uint16(len(h)-16))
	sum := crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(h[len(h)-4:], sum)
	return h
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// guardReader serves data and fails the test if asked for any byte past
// limit: a reader on a socket would have consumed it.
type guardReader struct {
	t     testing.TB
	data  []byte
	off   int
	limit int
}

func (g *guardReader) Read(p []byte) (int, error) {
	if g.off+len(p) > g.limit {
		g.t.Errorf("Read asked for %d bytes at offset %d; header ends at %d", len(p), g.off, g.limit)
		return 0, errors.New("read past header")
	}
	n := copy(p, g.data[g.off:])
	g.off += n
	return n, nil
}

// wantCode checks that err is an *Error with the given code.
func wantCode(t *testing.T, err error, code Code) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *Error %s", err, err, code)
	}
	if pe.Code != code {
		t.Fatalf("code = %s (%v), want %s", pe.Code, err, code)
	}
}

// sameHeader compares headers field by field.
func sameHeader(a, b *Header) error {
	if a.Version != b.Version || a.Command != b.Command || a.Source != b.Source || a.Dest != b.Dest {
		return fmt.Errorf("got {v%d %s %s %s}, want {v%d %s %s %s}",
			a.Version, a.Command, a.Source, a.Dest, b.Version, b.Command, b.Source, b.Dest)
	}
	if len(a.TLVs) != len(b.TLVs) {
		return fmt.Errorf("got %d TLVs, want %d", len(a.TLVs), len(b.TLVs))
	}
	for i := range a.TLVs {
		if a.TLVs[i].Type != b.TLVs[i].Type || !bytes.Equal(a.TLVs[i].Value, b.TLVs[i].Value) {
			return fmt.Errorf("TLV %d: got %x=%q, want %x=%q", i, a.TLVs[i].Type, a.TLVs[i].Value, b.TLVs[i].Type, b.TLVs[i].Value)
		}
	}
	return nil
}

// mqttConnect is a minimal MQTT 3.1.1 CONNECT: client id "a", clean session.
var mqttConnect = []byte{0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 'a'}
