package proxyproto

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
)

// v2 address families and transports: the high and low nibble of byte 14
// [PP-2.2].
const (
	famUnspec = 0x0
	famInet   = 0x1
	famInet6  = 0x2
	famUnix   = 0x3

	protoUnspec = 0x0
	protoStream = 0x1
	protoDgram  = 0x2
)

// v2FixedSize is the signature, version/command, family/transport and length.
const v2FixedSize = 16

// v2AddrLen is the address block length of each family [PP-2.2].
var v2AddrLen = [...]int{famUnspec: 0, famInet: 12, famInet6: 36, famUnix: 216}

const maxUniqueID = 128 // [PP-2.2.5]

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// readV2 reads the rest of a binary header whose first byte was consumed:
// the 16-byte fixed part, then exactly the announced length once it has
// been checked against MaxV2Size and the family.
func readV2(r io.Reader) (*Header, error) {
	var fixed [v2FixedSize]byte
	fixed[0] = v2Signature[0]
	if _, err := io.ReadFull(r, fixed[1:]); err != nil {
		return nil, ioError(0, "signature", err, true)
	}
	if [12]byte(fixed[:12]) != v2Signature {
		return nil, errorf(CodeSignature, 0, "signature", "not a PROXY v2 signature")
	}
	if v := fixed[12] >> 4; v != 2 { // [PP-2.2] receivers accept only 2
		return nil, errorf(CodeVersion, 2, "v2.version", "version %d", v)
	}
	cmd := Command(fixed[12] & 0x0F)
	if cmd != Local && cmd != Proxy { // [PP-2.2] drop unassigned commands
		return nil, errorf(CodeCommand, 2, "v2.command", "unassigned command 0x%x", uint8(cmd))
	}
	fam, proto := int(fixed[13]>>4), fixed[13]&0x0F
	if fam > famUnix || proto > protoDgram { // [PP-2.2] reject unspecified values
		return nil, errorf(CodeFamily, 2, "v2.family", "unknown family/transport 0x%02x", fixed[13])
	}
	if cmd == Proxy {
		if err := checkProxyFamily(fam, proto, fixed[13]); err != nil {
			return nil, err
		}
	}
	length := int(binary.BigEndian.Uint16(fixed[14:]))
	if v2FixedSize+length > MaxV2Size {
		return nil, errorf(CodeTooLong, 2, "v2.length", "%d bytes over the %d-byte cap", v2FixedSize+length, MaxV2Size)
	}
	// LOCAL ignores the family [PP-2.2], but its address block, if
	// announced, must still fit.
	addrLen := v2AddrLen[fam]
	if length < addrLen {
		return nil, errorf(CodeLength, 2, "v2.length", "%d bytes cannot hold a %d-byte address block", length, addrLen)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, ioError(2, "v2.body", err, true)
	}
	h := &Header{Version: 2, Command: cmd}
	tlvs, err := parseTLVs(fixed[:], body, addrLen)
	if err != nil {
		return nil, err
	}
	h.TLVs = tlvs
	if cmd == Proxy {
		h.Source, h.Dest = v2Addresses(fam, body)
	}
	return h, nil
}

// checkProxyFamily admits TCP over IPv4 or IPv6 for the PROXY command.
// UNSPEC is refused (the spec lets the receiver choose; a trusted proxy that
// cannot name the client is a misconfiguration), AF_UNIX and DGRAM are
// refused as unsupported.
func checkProxyFamily(fam int, proto, b byte) error {
	switch {
	case fam == famUnspec || proto == protoUnspec:
		return errorf(CodeFamily, 2, "v2.family", "PROXY with unspecified family/transport 0x%02x", b)
	case fam == famUnix:
		return errorf(CodeUnsupported, 2, "v2.family", "AF_UNIX is not supported")
	case proto != protoStream:
		return errorf(CodeUnsupported, 2, "v2.family", "only STREAM is supported, got 0x%02x", b)
	}
	return nil
}

// v2Addresses decodes an AF_INET or AF_INET6 block whose length was checked.
func v2Addresses(fam int, b []byte) (src, dst netip.AddrPort) {
	var s, d netip.Addr
	switch fam {
	case famInet:
		s, d, b = netip.AddrFrom4([4]byte(b[0:4])), netip.AddrFrom4([4]byte(b[4:8])), b[8:]
	default:
		s, d, b = netip.AddrFrom16([16]byte(b[0:16])), netip.AddrFrom16([16]byte(b[16:32])), b[32:]
	}
	return netip.AddrPortFrom(s, binary.BigEndian.Uint16(b[0:2])),
		netip.AddrPortFrom(d, binary.BigEndian.Uint16(b[2:4]))
}

// parseTLVs walks body[addrLen:] as TLVs [PP-2.2]: each must fit in the
// block, NOOP is skipped, at most MaxTLVs are kept, CRC32c appears at most
// once with 4 bytes and must match the header with its value zeroed
// [PP-2.2.3]. Values alias body.
func parseTLVs(fixed, body []byte, addrLen int) ([]TLV, error) {
	var tlvs []TLV
	crcAt := -1 // offset in body of the CRC32c value
	for off, i := addrLen, 0; off < len(body); i++ {
		if len(body)-off < 3 {
			return nil, tlvError(i, "%d trailing bytes cannot hold a TLV header", len(body)-off)
		}
		t := TLVType(body[off])
		n := int(binary.BigEndian.Uint16(body[off+1:]))
		off += 3
		if n > len(body)-off {
			return nil, tlvError(i, "type 0x%02x announces %d bytes, %d left", uint8(t), n, len(body)-off)
		}
		v := body[off : off+n : off+n]
		switch t {
		case TLVNoop:
			off += n
			continue
		case TLVCRC32C:
			if n != 4 {
				return nil, tlvError(i, "CRC32c value is %d bytes, want 4", n)
			}
			if crcAt >= 0 {
				return nil, tlvError(i, "second CRC32c TLV")
			}
			crcAt = off
		case TLVUniqueID:
			if n > maxUniqueID {
				return nil, tlvError(i, "unique ID is %d bytes, at most %d", n, maxUniqueID)
			}
		}
		if len(tlvs) == MaxTLVs {
			return nil, tlvError(i, "more than %d TLVs", MaxTLVs)
		}
		tlvs = append(tlvs, TLV{Type: t, Value: v})
		off += n
	}
	if crcAt >= 0 && !crcMatches(fixed, body, crcAt) {
		return nil, errorf(CodeChecksum, 2, "v2.crc32c", "CRC32c mismatch")
	}
	return tlvs, nil
}

func tlvError(i int, format string, args ...any) *Error {
	return errorf(CodeTLV, 2, fmt.Sprintf("v2.tlv[%d]", i), format, args...)
}

// crcMatches computes CRC32c over fixed+body with body[at:at+4] read as zero
// and compares it with the value stored there, without modifying body.
func crcMatches(fixed, body []byte, at int) bool {
	var zero [4]byte
	sum := crc32.Update(0, castagnoli, fixed)
	sum = crc32.Update(sum, castagnoli, body[:at])
	sum = crc32.Update(sum, castagnoli, zero[:])
	sum = crc32.Update(sum, castagnoli, body[at+4:])
	return sum == binary.BigEndian.Uint32(body[at:])
}
