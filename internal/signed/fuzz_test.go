package signed

import (
	"bytes"
	"testing"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed/cbor"
)

// fuzzSeeds are valid envelopes and detached signatures of every shape,
// and the malformed ones of TestParseSign1.
func fuzzSeeds(f *testing.F) [][]byte {
	ed := mustSigner(f, "valve-7-ed", edPriv)
	ec := mustSigner(f, "valve-7-ec", ecPriv())
	exp := claimsAt(cmdTopic, t0+60, 1)
	exp.ExpiresAt = t0 + 120
	// Fixed claims: the fuzzing workers build the seeds again, and the
	// Ed25519 ones must come out the same.
	nonce := nonceClaims(cmdTopic, t0+60)
	nonce.Nonce = [NonceSize]byte{1, 2, 3}
	var seeds [][]byte
	for _, c := range []Claims{claimsAt(cmdTopic, t0+60, 1), nonce, exp} {
		for _, s := range []*Signer{ed, ec} {
			for _, attach := range []bool{false, true} {
				msg, err := s.Sign1(&c, []byte("open"), nil, attach)
				if err != nil {
					f.Fatal(err)
				}
				seeds = append(seeds, msg, msg[1:])
			}
		}
	}
	good := protectedWith(iss, iat, tpc, ret, epoch, seq)
	seeds = append(seeds,
		rawSign1(good, []byte{0xa1, 0x04, 0x41, 'k'}, nil, sig64),
		rawSign1(protectedWith(iss, iat, cti, tpc, ret, epoch, seq), emptyM, nil, sig64),
		rawSign1(protectedWith(iat, iss, tpc, ret, epoch, seq), emptyM, nil, sig64),
		[]byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40}, []byte{0x84}, nil,
	)
	return seeds
}

// FuzzParseSign1 checks that parsing never panics, and that whatever it
// accepts is deterministic CBOR that re-encodes to the same bytes and
// whose claims a Signer would write the same way.
func FuzzParseSign1(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sign1
		if err := parseSign1(data, &s); err != nil {
			return
		}
		v, err := cbor.Decode(data)
		if err != nil {
			t.Fatalf("parsed but not strict CBOR: %v", err)
		}
		if !bytes.Equal(cbor.Append(nil, v), data) {
			t.Fatal("not deterministic")
		}
		c := s.claims()
		if checkClaims(&c) == nil && printable(string(s.kid)) && len(s.kid) <= MaxKeyIDLength && len(s.kid) > 0 {
			if got := appendProtected(nil, s.alg, string(s.kid), &c); !bytes.Equal(got, s.protected) {
				t.Fatalf("protected header\n%x\nre-encoded as\n%x", s.protected, got)
			}
		}
	})
}

// FuzzCheck feeds arbitrary envelopes and moat-sig values to the verifier.
// None may be accepted: the fuzzer cannot forge a signature.
func FuzzCheck(f *testing.F) {
	genuine := map[string]bool{}
	for _, s := range fuzzSeeds(f) {
		f.Add(s, false)
		f.Add(s, true)
		genuine[string(s)] = true
	}
	v, _ := newTestVerifier(f, Config{Rules: []RuleConfig{{Topics: []string{"#"}, Replay: "any", Retain: true}}})
	f.Fuzz(func(t *testing.T, data []byte, envelope bool) {
		var m *Message
		if envelope {
			m = &Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V311, Payload: data}
		} else {
			m = v5msg(cmdTopic, []byte("open"), nil, b64.EncodeToString(data))
		}
		d, why := v.Check(m)
		// Only the genuine seeds may pass (once each, the replay state
		// sees to that).
		if !d.Signed || why == OK && !genuine[string(data)] {
			t.Fatalf("%+v %v", d, why)
		}
	})
}
