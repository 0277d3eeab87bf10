package cbor

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is in deterministic form: encoding the value again gives the input back.
// It is seeded with RFC 8949's examples, a COSE_Sign1 and broken heads.
func FuzzDecode(f *testing.F) {
	for _, h := range rfcExamples {
		data, _ := hex.DecodeString(h)
		f.Add(data)
	}
	for _, h := range []string{
		// The COSE_Sign1 of docs/signed-topics.md, detached.
		"d2845852a30127044c76616c76652d372d323032360fa7016776616c76652d37" +
			"041a6955b93c061a6955b9003a0001000071706c616e742f372f76616c76652f" +
			"636d643a00010001f43a00010002033a00010003182aa0f6584017471d578ae1" +
			"e010160ee36e4b804dad75e34560a8a81c97d152f1bd023f9dd9abf49927e892" +
			"c19d17e32b9f09c25f6f73f5699bf100827392705164e63a7c06",
		"1817", "5f4100ff", "f97e00", "a20102010a", "a203040102", "62c328",
		"9a7fffffff", "d812820102", "3b8000000000000000",
	} {
		data, _ := hex.DecodeString(h)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(data) || e.Msg == "" {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		if got := Append(nil, v); !bytes.Equal(got, data) {
			t.Fatalf("%x decoded and encoded as %x", data, got)
		}
	})
}
