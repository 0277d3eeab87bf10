package cbor

import (
	"bytes"
	"encoding/hex"
	"math"
	"strings"
	"testing"
)

// rfcExamples are the examples of RFC 8949 appendix A that fall in the
// subset; each one is in deterministic form.
var rfcExamples = []string{
	"00", "01", "0a", "17", "1818", "1819", "1864", "1903e8", "1a000f4240",
	"1b000000e8d4a51000", "1bffffffffffffffff", "20", "29", "3863", "3903e7",
	"f4", "f5", "f6", "40", "4401020304", "60", "6161", "6449455446",
	"62225c", "62c3bc", "63e6b0b4", "64f0908591", "80", "83010203",
	"8301820203820405",
	"98190102030405060708090a0b0c0d0e0f101112131415161718181819",
	"a0", "a201020304", "a26161016162820203", "826161a161626163",
	"a56161614161626142616361436164614461656145",
	"d2820102",
}

func TestDecodeRFCExamples(t *testing.T) {
	for _, h := range rfcExamples {
		data, _ := hex.DecodeString(h)
		v, err := Decode(data)
		if err != nil {
			t.Errorf("%s: %v", h, err)
			continue
		}
		if got := Append(nil, v); !bytes.Equal(got, data) {
			t.Errorf("%s: re-encoded as %x", h, got)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ hex, msg string }{
		{"", "unexpected end"},
		{"1817", "shortest form"},               // 23 in two bytes
		{"190017", "shortest form"},             // 23 in three bytes
		{"1900ff", "shortest form"},             // 255 in three bytes
		{"1a0000ffff", "shortest form"},         // 65535 in five bytes
		{"1b00000000ffffffff", "shortest form"}, // in nine bytes
		{"3817", "shortest form"},
		{"5801ff", "shortest form"},
		{"1c", "reserved"},
		{"5f4100ff", "indefinite"},
		{"9fff", "indefinite"},
		{"bf01f5ff", "indefinite"},
		{"ff", "indefinite"},
		{"f97e00", "floating point"},
		{"fa47c35000", "floating point"},
		{"fb3ff199999999999a", "floating point"},
		{"f7", "simple value"},     // undefined
		{"f0", "simple value"},     // simple(16)
		{"f820", "floating point"}, // simple(32), two-byte simple
		{"c101", "tag other than 18"},
		{"d812820102", "shortest form"}, // tag 18 in two bytes
		{"a20102010a", "duplicate map key"},
		{"a203040102", "deterministic order"},
		{"a2616201616102", "deterministic order"},
		{"a220010102", "deterministic order"},
		{"a1820102f5", "map key"},
		{"a1f5f5", "map key"},
		{"a140f5", "map key"},
		{"62c328", "UTF-8"},
		{"61", "longer than the input"},
		{"5a00010000", "longer than the input"},
		{"83010203ff", "trailing"},
		{"0000", "trailing"},
		{"99ffff", "too many elements"},
		{"9a7fffffff", "too many elements"},
		{"8301", "longer than the input"}, {"1901", "unexpected end"},
		{"84010203", "longer than the input"},
		{"a30102", "longer than the input"},
		{"3bffffffffffffffff", ""}, // fine for Decode (KindNeg), not for Int
		{strings.Repeat("81", MaxDepth) + "00", "nested too deeply"},
	} {
		data, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(data)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.hex, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", tc.hex, err, tc.msg)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	ok := strings.Repeat("81", MaxDepth-1) + "00"
	data, _ := hex.DecodeString(ok)
	if _, err := Decode(data); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want int64
		ok   bool
	}{
		{"00", 0, true}, {"20", -1, true}, {"3a00010000", -65537, true},
		{"1b7fffffffffffffff", math.MaxInt64, true},
		{"3b7fffffffffffffff", math.MinInt64, true},
		{"1b8000000000000000", 0, false},
		{"3b8000000000000000", 0, false},
		{"40", 0, false},
	} {
		data, _ := hex.DecodeString(tc.hex)
		got, err := NewDecoder(data).Int()
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %d, %v", tc.hex, got, err)
		}
	}
}

func TestAppendShortest(t *testing.T) {
	for _, v := range []uint64{0, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		b := AppendUint(nil, v)
		got, err := NewDecoder(b).Uint()
		if err != nil || got != v {
			t.Errorf("%d: %x decoded as %d, %v", v, b, got, err)
		}
	}
	for _, v := range []int64{-1, -24, -25, -256, -257, -65537, math.MinInt64} {
		b := AppendInt(nil, v)
		got, err := NewDecoder(b).Int()
		if err != nil || got != v {
			t.Errorf("%d: %x decoded as %d, %v", v, b, got, err)
		}
	}
}

// TestDecoderNoCopy checks that strings are views of the input, so that the
// signature path does not allocate for them.
func TestDecoderNoCopy(t *testing.T) {
	data := []byte{0x43, 1, 2, 3}
	b, err := NewDecoder(data).Bytes()
	if err != nil || &b[0] != &data[1] || cap(b) != 3 {
		t.Fatalf("%v %v", b, err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		d := Decoder{data: data}
		_, _ = d.Bytes()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
