package packet

import "io"

// Variable byte integers [MQTT-1.5.5]: seven bits per byte, least
// significant group first, the high bit set on every byte but the last.

// AppendVarint appends v as a variable byte integer. v must not exceed
// MaxRemainingLength; a larger value is written with more than four bytes,
// which every receiver rejects as malformed. The checked Append refuses such
// values before they get here.
func AppendVarint(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// errVarint is returned for a variable byte integer longer than four bytes
// or not in its shortest form.
func errVarint(field, msg string) *Error {
	return &Error{Code: MalformedPacket, Field: field, Msg: msg}
}

// ReadVarint reads one variable byte integer. It refuses a fifth byte and a
// non-minimal encoding such as 0x80 0x00 with a malformed packet error
// [MQTT-1.5.5-1]. An io.EOF before the first byte is returned as io.EOF;
// after it, as io.ErrUnexpectedEOF.
func ReadVarint(r io.ByteReader) (uint32, error) {
	var v uint32
	for i := 0; i < 4; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		v |= uint32(c&0x7F) << (7 * i)
		if c < 0x80 {
			// A last byte of zero after a continuation byte means
			// the value fitted in fewer bytes [MQTT-1.5.5-1].
			if c == 0 && i > 0 {
				return 0, errVarint("varint", "not in minimal form")
			}
			return v, nil
		}
	}
	return 0, errVarint("varint", "longer than four bytes")
}

// ParseVarint decodes a variable byte integer from the start of b and
// reports the value and the number of bytes it took. It applies the same
// rules as ReadVarint; a b that ends inside the integer is malformed.
func ParseVarint(b []byte) (v uint32, n int, err error) {
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, errVarint("varint", "truncated")
		}
		c := b[i]
		v |= uint32(c&0x7F) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 { // [MQTT-1.5.5-1]
				return 0, 0, errVarint("varint", "not in minimal form")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errVarint("varint", "longer than four bytes")
}
