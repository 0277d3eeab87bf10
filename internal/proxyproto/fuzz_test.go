package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzRead checks that Read never panics, stays within its bounds, gives
// the same answer however the input is split, and never reads past the
// header it returns. Seeds: testdata/fuzz/FuzzRead plus the test tables.
func FuzzRead(f *testing.F) {
	for _, tc := range append(validV1(), validV2()...) {
		f.Add(tc.wire)
	}
	for _, tc := range append(invalidV1(), invalidV2()...) {
		f.Add(tc.wire)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		h, err := Read(r)
		used := len(data) - r.Len()

		h1, err1 := Read(iotest.OneByteReader(bytes.NewReader(data)))
		if (err == nil) != (err1 == nil) {
			t.Fatalf("whole: %v; byte by byte: %v", err, err1)
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code == 0 {
				t.Fatalf("error %v (%T) is not a coded *Error", err, err)
			}
			var pe1 *Error
			if errors.As(err1, &pe1) && pe1.Code != pe.Code {
				t.Fatalf("whole: %v; byte by byte: %v", err, err1)
			}
			if used > MaxV2Size {
				t.Fatalf("consumed %d bytes before failing", used)
			}
			return
		}
		if e := sameHeader(h, h1); e != nil {
			t.Fatalf("byte by byte differs: %v", e)
		}
		checkHeader(t, h, data[:used])

		// Exactly the header is needed: the same bytes alone parse the
		// same, and no read asks past them.
		h2, err := Read(&guardReader{t: t, data: data, limit: used})
		if err != nil {
			t.Fatalf("header alone: %v", err)
		}
		if e := sameHeader(h, h2); e != nil {
			t.Fatalf("header alone differs: %v", e)
		}
		if _, err := Read(bytes.NewReader(data[:used-1])); err == nil {
			t.Fatal("header minus its last byte parsed")
		} else if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("header minus its last byte: %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

// checkHeader asserts the invariants of a successfully read header.
func checkHeader(t *testing.T, h *Header, wire []byte) {
	t.Helper()
	switch h.Version {
	case 1:
		if len(wire) > MaxV1Size || !bytes.HasSuffix(wire, []byte("\r\n")) || h.TLVs != nil {
			t.Fatalf("v1 header of %d bytes %q", len(wire), wire)
		}
	case 2:
		if len(wire) > MaxV2Size || len(h.TLVs) > MaxTLVs {
			t.Fatalf("v2 header of %d bytes, %d TLVs", len(wire), len(h.TLVs))
		}
	default:
		t.Fatalf("version %d", h.Version)
	}
	switch h.Command {
	case Proxy:
		s, d := h.Source.Addr(), h.Dest.Addr()
		if !s.IsValid() || !d.IsValid() || s.Is4() != d.Is4() || s.Zone() != "" || d.Zone() != "" {
			t.Fatalf("proxy addresses %s %s", h.Source, h.Dest)
		}
	case Local:
		if h.Source.IsValid() || h.Dest.IsValid() {
			t.Fatalf("local with addresses %s %s", h.Source, h.Dest)
		}
	default:
		t.Fatalf("command %d", h.Command)
	}
	for _, v := range h.TLVs {
		if v.Type == TLVNoop || len(v.Value) > MaxV2Size {
			t.Fatalf("TLV %x of %d bytes kept", v.Type, len(v.Value))
		}
	}
}
