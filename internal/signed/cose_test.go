package signed

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed/cbor"
)

// rawSign1 assembles a COSE_Sign1 around a hand-made protected header.
func rawSign1(protected []byte, unprotected []byte, payload []byte, sig []byte) []byte {
	b := cbor.AppendTag(nil, cbor.TagCOSESign1)
	b = cbor.AppendArray(b, 4)
	b = cbor.AppendBytes(b, protected)
	b = append(b, unprotected...)
	if payload == nil {
		b = cbor.AppendNull(b)
	} else {
		b = cbor.AppendBytes(b, payload)
	}
	return cbor.AppendBytes(b, sig)
}

// claimsMap appends a claims map from key/value encoders in the given
// order.
type kv struct {
	k int64
	v func([]byte) []byte
}

func protectedWith(claims ...kv) []byte {
	b := cbor.AppendMap(nil, 3)
	b = cbor.AppendInt(b, labelAlg)
	b = cbor.AppendInt(b, int64(EdDSA))
	b = cbor.AppendInt(b, labelKid)
	b = cbor.AppendBytes(b, []byte("k"))
	b = cbor.AppendInt(b, labelCWT)
	b = cbor.AppendMap(b, len(claims))
	for _, c := range claims {
		b = cbor.AppendInt(b, c.k)
		b = c.v(b)
	}
	return b
}

func text(s string) func([]byte) []byte {
	return func(b []byte) []byte { return cbor.AppendText(b, s) }
}
func uint_(v uint64) func([]byte) []byte {
	return func(b []byte) []byte { return cbor.AppendUint(b, v) }
}
func boolean(v bool) func([]byte) []byte {
	return func(b []byte) []byte { return cbor.AppendBool(b, v) }
}
func bstr(n int) func([]byte) []byte {
	return func(b []byte) []byte { return cbor.AppendBytes(b, make([]byte, n)) }
}

var (
	iss    = kv{claimIss, text("a")}
	iat    = kv{claimIat, uint_(t0)}
	tpc    = kv{claimTopic, text("t")}
	ret    = kv{claimRetain, boolean(false)}
	epoch  = kv{claimEpoch, uint_(1)}
	seq    = kv{claimSeq, uint_(1)}
	cti    = kv{claimCti, bstr(NonceSize)}
	sig64  = make([]byte, 64)
	emptyM = []byte{0xa0}
)

