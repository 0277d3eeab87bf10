package packet

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// strictReader fails the test if more than limit bytes are read from it.
type strictReader struct {
	t     *testing.T
	b     []byte
	limit int
	read  int
}

func (s *strictReader) Read(p []byte) (int, error) {
	if s.read >= len(s.b) {
		return 0, io.EOF
	}
	// Hand out one byte at a time so that buffering cannot hide a read
	// beyond the limit.
	if s.read >= s.limit {
		s.t.Fatalf("read beyond the fixed header (byte %d)", s.read)
	}
	p[0] = s.b[s.read]
	s.read++
	return 1, nil
}

// TestOversizeRefusedFromHeader: [MQTT-3.1.2-24]-style bound before
// allocation: a packet larger than the limit is refused from its fixed
// header, and not one body byte is read.
func TestOversizeRefusedFromHeader(t *testing.T) {
	for _, v := range []Version{0, V311, V5} {
		typ := byte(0x30)
		if v == 0 {
			typ = 0x10
		}
		hdr := AppendVarint([]byte{typ}, 100_000)
		b := append(hdr, make([]byte, 100_000)...)
		src := &strictReader{t: t, b: b, limit: len(hdr)}
		r := NewReader(src, 0)
		r.SetMaxPacketSize(1000)
		p, err := r.ReadPacket(v)
		var e *Error
		if !errors.As(err, &e) || e.Code != PacketTooLarge || p != nil {
			t.Fatalf("v%d: got %v, %v; want PacketTooLarge", v, p, err)
		}
	}
}

// TestMaxPacketSizeBoundary: the limit counts the whole packet.
func TestMaxPacketSizeBoundary(t *testing.T) {
	p := &Publish{Topic: "t", Payload: make([]byte, 200)}
	b := AppendPublish(nil, p, V311)
	for _, tc := range []struct {
		max int
		ok  bool
	}{{len(b), true}, {len(b) - 1, false}, {0, true}} {
		r := NewReader(bytes.NewReader(b), 0)
		if tc.max != 0 {
			r.SetMaxPacketSize(tc.max)
		}
		_, err := r.ReadPacket(V311)
		if (err == nil) != tc.ok {
			t.Fatalf("max %d: err %v", tc.max, err)
		}
	}
	if r := NewReader(nil, 0); r.MaxPacketSize() != DefaultMaxPacketSize {
		t.Fatalf("default max = %d", r.MaxPacketSize())
	}
}

func TestReaderEOF(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"clean close", nil, io.EOF},
		{"inside the remaining length", []byte{0x30, 0x80}, io.ErrUnexpectedEOF},
		{"after the header byte", []byte{0x30}, io.ErrUnexpectedEOF},
		{"inside the body", []byte{0x30, 0x05, 0x00, 0x01}, io.ErrUnexpectedEOF},
		{"inside a large body", append([]byte{0x30, 0x80, 0x40}, make([]byte, 5000)...), io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader, iotest.DataErrReader, iotest.HalfReader,
		} {
			_, err := NewReader(wrap(bytes.NewReader(tc.b)), 0).ReadPacket(V311)
			if err != tc.want {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			}
		}
	}
	// An error other than EOF is returned as is.
	boom := errors.New("boom")
	_, err := NewReader(iotest.ErrReader(boom), 0).ReadPacket(V311)
	if err != boom {
		t.Fatalf("err %v", err)
	}
	// A clean close after a packet is io.EOF.
	r := NewReader(bytes.NewReader([]byte{0xC0, 0x00}), 0)
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(V311); err != io.EOF {
		t.Fatalf("err %v, want EOF", err)
	}
}

