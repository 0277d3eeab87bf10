// Package binread decodes the compact binary records Moat writes itself
// (store records, the saved replay state of signed topics): bytes,
// uvarints, varints and length-prefixed runs. The first failure sticks:
// later reads return zero values, and Err reports it. Every count it reads
// is bounded by what remains, so a hostile length never allocates.
// It imports only the standard library.
package binread

import (
	"encoding/binary"
	"errors"
)

// ErrMalformed is the failure of a reader made without its own error (the
// zero Reader).
var ErrMalformed = errors.New("binread: malformed input")

// Reader reads from a byte slice. The zero value reads nothing and fails
// at the first read.
type Reader struct {
	b         []byte
	err       error
	malformed error
}

// New returns a reader of b whose first failure reports malformed.
func New(b []byte, malformed error) Reader {
	return Reader{b: b, malformed: malformed}
}

// Err is the first failure, nil while every read succeeded.
func (r *Reader) Err() error { return r.err }

// Len is the number of bytes left.
func (r *Reader) Len() int { return len(r.b) }

// Fail records a failure (a value read was out of its range); what is
// left is dropped.
func (r *Reader) Fail() {
	if r.err == nil {
		r.err = r.malformed
		if r.err == nil {
			r.err = ErrMalformed
		}
	}
	r.b = nil
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.b) == 0 {
		r.Fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Max reads a uvarint that must not exceed limit.
func (r *Reader) Max(limit uint64) uint64 {
	v := r.Uvarint()
	if v > limit {
		r.Fail()
		return 0
	}
	return v
}

// Count reads an element count: each element takes at least one byte, so
// a count over what remains is malformed, whatever it claims.
func (r *Reader) Count() int {
	return int(r.Max(uint64(len(r.b))))
}

// Raw returns the next n bytes, aliasing the input (capacity capped).
func (r *Reader) Raw(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.Fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// End fails when bytes remain, and returns Err.
func (r *Reader) End() error {
	if len(r.b) != 0 {
		r.Fail()
	}
	return r.err
}
