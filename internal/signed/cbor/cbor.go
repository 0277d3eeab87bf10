// Package cbor is the small, strict subset of CBOR (RFC 8949) that signed
// topics need: unsigned and negative integers, byte strings, text strings,
// arrays, maps with integer or text keys, false, true, null and tag 18
// (COSE_Sign1). It imports only the standard library.
//
// Encoding follows the core deterministic encoding requirements (RFC 8949
// section 4.2.1): every head in its shortest form, definite lengths only,
// map keys sorted by the bytewise order of their encodings. The encoder is
// a set of Append functions, so the caller writes map entries in that order.
//
// Decoding accepts only what the encoder could have produced: a head that
// is not in its shortest form, an indefinite length, a map whose keys are
// not in strictly increasing order (so a duplicate key too), a text string
// that is not UTF-8, floating point, undefined, any other simple value or
// tag, nesting deeper than MaxDepth, more than MaxItems elements in one
// array or map, and trailing bytes are all refused. Lengths are checked
// against the bytes left before anything is allocated; byte and text
// strings are returned as slices of the input, never copied.
package cbor

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// Major types (RFC 8949 section 3.1), as the top three bits of a head.
const (
	MajorUint   byte = 0
	MajorNeg    byte = 1
	MajorBytes  byte = 2
	MajorText   byte = 3
	MajorArray  byte = 4
	MajorMap    byte = 5
	MajorTag    byte = 6
	MajorSimple byte = 7
)

// The simple values the subset has, as whole initial bytes.
const (
	False byte = 0xf4
	True  byte = 0xf5
	Null  byte = 0xf6
)

// TagCOSESign1 is the tag of a COSE_Sign1 structure (RFC 9052 section 4.2),
// the only tag the subset has.
const TagCOSESign1 = 18

// Limits of the decoder. They bound the work and the memory of decoding any
// input, and are far above what a COSE_Sign1 of signed topics needs (depth
// 3, at most 9 entries in one map).
const (
	// MaxDepth is the deepest nesting of arrays, maps and tags: a value at
	// the top level has depth 1.
	MaxDepth = 16
	// MaxItems is the most elements of one array or entries of one map.
	MaxItems = 1024
)

// Error is a decoding failure: what is wrong and at which byte offset of
// the input.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string {
	return "cbor: " + e.Msg + " at offset " + itoa(e.Offset)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// Decoder reads a sequence of values from a byte slice, one head at a time.
// Each method reads the next value if it has the expected type and returns
// an *Error otherwise, leaving the position unspecified: a caller stops at
// the first error. The zero Decoder reads nothing; use NewDecoder.
type Decoder struct {
	data []byte
	off  int
}

// NewDecoder returns a Decoder over data. It keeps data: the byte and text
// strings it returns are slices of it.
func NewDecoder(data []byte) *Decoder { return &Decoder{data: data} }

// Offset is the position of the next byte to read.
func (d *Decoder) Offset() int { return d.off }

// Done reports whether every byte has been read.
func (d *Decoder) Done() bool { return d.off == len(d.data) }

// Since returns the bytes read from offset start to the position, for
// callers that compare encoded map keys.
func (d *Decoder) Since(start int) []byte { return d.data[start:d.off] }

func (d *Decoder) fail(off int, msg string) error { return &Error{Offset: off, Msg: msg} }

// Peek returns the major type of the next value without reading it.
func (d *Decoder) Peek() (byte, error) {
	if d.off >= len(d.data) {
		return 0, d.fail(d.off, "unexpected end of input")
	}
	return d.data[d.off] >> 5, nil
}

// head reads an initial byte and its argument, refusing indefinite lengths,
// reserved additional information and arguments not in their shortest form.
func (d *Decoder) head() (major byte, arg uint64, err error) {
	start := d.off
	if d.off >= len(d.data) {
		return 0, 0, d.fail(start, "unexpected end of input")
	}
	ib := d.data[d.off]
	d.off++
	major, ai := ib>>5, ib&0x1f
	if ai < 24 {
		return major, uint64(ai), nil
	}
	var n int
	switch ai {
	case 24:
		n = 1
	case 25:
		n = 2
	case 26:
		n = 4
	case 27:
		n = 8
	case 31:
		return 0, 0, d.fail(start, "indefinite length")
	default:
		return 0, 0, d.fail(start, "reserved additional information")
	}
	if len(d.data)-d.off < n {
		return 0, 0, d.fail(start, "unexpected end of input")
	}
	for _, c := range d.data[d.off : d.off+n] {
		arg = arg<<8 | uint64(c)
	}
	d.off += n
	if major == MajorSimple {
		return 0, 0, d.fail(start, "floating point or extended simple value")
	}
	// Shortest form: the argument needed this many bytes [RFC 8949 4.2.1].
	var lo uint64
	switch n {
	case 1:
		lo = 24
	case 2:
		lo = 1 << 8
	case 4:
		lo = 1 << 16
	case 8:
		lo = 1 << 32
	}
	if arg < lo {
		return 0, 0, d.fail(start, "integer or length not in its shortest form")
	}
	return major, arg, nil
}

// Uint reads an unsigned integer.
func (d *Decoder) Uint() (uint64, error) {
	start := d.off
	m, v, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != MajorUint {
		return 0, d.fail(start, "not an unsigned integer")
	}
	return v, nil
}

// Int reads an unsigned or negative integer that fits an int64.
func (d *Decoder) Int() (int64, error) {
	start := d.off
	m, v, err := d.head()
	if err != nil {
		return 0, err
	}
	switch {
	case m == MajorUint && v <= math.MaxInt64:
		return int64(v), nil
	case m == MajorNeg && v <= math.MaxInt64:
		return -1 - int64(v), nil
	case m == MajorUint || m == MajorNeg:
		return 0, d.fail(start, "integer out of the int64 range")
	}
	return 0, d.fail(start, "not an integer")
}

