package binread

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errBad = errors.New("bad")

func TestReader(t *testing.T) {
	b := []byte{7}
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.AppendUvarint(b, 2)
	b = append(b, "hi"...)
	r := New(b, errBad)
	if r.Byte() != 7 || r.Uvarint() != 300 || r.Varint() != -5 || string(r.Raw(r.Uvarint())) != "hi" {
		t.Fatal("values read back wrong")
	}
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	// The first failure sticks and reads return zero values.
	r = New([]byte{5, 1, 2}, errBad)
	if r.Max(4) != 0 || !errors.Is(r.Err(), errBad) || r.Byte() != 0 || r.Len() != 0 {
		t.Fatal("a value over its limit did not stick")
	}
	// A count cannot claim more elements than bytes remain.
	r = New(binary.AppendUvarint(nil, 1<<40), errBad)
	if r.Count() != 0 || r.Err() == nil {
		t.Fatal("a huge count was accepted")
	}
	r = New([]byte{1, 2}, errBad)
	if r.Raw(3) != nil || r.Err() == nil {
		t.Fatal("a run past the end was accepted")
	}
	r = New([]byte{1, 2}, errBad)
	r.Byte()
	if r.End() == nil {
		t.Fatal("End accepted a byte left over")
	}
	var zero Reader
	if zero.Byte() != 0 || !errors.Is(zero.Err(), ErrMalformed) {
		t.Fatalf("the zero reader's first read: %v", zero.Err())
	}
}
