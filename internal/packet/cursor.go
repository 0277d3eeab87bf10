package packet

import "unsafe"

// cursor walks a packet body. Every read checks the bounds and reports a
// truncated field as a malformed packet: the remaining length must agree
// with the content [MQTT-1.5.5], [MQTT-2.1.4].
type cursor struct {
	b   []byte
	pos int
}

func (c *cursor) left() int { return len(c.b) - c.pos }

func truncated(field string) *Error {
	return &Error{Code: MalformedPacket, Field: field, Msg: "truncated"}
}

func malformed(field, msg string) *Error {
	return &Error{Code: MalformedPacket, Field: field, Msg: msg}
}

func protocolErr(field, msg string) *Error {
	return &Error{Code: ProtocolError, Field: field, Msg: msg}
}

func (c *cursor) u8(field string) (byte, error) {
	if c.pos >= len(c.b) {
		return 0, truncated(field)
	}
	v := c.b[c.pos]
	c.pos++
	return v, nil
}

func (c *cursor) u16(field string) (uint16, error) {
	if len(c.b)-c.pos < 2 {
		return 0, truncated(field)
	}
	v := uint16(c.b[c.pos])<<8 | uint16(c.b[c.pos+1])
	c.pos += 2
	return v, nil
}

func (c *cursor) u32(field string) (uint32, error) {
	if len(c.b)-c.pos < 4 {
		return 0, truncated(field)
	}
	b := c.b[c.pos : c.pos+4]
	c.pos += 4
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

func (c *cursor) varint(field string) (uint32, error) {
	v, n, err := ParseVarint(c.b[c.pos:])
	if err != nil {
		err.(*Error).Field = field
		return 0, err
	}
	c.pos += n
	return v, nil
}

// binary reads two-byte-length-prefixed binary data [MQTT-1.5.6]. The
// result aliases the body with its capacity capped, so an append by the
// caller cannot overwrite what follows. Empty data is returned as nil.
func (c *cursor) binary(field string) ([]byte, error) {
	n, err := c.u16(field)
	if err != nil {
		return nil, err
	}
	if int(n) > len(c.b)-c.pos {
		return nil, truncated(field)
	}
	if n == 0 {
		return nil, nil
	}
	end := c.pos + int(n)
	v := c.b[c.pos:end:end]
	c.pos = end
	return v, nil
}

// str reads a UTF-8 string [MQTT-1.5.4]. The result aliases the body
// through unsafe.String: the body must not change while the packet is used.
func (c *cursor) str(field string) (string, error) {
	n, err := c.u16(field)
	if err != nil {
		return "", err
	}
	if int(n) > len(c.b)-c.pos {
		return "", truncated(field)
	}
	if n == 0 {
		return "", nil
	}
	b := c.b[c.pos : c.pos+int(n)]
	// Ill-formed UTF-8, encoded surrogates and U+0000 make the packet
	// malformed [MQTT-1.5.4-1] [MQTT-1.5.4-2].
	if !ValidUTF8(b) {
		return "", malformed(field, "invalid UTF-8 string")
	}
	c.pos += int(n)
	return unsafe.String(&b[0], len(b)), nil
}

// rest returns what is left of the body, nil when nothing is.
func (c *cursor) rest() []byte {
	if c.pos >= len(c.b) {
		return nil
	}
	v := c.b[c.pos:len(c.b):len(c.b)]
	c.pos = len(c.b)
	return v
}

// end reports trailing bytes as malformed: the remaining length must match
// the content exactly.
func (c *cursor) end(field string) error {
	if c.pos != len(c.b) {
		return malformed(field, "trailing bytes")
	}
	return nil
}
