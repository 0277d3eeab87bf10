package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestVarint: the boundaries of section 1.5.5, Table 1-1.
func TestVarint(t *testing.T) {
	cases := []struct {
		v uint32
		b []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7F}},
		{128, []byte{0x80, 0x01}},
		{16_383, []byte{0xFF, 0x7F}},
		{16_384, []byte{0x80, 0x80, 0x01}},
		{2_097_151, []byte{0xFF, 0xFF, 0x7F}},
		{2_097_152, []byte{0x80, 0x80, 0x80, 0x01}},
		{MaxRemainingLength, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
	}
	for _, tc := range cases {
		if got := AppendVarint(nil, tc.v); !bytes.Equal(got, tc.b) {
			t.Errorf("AppendVarint(%d) = % X, want % X", tc.v, got, tc.b)
		}
		if n := VarintSize(tc.v); n != len(tc.b) {
			t.Errorf("VarintSize(%d) = %d", tc.v, n)
		}
		v, n, err := ParseVarint(append(tc.b, 0xAA))
		if err != nil || v != tc.v || n != len(tc.b) {
			t.Errorf("ParseVarint(% X) = %d, %d, %v", tc.b, v, n, err)
		}
		v, err = ReadVarint(bytes.NewReader(tc.b))
		if err != nil || v != tc.v {
			t.Errorf("ReadVarint(% X) = %d, %v", tc.b, v, err)
		}
	}
}

// TestVarintMalformed: [MQTT-1.5.5-1] at most four bytes, minimal form.
func TestVarintMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x80, 0x80, 0x80, 0x80, 0x01}, // five bytes
		{0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
		{0x80, 0x00}, // 0 in two bytes
		{0xFF, 0x80, 0x00},
		{0x80, 0x80, 0x80, 0x00},
	} {
		_, _, err := ParseVarint(b)
		var e *Error
		if !errors.As(err, &e) || e.Code != MalformedPacket {
			t.Errorf("ParseVarint(% X): %v", b, err)
		}
		_, err = ReadVarint(bytes.NewReader(b))
		if !errors.As(err, &e) || e.Code != MalformedPacket {
			t.Errorf("ReadVarint(% X): %v", b, err)
		}
	}
	if _, _, err := ParseVarint([]byte{0x80}); err == nil {
		t.Error("ParseVarint accepted a truncated integer")
	}
	if _, err := ReadVarint(bytes.NewReader([]byte{0x80})); err != io.ErrUnexpectedEOF {
		t.Errorf("ReadVarint truncated: %v", err)
	}
	if _, err := ReadVarint(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("ReadVarint empty: %v", err)
	}
}

func TestValidUTF8(t *testing.T) {
	cases := []struct {
		s  string
		ok bool
	}{
		{"", true},
		{"a/b/c", true},
		{"exactly8", true},
		{"sixteen-bytes-ok", true},
		{"héllo wörld 中文 😀", true},
		{"\uFEFFbom", true}, // a BOM is kept, not an error [MQTT-1.5.4-3]
		{"a\x00", false},
		{"12345678\x00", false},
		{"\x00", false},
		{"\xC3\x28", false},
		{"\xED\xA0\x80", false},     // U+D800
		{"\xED\xBF\xBF", false},     // U+DFFF
		{"\xC0\xAF", false},         // overlong
		{"\xF4\x90\x80\x80", false}, // beyond U+10FFFF
		{"abcdefgh\xE4\xB8", false}, // truncated after the fast path
		{"abcdefgh\xE4\xB8\xAD\x00", false},
	}
	for _, tc := range cases {
		if got := ValidUTF8([]byte(tc.s)); got != tc.ok {
			t.Errorf("ValidUTF8(%q) = %v", tc.s, got)
		}
		if got := ValidUTF8String(tc.s); got != tc.ok {
			t.Errorf("ValidUTF8String(%q) = %v", tc.s, got)
		}
	}
}