func TestParseSign1(t *testing.T) {
	good := protectedWith(iss, iat, tpc, ret, epoch, seq)
	for _, tc := range []struct {
		name string
		msg  []byte
		want string // "" accepted
	}{
		{"sequence", rawSign1(good, emptyM, nil, sig64), ""},
		{"nonce", rawSign1(protectedWith(iss, iat, cti, tpc, ret), emptyM, nil, sig64), ""},
		{"with exp", rawSign1(protectedWith(iss, kv{claimExp, uint_(t0)}, iat, tpc, ret, epoch, seq), emptyM, nil, sig64), ""},
		{"untagged", rawSign1(good, emptyM, nil, sig64)[1:], ""},
		{"attached", rawSign1(good, emptyM, []byte("x"), sig64), ""},
		{"other tag", append([]byte{0xd1}, rawSign1(good, emptyM, nil, sig64)[1:]...), "tag"},
		{"unprotected header", rawSign1(good, []byte{0xa1, 0x04, 0x41, 'k'}, nil, sig64), "unprotected"},
		{"short signature", rawSign1(good, emptyM, nil, sig64[:63]), "64 bytes"},
		{"array of 3", append([]byte{0x83}, rawSign1(good, emptyM, nil, sig64)[2:]...), "array of 4"},
		{"exp before iat", rawSign1(protectedWith(iss, kv{claimExp, uint_(t0 - 1)}, iat, tpc, ret, epoch, seq), emptyM, nil, sig64), "exp before iat"},
		{"both modes", rawSign1(protectedWith(iss, iat, cti, tpc, ret, epoch, seq), emptyM, nil, sig64), "exactly one"},
		{"no mode", rawSign1(protectedWith(iss, iat, tpc, ret), emptyM, nil, sig64), "exactly one"},
		{"seq without epoch", rawSign1(protectedWith(iss, iat, tpc, ret, seq), emptyM, nil, sig64), "exactly one"},
		{"no topic", rawSign1(protectedWith(iss, iat, ret, epoch, seq), emptyM, nil, sig64), "lack"},
		{"no retain", rawSign1(protectedWith(iss, iat, tpc, epoch, seq), emptyM, nil, sig64), "lack"},
		{"empty iss", rawSign1(protectedWith(kv{claimIss, text("")}, iat, tpc, ret, epoch, seq), emptyM, nil, sig64), "empty iss"},
		{"unknown claim", rawSign1(protectedWith(iss, kv{2, text("s")}, iat, tpc, ret, epoch, seq), emptyM, nil, sig64), "unknown claim"},
		{"unsorted claims", rawSign1(protectedWith(iat, iss, tpc, ret, epoch, seq), emptyM, nil, sig64), "order"},
		{"duplicate claim", rawSign1(protectedWith(iss, iat, iat, tpc, ret, epoch, seq), emptyM, nil, sig64), "duplicate"},
		{"short nonce", rawSign1(protectedWith(iss, iat, kv{claimCti, bstr(8)}, tpc, ret), emptyM, nil, sig64), "12-byte"},
		{"negative iat", rawSign1(protectedWith(iss, kv{claimIat, func(b []byte) []byte { return cbor.AppendInt(b, -1) }}, tpc, ret, epoch, seq), emptyM, nil, sig64), "not an unsigned"},
		{"huge iat", rawSign1(protectedWith(iss, kv{claimIat, uint_(1 << 63)}, tpc, ret, epoch, seq), emptyM, nil, sig64), "out of range"},
		{"retain as int", rawSign1(protectedWith(iss, iat, tpc, kv{claimRetain, uint_(0)}, epoch, seq), emptyM, nil, sig64), "boolean"},
		{"topic as bytes", rawSign1(protectedWith(iss, iat, kv{claimTopic, bstr(1)}, ret, epoch, seq), emptyM, nil, sig64), "text"},
		{"protected trailing", rawSign1(append(good, 0), emptyM, nil, sig64), "trailing"},
		{"protected not a map", rawSign1([]byte{0x80}, emptyM, nil, sig64), "map"},
		{"protected without kid", rawSign1([]byte{0xa2, 0x01, 0x27, 0x0f, 0xa0}, emptyM, nil, sig64), "exactly alg, kid and claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sign1
			err := parseSign1(tc.msg, &s)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSignerRoundTrip checks that what a Signer writes parses back to the
// same claims, for every optional field.
func TestSignerRoundTrip(t *testing.T) {
	s := mustSigner(t, "valve-7-ed", edPriv)
	for _, c := range []Claims{
		{Identity: "valve-7", Topic: "a/b", IssuedAt: 0, Mode: Sequence},
		{Identity: "valve-7", Topic: "a/b", IssuedAt: 1 << 40, ExpiresAt: 1<<40 + 1, Retain: true, Mode: Sequence, Epoch: 1 << 63, Seq: 1<<64 - 1},
		{Identity: "ünïcode", Topic: "ü/€", IssuedAt: t0, Mode: Nonce, Nonce: NewNonce()},
	} {
		msg, err := s.Sign1(&c, []byte("p"), nil, true)
		if err != nil {
			t.Fatal(err)
		}
		var p sign1
		if err := parseSign1(msg, &p); err != nil {
			t.Fatal(err)
		}
		if got := p.claims(); got != c || string(p.kid) != "valve-7-ed" || p.alg != EdDSA || string(p.payload) != "p" {
			t.Fatalf("%+v\nparsed as %+v", c, got)
		}
	}
}

func TestSignerRefuses(t *testing.T) {
	s := mustSigner(t, "k", edPriv)
	for _, c := range []Claims{
		{Topic: "a", Mode: Sequence},
		{Identity: "a", Topic: "a/+", Mode: Sequence},
		{Identity: "a", Topic: "", Mode: Sequence},
		{Identity: "a", Topic: "a", IssuedAt: -1, Mode: Sequence},
		{Identity: "a", Topic: "a", IssuedAt: 10, ExpiresAt: 9, Mode: Sequence},
		{Identity: "a", Topic: "a"},
		{Identity: "a", Topic: "a", Mode: Nonce, Seq: 1},
		{Identity: "a", Topic: "a", Mode: Sequence, Nonce: [NonceSize]byte{1}},
	} {
		if _, err := s.Detached(&c, nil, nil); err == nil {
			t.Errorf("%+v signed", c)
		}
	}
	if _, err := NewSigner("has space", edPriv); err == nil {
		t.Error("kid with a space")
	}
}

// TestSubscriberVerify checks the subscriber-side functions, which check
// the key and the topic but leave freshness and replay to the caller.
func TestSubscriberVerify(t *testing.T) {
	keys := testKeys(t)
	ed := mustSigner(t, "valve-7-ed", edPriv)
	ec := mustSigner(t, "valve-7-ec", ecPriv())
	c := claimsAt(cmdTopic, 12345, 1) // stale: a subscriber may still read it
	pr := props("text/plain", 1)
	for _, s := range []*Signer{ed, ec} {
		v, _ := s.Detached(&c, []byte("open"), pr)
		got, key, why := VerifyDetached(keys, cmdTopic, []byte("open"), pr, v)
		if why != OK || got != c || key.ID != s.KeyID() {
			t.Fatalf("%v: %v %+v", s.Alg(), why, got)
		}
		if _, _, why := VerifyDetached(keys, "plant/8/valve/cmd", []byte("open"), pr, v); why != ReasonWrongTopic {
			t.Fatalf("wrong topic: %v", why)
		}
		if _, _, why := VerifyDetached(keys, cmdTopic, []byte("shut"), pr, v); why != ReasonBadSignature {
			t.Fatalf("payload: %v", why)
		}
		if _, _, why := VerifyDetached(keys, cmdTopic, []byte("open"), nil, v); why != ReasonBadSignature {
			t.Fatalf("properties dropped: %v", why)
		}
		env, _ := s.Envelope(&c, []byte("open"), nil)
		payload, got, _, why := OpenEnvelope(keys, cmdTopic, env, nil)
		if why != OK || string(payload) != "open" || got != c {
			t.Fatalf("envelope: %v", why)
		}
		if _, _, _, why := OpenEnvelope(keys, cmdTopic, []byte("open"), nil); why != ReasonMalformed {
			t.Fatalf("not an envelope: %v", why)
		}
	}
	bad := c
	bad.Identity = "valve-8"
	v, _ := ed.Detached(&bad, nil, nil)
	if _, _, why := VerifyDetached(keys, cmdTopic, nil, nil, v); why != ReasonIdentity {
		t.Fatalf("identity: %v", why)
	}
	if _, _, why := VerifyDetached(keys, cmdTopic, nil, nil, v+"\n"); why != ReasonMalformed {
		t.Fatalf("newline: %v", why)
	}
	v, _ = mustSigner(t, "nobody", edPriv).Detached(&c, nil, nil)
	if _, _, why := VerifyDetached(keys, cmdTopic, nil, nil, v); why != ReasonUnknownKey {
		t.Fatalf("unknown: %v", why)
	}
}

// TestRawToDER compares the r||s to DER conversion with encoding/asn1 for
// values with leading zeros and high bits.
func TestRawToDER(t *testing.T) {
	vals := [][]byte{
		bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x7f}, 32), make([]byte, 32),
		append(make([]byte, 31), 1), append(make([]byte, 31), 0x80), append([]byte{0, 0x80}, make([]byte, 30)...),
	}
	for _, r := range vals {
		for _, s := range vals {
			want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
			if err != nil {
				t.Fatal(err)
			}
			if got := rawToDER(nil, append(append([]byte{}, r...), s...)); !bytes.Equal(got, want) {
				t.Fatalf("%x %x:\n%x\nwant\n%x", r, s, got, want)
			}
		}
	}
	// And a real signature through both paths.
	h := sha256.Sum256([]byte("x"))
	der, _ := ecdsa.SignASN1(nil, ecPriv(), h[:])
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	rs.R.FillBytes(raw[:32])
	rs.S.FillBytes(raw[32:])
	if !ecdsa.VerifyASN1(&ecPriv().PublicKey, h[:], rawToDER(nil, raw)) {
		t.Fatal("converted signature does not verify")
	}
}

// TestSigStructure checks SigStructure against the signature: what it
// returns is what was signed.
func TestSigStructure(t *testing.T) {
	pr := &packet.Properties{CorrelationData: []byte{}}
	pr.Set(packet.PropCorrelationData) // present and empty is not absent
	c := claimsAt(cmdTopic, t0, 1)
	for _, attach := range []bool{false, true} {
		msg, _ := mustSigner(t, "k", edPriv).Sign1(&c, []byte("open"), pr, attach)
		tbs, err := SigStructure(msg, pr, []byte("open"))
		if err != nil {
			t.Fatal(err)
		}
		var s sign1
		_ = parseSign1(msg, &s)
		if !verifySig(edPriv.Public(), tbs, s.sig) {
			t.Fatal("SigStructure is not what was signed")
		}
		if tbs2, _ := SigStructure(msg, nil, []byte("open")); bytes.Equal(tbs, tbs2) {
			t.Fatal("empty correlation data signed like none")
		}
	}
	if _, err := SigStructure([]byte{0}, nil, nil); err == nil {
		t.Fatal("garbage accepted")
	}
}