// TestSplitReads reads a stream of every golden packet of a version through
// readers that split it at every byte and in halves.
func TestSplitReads(t *testing.T) {
	vectors := loadGolden(t)
	for _, v := range versions {
		var stream []byte
		var want []Packet
		for _, gv := range vectors {
			p := goldenPackets[gv.name]
			if gv.v != v || p.Type() == CONNECT {
				continue
			}
			stream = append(stream, gv.b...)
			want = append(want, p)
		}
		// Add a large PUBLISH so bodies bigger than the buffer are read
		// straight into their allocation.
		big := &Publish{QoS: 1, PacketID: 3, Topic: "big", Payload: bytes.Repeat([]byte("x"), 20_000)}
		stream = AppendPublish(stream, big, v)
		want = append(want, big)
		stream = append(stream, AppendPingresp(nil)...)
		want = append(want, &Pingresp{})

		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"plain":   func(r io.Reader) io.Reader { return r },
			"onebyte": iotest.OneByteReader,
			"half":    iotest.HalfReader,
			"dataerr": iotest.DataErrReader,
		} {
			for _, bufSize := range []int{0, 16, 600, 64 << 10} {
				r := NewReader(wrap(bytes.NewReader(stream)), bufSize)
				for i, w := range want {
					got, err := r.ReadPacket(v)
					if err != nil {
						t.Fatalf("v%d %s/%d: packet %d: %v", v, name, bufSize, i, err)
					}
					if !reflect.DeepEqual(got, w) {
						t.Fatalf("v%d %s/%d: packet %d: got %v want %v", v, name, bufSize, i, got, w)
					}
				}
				if _, err := r.ReadPacket(v); err != io.EOF {
					t.Fatalf("v%d %s/%d: trailing: %v", v, name, bufSize, err)
				}
			}
		}
	}
}

// TestReaderBodiesAreFresh: a decoded packet stays valid after the next
// packet is read (the body is never reused).
func TestReaderBodiesAreFresh(t *testing.T) {
	var b []byte
	b = AppendPublish(b, &Publish{Topic: "first", Payload: []byte("one")}, V311)
	b = AppendPublish(b, &Publish{Topic: "second", Payload: []byte("two")}, V311)
	r := NewReader(bytes.NewReader(b), 0)
	p1, _ := r.ReadPacket(V311)
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatal(err)
	}
	if p := p1.(*Publish); p.Topic != "first" || string(p.Payload) != "one" {
		t.Fatalf("first packet changed: %v", p)
	}
}

// TestReaderLazyBuffer: the buffer starts small and grows only under load.
func TestReaderLazyBuffer(t *testing.T) {
	r := NewReader(bytes.NewReader(nil), 64<<10)
	if r.buf != nil {
		t.Fatal("buffer allocated before the first read")
	}
	var b []byte
	for range 200 {
		b = AppendPublish(b, &Publish{Topic: "t", Payload: make([]byte, 100)}, V311)
	}
	r = NewReader(bytes.NewReader(b), 64<<10)
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatal(err)
	}
	if len(r.buf) != firstReadBuffer {
		t.Fatalf("first buffer %d bytes, want %d", len(r.buf), firstReadBuffer)
	}
	for range 199 {
		if _, err := r.ReadPacket(V311); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.buf) <= minReadBuffer {
		t.Fatalf("buffer did not grow under load: %d", len(r.buf))
	}
}

func TestReadFixedHeader(t *testing.T) {
	h, err := ReadFixedHeader(bytes.NewReader([]byte{0x3B, 0xC1, 0x02}))
	if err != nil || h != (FixedHeader{Type: PUBLISH, Flags: 0x0B, Remaining: 321}) {
		t.Fatalf("%+v %v", h, err)
	}
	if h.Size() != 1+2+321 {
		t.Fatalf("size %d", h.Size())
	}
}

func TestDecodeBodyLengthMismatch(t *testing.T) {
	_, err := Decode(FixedHeader{Type: PINGREQ, Remaining: 0}, []byte{0}, V311)
	var e *Error
	if !errors.As(err, &e) || e.Code != MalformedPacket {
		t.Fatalf("err %v", err)
	}
	var p Publish
	if err := DecodePublish(FixedHeader{Type: PUBACK, Remaining: 2}, []byte{0, 1}, V311, &p); err == nil {
		t.Fatal("DecodePublish accepted a PUBACK header")
	}
}

// TestLargeBody: bodies above the eager limit grow as they arrive and
// decode the same.
func TestLargeBody(t *testing.T) {
	p := &Publish{QoS: 2, PacketID: 1, Topic: "big/body", Payload: bytes.Repeat([]byte("0123456789"), 30_000)}
	b := AppendPublish(nil, p, V5)
	for _, wrap := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r }, iotest.HalfReader, iotest.OneByteReader,
	} {
		got, err := NewReader(wrap(bytes.NewReader(b)), 0).ReadPacket(V5)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatal("large body differs")
		}
		if g := got.(*Publish); cap(g.Payload) != len(g.Payload) {
			t.Fatal("payload capacity not capped")
		}
	}
	// A stalled sender of a large packet gets io.ErrUnexpectedEOF.
	_, err := NewReader(bytes.NewReader(b[:len(b)/2]), 0).ReadPacket(V5)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err %v", err)
	}
}
