package packet

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var fuzzVersions = [...]Version{0, V31, V311, V5}

// FuzzReadPacket reads packets from arbitrary bytes for each version, as
// the broker does: version 0 until a CONNECT, then the CONNECT's version.
// It must never panic, and every packet it decodes must encode (Append
// accepts it, Size agrees) and decode back to an equal packet.
func FuzzReadPacket(f *testing.F) {
	for _, gv := range loadGolden(f) {
		f.Add(gv.b, uint8(gv.v), false)
		f.Add(gv.b, uint8(gv.v), true)
	}
	for _, tc := range validationCases {
		f.Add(unhex(f, tc.hex), uint8(tc.v), tc.o == FromServer)
	}
	f.Fuzz(func(t *testing.T, data []byte, ver uint8, fromServer bool) {
		v := fuzzVersions[ver%4]
		o := FromClient
		if fromServer {
			o = FromServer
		}
		r := NewReader(bytes.NewReader(data), 0)
		r.SetOrigin(o)
		r.SetMaxPacketSize(64 << 10)
		for range 64 {
			p, err := r.ReadPacket(v)
			if err != nil {
				checkFuzzErr(t, p, err)
				return
			}
			if c, ok := p.(*Connect); ok {
				v = c.Version
				roundTrip(t, p, 0, o)
				continue
			}
			roundTrip(t, p, v, o)
		}
	})
}

// FuzzDecodeConnect decodes arbitrary CONNECT bodies.
func FuzzDecodeConnect(f *testing.F) {
	for _, gv := range loadGolden(f) {
		if gv.b[0]>>4 == byte(CONNECT) {
			f.Add(gv.b[2:])
		}
	}
	for _, tc := range validationCases {
		b := unhex(f, tc.hex)
		if b[0] == 0x10 && len(b) > 2 && int(b[1]) == len(b)-2 {
			f.Add(b[2:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h := FixedHeader{Type: CONNECT, Remaining: len(body)}
		p, err := Decode(h, body, 0)
		var c Connect
		err2 := DecodeConnect(h, body, &c)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Decode and DecodeConnect disagree: %v / %v", err, err2)
		}
		if err != nil {
			checkFuzzErr(t, p, err)
			return
		}
		if !reflect.DeepEqual(p, &c) {
			t.Fatalf("Decode and DecodeConnect differ")
		}
		roundTrip(t, p, 0, FromClient)
	})
}

func checkFuzzErr(t *testing.T, p Packet, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		if err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		return
	}
	if e.Code < 0x80 {
		t.Fatalf("error with a success code: %v", e)
	}
	if p != nil {
		if _, ok := p.(*Connect); !ok || e.Code != UnsupportedProtocolVersion {
			t.Fatalf("packet %T returned with error %v", p, err)
		}
	}
}

// roundTrip encodes p, checks Size, and decodes it back.
func roundTrip(t *testing.T, p Packet, v Version, o Origin) {
	t.Helper()
	b, err := Append(nil, p, v)
	if err != nil {
		t.Fatalf("Append(%v) of a decoded packet: %v", p, err)
	}
	if n := Size(p, v); n != len(b) {
		t.Fatalf("Size %d, encoded %d", n, len(b))
	}
	r := NewReader(bytes.NewReader(b), 0)
	r.SetOrigin(o)
	r.SetMaxPacketSize(MaxPacketSize)
	got, err := r.ReadPacket(v)
	if err != nil {
		t.Fatalf("re-decode of % X: %v", b, err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip differs:\n got %v\nwant %v", got, p)
	}
	if b2, _ := Append(nil, got, v); !bytes.Equal(b, b2) {
		t.Fatalf("encoding not stable")
	}
}

var writeCorpus = flag.Bool("write-corpus", false, "regenerate the seed corpus in testdata/fuzz")

// TestWriteFuzzCorpus regenerates the committed seed corpus: every golden
// vector, random valid packets of every type for every version, truncated
// and split packets, the validation cases and multi-packet sessions. Run
// with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate testdata/fuzz")
	}
	type seed struct {
		name string
		data []byte
		ver  uint8
		srv  bool
	}
	var seeds []seed
	for _, gv := range loadGolden(t) {
		seeds = append(seeds, seed{"golden-" + gv.name, gv.b, uint8(gv.v), false})
		if len(gv.b) > 3 {
			seeds = append(seeds, seed{"truncated-" + gv.name, gv.b[:len(gv.b)/2+1], uint8(gv.v), false})
		}
	}
	for i, tc := range validationCases {
		seeds = append(seeds, seed{fmt.Sprintf("invalid-%03d", i), unhex(t, tc.hex), uint8(tc.v), tc.o == FromServer})
	}
	g := newGen(42)
	for _, v := range versions {
		seen := map[Type]int{}
		want := 15 // AUTH exists only in MQTT 5
		if v != V5 {
			want = 14
		}
		for len(seen) < want || minCount(seen) < 2 {
			p, o := g.packet(v)
			if seen[p.Type()] >= 2 {
				continue
			}
			seen[p.Type()]++
			b, err := Append(nil, p, v)
			if err != nil {
				t.Fatal(err)
			}
			rv := uint8(v)
			if p.Type() == CONNECT {
				rv = 0
			}
			seeds = append(seeds, seed{fmt.Sprintf("gen-v%d-%s-%d", v, p.Type(), seen[p.Type()]), b, rv, o == FromServer})
		}
		// A session: CONNECT then one packet of each client type.
		c := g.connect(v)
		sess, _ := Append(nil, c, v)
		for range 12 {
			p, o := g.packet(v)
			if p.Type() == CONNECT || o == FromServer {
				continue
			}
			sess, _ = Append(sess, p, v)
		}
		seeds = append(seeds, seed{fmt.Sprintf("session-v%d", v), sess, 0, false})
	}
	seeds = append(seeds,
		seed{"oversized-header", []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, uint8(V311), false},
		seed{"empty", nil, 0, false})

	write := func(dir, name string, lines ...string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, l := range lines {
			s += l + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rp := filepath.Join("testdata", "fuzz", "FuzzReadPacket")
	dc := filepath.Join("testdata", "fuzz", "FuzzDecodeConnect")
	os.RemoveAll(rp)
	os.RemoveAll(dc)
	for _, s := range seeds {
		write(rp, s.name, fmt.Sprintf("[]byte(%q)", s.data), fmt.Sprintf("byte(%d)", s.ver), fmt.Sprintf("bool(%v)", s.srv))
		if len(s.data) > 2 && s.data[0] == 0x10 {
			if _, n, err := ParseVarint(s.data[1:]); err == nil {
				write(dc, s.name, fmt.Sprintf("[]byte(%q)", s.data[1+n:]))
			}
		}
	}
}

func minCount(m map[Type]int) int {
	n := 1 << 30
	for _, c := range m {
		n = min(n, c)
	}
	return n
}