// str reads the head of a byte or text string and returns its content.
func (d *Decoder) str(want byte, what string) ([]byte, error) {
	start := d.off
	m, n, err := d.head()
	if err != nil {
		return nil, err
	}
	if m != want {
		return nil, d.fail(start, "not a "+what)
	}
	if n > uint64(len(d.data)-d.off) {
		return nil, d.fail(start, what+" longer than the input")
	}
	b := d.data[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b, nil
}

// Bytes reads a byte string and returns it as a slice of the input.
func (d *Decoder) Bytes() ([]byte, error) { return d.str(MajorBytes, "byte string") }

// Text reads a text string, which must be valid UTF-8, and returns it as a
// slice of the input.
func (d *Decoder) Text() ([]byte, error) {
	start := d.off
	b, err := d.str(MajorText, "text string")
	if err == nil && !utf8.Valid(b) {
		return nil, d.fail(start, "text string is not UTF-8")
	}
	return b, err
}

// count reads the head of an array or a map and checks its element count
// against MaxItems and against the bytes left (every element takes at
// least one byte, every map entry two).
func (d *Decoder) count(want byte, what string, per int) (int, error) {
	start := d.off
	m, n, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != want {
		return 0, d.fail(start, "not "+what)
	}
	if n > MaxItems {
		return 0, d.fail(start, what+" has too many elements")
	}
	if n*uint64(per) > uint64(len(d.data)-d.off) {
		return 0, d.fail(start, what+" longer than the input")
	}
	return int(n), nil
}

// Array reads the head of an array and returns its number of elements.
func (d *Decoder) Array() (int, error) { return d.count(MajorArray, "an array", 1) }

// Map reads the head of a map and returns its number of entries. The caller
// reads each key and value, and checks the order of the keys with KeyOrder.
func (d *Decoder) Map() (int, error) { return d.count(MajorMap, "a map", 2) }

// Tag reads a tag head and returns its number.
func (d *Decoder) Tag() (uint64, error) {
	start := d.off
	m, v, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != MajorTag {
		return 0, d.fail(start, "not a tag")
	}
	return v, nil
}

// Bool reads false or true.
func (d *Decoder) Bool() (bool, error) {
	if d.off < len(d.data) {
		switch d.data[d.off] {
		case False:
			d.off++
			return false, nil
		case True:
			d.off++
			return true, nil
		}
	}
	return false, d.fail(d.off, "not a boolean")
}

// Null reads null if it is the next value and reports whether it was.
func (d *Decoder) Null() bool {
	if d.off < len(d.data) && d.data[d.off] == Null {
		d.off++
		return true
	}
	return false
}

// KeyOrder checks that the keys of one map are in strictly increasing
// bytewise order of their encodings, the order of RFC 8949 section 4.2.1,
// which also refuses duplicate keys. Its zero value is ready for a map's
// first key.
type KeyOrder struct {
	prev []byte
	any  bool
}

// Next checks the encoded key that starts at offset start of d and ends at
// d's position.
func (k *KeyOrder) Next(d *Decoder, start int) error {
	key := d.Since(start)
	if k.any {
		switch c := bytes.Compare(k.prev, key); {
		case c == 0:
			return d.fail(start, "duplicate map key")
		case c > 0:
			return d.fail(start, "map keys not in deterministic order")
		}
	}
	k.prev, k.any = key, true
	return nil
}

// AppendHead appends an initial byte and its argument in the shortest form.
func AppendHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg <= math.MaxUint8:
		return append(b, m|24, byte(arg))
	case arg <= math.MaxUint16:
		return append(b, m|25, byte(arg>>8), byte(arg))
	case arg <= math.MaxUint32:
		return append(b, m|26, byte(arg>>24), byte(arg>>16), byte(arg>>8), byte(arg))
	}
	return append(b, m|27, byte(arg>>56), byte(arg>>48), byte(arg>>40), byte(arg>>32),
		byte(arg>>24), byte(arg>>16), byte(arg>>8), byte(arg))
}

// AppendUint appends an unsigned integer.
func AppendUint(b []byte, v uint64) []byte { return AppendHead(b, MajorUint, v) }

// AppendInt appends an integer, unsigned or negative by its sign.
func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendHead(b, MajorUint, uint64(v))
	}
	return AppendHead(b, MajorNeg, uint64(-1-v))
}

// AppendBytes appends a byte string.
func AppendBytes(b, p []byte) []byte { return append(AppendHead(b, MajorBytes, uint64(len(p))), p...) }

// AppendText appends a text string; s must be valid UTF-8.
func AppendText(b []byte, s string) []byte {
	return append(AppendHead(b, MajorText, uint64(len(s))), s...)
}

// AppendArray appends the head of an array of n elements.
func AppendArray(b []byte, n int) []byte { return AppendHead(b, MajorArray, uint64(n)) }

// AppendMap appends the head of a map of n entries; the caller appends the
// entries sorted by the bytewise order of their encoded keys.
func AppendMap(b []byte, n int) []byte { return AppendHead(b, MajorMap, uint64(n)) }

// AppendBool appends false or true.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, True)
	}
	return append(b, False)
}

// AppendNull appends null.
func AppendNull(b []byte) []byte { return append(b, Null) }

// AppendTag appends a tag head.
func AppendTag(b []byte, tag uint64) []byte { return AppendHead(b, MajorTag, tag) }
