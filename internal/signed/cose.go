package signed

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"sync"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed/cbor"
)

// Context is the domain-separation string, the first element of the
// external_aad of every signature: a signature made for anything else with
// the same key never verifies here, and one made here never verifies
// elsewhere. A new layout gets a new context.
const Context = "moat-signed-topic/v1"

// PropertyName is the name of the MQTT 5 user property that carries a
// detached signature.
const PropertyName = "moat-sig"

// NonceSize is the length of a nonce, 96 bits.
const NonceSize = 12

// SignatureSize is the length of an Ed25519 signature and of an ES256 one
// in the r||s form of RFC 9053 section 2.1.
const SignatureSize = 64

// Alg is a COSE algorithm identifier (RFC 9053).
type Alg int64

// The algorithms of signed topics.
const (
	EdDSA Alg = -8 // Ed25519 (RFC 9053 section 2.2), the default
	ES256 Alg = -7 // ECDSA P-256 with SHA-256 (RFC 9053 section 2.1)
)

// String is the name used in configuration and key files.
func (a Alg) String() string {
	switch a {
	case EdDSA:
		return "ed25519"
	case ES256:
		return "es256"
	}
	return "alg(" + itoa(int64(a)) + ")"
}

// ParseAlg returns the Alg named s ("ed25519" or "es256").
func ParseAlg(s string) (Alg, bool) {
	switch s {
	case "ed25519":
		return EdDSA, true
	case "es256":
		return ES256, true
	}
	return 0, false
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Header parameters of the protected header (RFC 9052 section 3.1,
// RFC 9597 for label 15) and the claims of the CWT Claims map (RFC 8392
// section 4 for 1..7; private-use labels, below -65536, for the rest).
const (
	labelAlg = 1
	labelKid = 4
	labelCWT = 15

	claimIss    = 1      // publisher identity, text
	claimExp    = 4      // absolute expiry, Unix seconds, optional
	claimIat    = 6      // issue time, Unix seconds
	claimCti    = 7      // nonce, 12 bytes (nonce mode)
	claimTopic  = -65537 // full topic name, text
	claimRetain = -65538 // retain intent, bool
	claimEpoch  = -65539 // boot epoch, uint (sequence mode)
	claimSeq    = -65540 // sequence number, uint (sequence mode)
)

// Mode says how a message is protected against replay.
type Mode uint8

// The replay modes. A message carries exactly one.
const (
	// Sequence: a boot epoch and a sequence number; the verifier accepts a
	// higher epoch, and in the current epoch a sequence number above the
	// highest seen or inside the 64-wide window below it, each once.
	Sequence Mode = iota + 1
	// Nonce: 96 random bits; the verifier remembers each nonce for as long
	// as the message is fresh.
	Nonce
)

// String is the name used in configuration.
func (m Mode) String() string {
	switch m {
	case Sequence:
		return "sequence"
	case Nonce:
		return "nonce"
	}
	return "mode(" + itoa(int64(m)) + ")"
}

// Claims is what a publisher signs beside the payload and the MQTT 5
// properties of external_aad. Times are whole Unix seconds.
type Claims struct {
	Identity  string // the publisher's authenticated identity (iss)
	Topic     string // the full topic name, after topic alias resolution
	IssuedAt  int64  // iat, >= 0
	ExpiresAt int64  // exp, 0 for none; otherwise >= IssuedAt
	Retain    bool   // the PUBLISH must carry this retain flag
	Mode      Mode
	Epoch     uint64          // Sequence mode
	Seq       uint64          // Sequence mode
	Nonce     [NonceSize]byte // Nonce mode
}

// sign1 is a decoded COSE_Sign1 whose byte and text fields are views of
// the input: it lives no longer than the buffer it was parsed from.
type sign1 struct {
	protected []byte // the serialized protected header, as signed
	alg       Alg
	kid       []byte
	iss       []byte
	topic     []byte
	iat, exp  int64
	hasExp    bool
	retain    bool
	mode      Mode
	epoch     uint64
	seq       uint64
	nonce     []byte
	payload   []byte // nil when detached
	attached  bool
	sig       []byte
}

// claims copies the claims out of s.
func (s *sign1) claims() Claims {
	c := Claims{Identity: string(s.iss), Topic: string(s.topic), IssuedAt: s.iat, Retain: s.retain,
		Mode: s.mode, Epoch: s.epoch, Seq: s.seq}
	if s.hasExp {
		c.ExpiresAt = s.exp
	}
	copy(c.Nonce[:], s.nonce)
	return c
}

// parseError is a malformed COSE_Sign1; its text says what, for tools and
// tests. The verifier reports it as ReasonMalformed.
type parseError struct{ msg string }

func (e *parseError) Error() string { return "signed: " + e.msg }

func malformed(msg string) error { return &parseError{msg} }

// parseSign1 decodes a COSE_Sign1, tagged (18) or not, into s. It accepts
// only the layout of docs/signed-topics.md in deterministic CBOR: every
// field required, nothing unknown, an empty unprotected header.
func parseSign1(data []byte, s *sign1) error {
	d := cbor.NewDecoder(data)
	if m, err := d.Peek(); err != nil {
		return err
	} else if m == cbor.MajorTag {
		tag, err := d.Tag()
		if err != nil {
			return err
		}
		if tag != cbor.TagCOSESign1 {
			return malformed("tag is not COSE_Sign1 (18)")
		}
	}
	n, err := d.Array()
	if err != nil {
		return err
	}
	if n != 4 {
		return malformed("COSE_Sign1 is not an array of 4")
	}
	if s.protected, err = d.Bytes(); err != nil {
		return err
	}
	if err := parseProtected(s.protected, s); err != nil {
		return err
	}
	if n, err := d.Map(); err != nil {
		return err
	} else if n != 0 {
		return malformed("unprotected header is not empty")
	}
	s.payload, s.attached = nil, false
	if !d.Null() {
		if s.payload, err = d.Bytes(); err != nil {
			return err
		}
		s.attached = true
	}
	if s.sig, err = d.Bytes(); err != nil {
		return err
	}
	if len(s.sig) != SignatureSize {
		return malformed("signature is not 64 bytes")
	}
	if !d.Done() {
		return malformed("trailing bytes after COSE_Sign1")
	}
	return nil
}

// parseProtected decodes the protected header: {1: alg, 4: kid, 15: claims}.
func parseProtected(data []byte, s *sign1) error {
	d := cbor.NewDecoder(data)
	n, err := d.Map()
	if err != nil {
		return err
	}
	if n != 3 {
		return malformed("protected header does not have exactly alg, kid and claims")
	}
	for _, want := range [3]int64{labelAlg, labelKid, labelCWT} {
		if l, err := d.Int(); err != nil {
			return err
		} else if l != want {
			return malformed("protected header does not have exactly alg, kid and claims")
		}
		switch want {
		case labelAlg:
			a, err := d.Int()
			if err != nil {
				return err
			}
			s.alg = Alg(a)
		case labelKid:
			if s.kid, err = d.Bytes(); err != nil {
				return err
			}
		case labelCWT:
			if err := parseClaims(d, s); err != nil {
				return err
			}
		}
	}
	if !d.Done() {
		return malformed("trailing bytes after the protected header")
	}
	return nil
}

// parseClaims decodes the CWT Claims map. Keys must come in deterministic
// order, which for these integer keys is 1, 4, 6, 7, -65537, -65538,
// -65539, -65540.
func parseClaims(d *cbor.Decoder, s *sign1) error {
	n, err := d.Map()
	if err != nil {
		return err
	}
	var order cbor.KeyOrder
	var seen uint16
	s.hasExp, s.nonce, s.mode = false, nil, 0
	for i := 0; i < n; i++ {
		start := d.Offset()
		key, err := d.Int()
		if err != nil {
			return err
		}
		if err := order.Next(d, start); err != nil {
			return err
		}
		bit := claimBit(key)
		if bit == 0 {
			return malformed("unknown claim " + itoa(key))
		}
		seen |= bit
		if err := parseClaim(d, key, s); err != nil {
			return err
		}
	}
	const required = 1<<1 | 1<<2 | 1<<3 | 1<<4 // iss, iat, topic, retain
	const seq = 1<<5 | 1<<6                    // epoch, seq
	const cti = 1 << 7
	switch {
	case seen&required != required:
		return malformed("claims lack iss, iat, topic or retain")
	case seen&(seq|cti) == seq:
		s.mode = Sequence
	case seen&(seq|cti) == cti:
		s.mode = Nonce
	default:
		return malformed("claims need exactly one of (epoch, seq) and cti")
	}
	if s.hasExp && s.exp < s.iat {
		return malformed("exp before iat")
	}
	return nil
}

func claimBit(key int64) uint16 {
	switch key {
	case claimIss:
		return 1 << 1
	case claimIat:
		return 1 << 2
	case claimTopic:
		return 1 << 3
	case claimRetain:
		return 1 << 4
	case claimEpoch:
		return 1 << 5
	case claimSeq:
		return 1 << 6
	case claimCti:
		return 1 << 7
	case claimExp:
		return 1 << 8
	}
	return 0
}

func parseClaim(d *cbor.Decoder, key int64, s *sign1) (err error) {
	switch key {
	case claimIss:
		s.iss, err = d.Text()
		if err == nil && len(s.iss) == 0 {
			err = malformed("empty iss")
		}
	case claimTopic:
		s.topic, err = d.Text()
	case claimRetain:
		s.retain, err = d.Bool()
	case claimIat, claimExp:
		var v uint64
		if v, err = d.Uint(); err == nil && v > 1<<62 {
			err = malformed("time out of range")
		}
		if key == claimIat {
			s.iat = int64(v)
		} else {
			s.exp, s.hasExp = int64(v), true
		}
	case claimEpoch:
		s.epoch, err = d.Uint()
	case claimSeq:
		s.seq, err = d.Uint()
	case claimCti:
		s.nonce, err = d.Bytes()
		if err == nil && len(s.nonce) != NonceSize {
			err = malformed("cti is not a 12-byte nonce")
		}
	}
	return err
}

// appendProtected appends the serialized protected header of c signed by
// kid with alg. c must be valid (see checkClaims).
func appendProtected(b []byte, alg Alg, kid string, c *Claims) []byte {
	b = cbor.AppendMap(b, 3)
	b = cbor.AppendInt(b, labelAlg)
	b = cbor.AppendInt(b, int64(alg))
	b = cbor.AppendInt(b, labelKid)
	b = cbor.AppendBytes(b, []byte(kid))
	b = cbor.AppendInt(b, labelCWT)
	n := 4 // iss, iat, topic, retain
	if c.ExpiresAt != 0 {
		n++
	}
	if c.Mode == Sequence {
		n += 2
	} else {
		n++
	}
	b = cbor.AppendMap(b, n)
	b = cbor.AppendInt(b, claimIss)
	b = cbor.AppendText(b, c.Identity)
	if c.ExpiresAt != 0 {
		b = cbor.AppendInt(b, claimExp)
		b = cbor.AppendUint(b, uint64(c.ExpiresAt))
	}
	b = cbor.AppendInt(b, claimIat)
	b = cbor.AppendUint(b, uint64(c.IssuedAt))
	if c.Mode == Nonce {
		b = cbor.AppendInt(b, claimCti)
		b = cbor.AppendBytes(b, c.Nonce[:])
	}
	b = cbor.AppendInt(b, claimTopic)
	b = cbor.AppendText(b, c.Topic)
	b = cbor.AppendInt(b, claimRetain)
	b = cbor.AppendBool(b, c.Retain)
	if c.Mode == Sequence {
		b = cbor.AppendInt(b, claimEpoch)
		b = cbor.AppendUint(b, c.Epoch)
		b = cbor.AppendInt(b, claimSeq)
		b = cbor.AppendUint(b, c.Seq)
	}
	return b
}

// appendExternalAAD appends the external_aad: the CBOR array [Context,
// response topic, correlation data, content type, payload format
// indicator], each property null when absent. props may be nil (MQTT 3.x).
func appendExternalAAD(b []byte, props *packet.Properties) []byte {
	b = cbor.AppendArray(b, 5)
	b = cbor.AppendText(b, Context)
	if props == nil {
		return append(b, cbor.Null, cbor.Null, cbor.Null, cbor.Null)
	}
	if props.Has(packet.PropResponseTopic) {
		b = cbor.AppendText(b, props.ResponseTopic)
	} else {
		b = cbor.AppendNull(b)
	}
	if props.Has(packet.PropCorrelationData) {
		b = cbor.AppendBytes(b, props.CorrelationData)
	} else {
		b = cbor.AppendNull(b)
	}
	if props.Has(packet.PropContentType) {
		b = cbor.AppendText(b, props.ContentType)
	} else {
		b = cbor.AppendNull(b)
	}
	if props.Has(packet.PropPayloadFormat) {
		b = cbor.AppendUint(b, uint64(props.PayloadFormat))
	} else {
		b = cbor.AppendNull(b)
	}
	return b
}

// appendSigStructure appends the Sig_structure of RFC 9052 section 4.4,
// ["Signature1", protected, external_aad, payload], and returns the
// extended buffer and the offset at which the Sig_structure starts (the
// external_aad is built first, in front of it).
func appendSigStructure(b, protected []byte, props *packet.Properties, payload []byte) ([]byte, int) {
	aadStart := len(b)
	b = appendExternalAAD(b, props)
	aadEnd := len(b)
	b = cbor.AppendArray(b, 4)
	b = cbor.AppendText(b, "Signature1")
	b = cbor.AppendBytes(b, protected)
	b = cbor.AppendHead(b, cbor.MajorBytes, uint64(aadEnd-aadStart))
	b = append(b, b[aadStart:aadEnd]...)
	b = cbor.AppendBytes(b, payload)
	return b, aadEnd
}

// SigStructure returns the bytes a signature covers, for tools and
// independent implementations: the Sig_structure of the COSE_Sign1 msg
// (tagged or not, detached or attached) for the given MQTT 5 properties
// (nil for MQTT 3.x) and payload (ignored when msg is attached).
func SigStructure(msg []byte, props *packet.Properties, payload []byte) ([]byte, error) {
	var s sign1
	if err := parseSign1(msg, &s); err != nil {
		return nil, err
	}
	if s.attached {
		payload = s.payload
	}
	b, start := appendSigStructure(nil, s.protected, props, payload)
	return b[start:], nil
}

// bufPool holds scratch buffers for decoding and Sig_structures. Buffers
// that grew beyond maxPooled (large payloads) are not kept.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooled = 64 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// verifySig checks sig over tbs (the Sig_structure) with pub, whose type
// fixes the algorithm. ES256 signatures are r||s (RFC 9053 section 2.1).
func verifySig(pub any, tbs, sig []byte) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, tbs, sig)
	case *ecdsa.PublicKey:
		if len(sig) != SignatureSize {
			return false
		}
		h := sha256.Sum256(tbs)
		var der [2 + 2*(2+33)]byte
		return ecdsa.VerifyASN1(k, h[:], rawToDER(der[:0], sig))
	}
	return false
}

// rawToDER appends, for an r||s signature of two 32-byte big-endian
// integers, the ASN.1 DER SEQUENCE { INTEGER r, INTEGER s } that
// crypto/ecdsa takes. A zero r or s becomes the INTEGER 0, which VerifyASN1
// refuses. The result is at most 72 bytes, so every length is one byte.
func rawToDER(b, sig []byte) []byte {
	start := len(b)
	b = append(b, 0x30, 0)
	b = appendDERInt(b, sig[:32])
	b = appendDERInt(b, sig[32:])
	b[start+1] = byte(len(b) - start - 2)
	return b
}

// appendDERInt appends a non-negative big-endian integer as a DER INTEGER:
// leading zeros trimmed, a zero byte in front of a high bit.
func appendDERInt(b, v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if v[0]&0x80 != 0 {
		b = append(b, 0x02, byte(len(v)+1), 0)
	} else {
		b = append(b, 0x02, byte(len(v)))
	}
	return append(b, v...)
}
