package signed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed/cbor"
	"github.com/moatmq/moat/internal/topic"
)

// b64 is the encoding of the moat-sig user property: base64url without
// padding, with non-zero trailing bits refused.
var b64 = base64.RawURLEncoding.Strict()

// Signer signs messages with one private key under one kid, for clients,
// tools and tests. It is safe for concurrent use.
type Signer struct {
	kid string
	alg Alg
	ed  ed25519.PrivateKey
	ec  *ecdsa.PrivateKey
}

// NewSigner returns a Signer for an Ed25519 or ECDSA P-256 private key.
func NewSigner(kid string, key crypto.Signer) (*Signer, error) {
	if kid == "" || len(kid) > MaxKeyIDLength || !printable(kid) {
		return nil, errors.New("signed: kid must be 1 to 64 printable characters without spaces")
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		if len(k) == ed25519.PrivateKeySize {
			return &Signer{kid: kid, alg: EdDSA, ed: k}, nil
		}
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return &Signer{kid: kid, alg: ES256, ec: k}, nil
		}
	}
	return nil, errors.New("signed: key is neither Ed25519 nor ECDSA P-256")
}

// Alg is the signer's algorithm.
func (s *Signer) Alg() Alg { return s.alg }

// KeyID is the signer's kid.
func (s *Signer) KeyID() string { return s.kid }

// Detached signs a message for MQTT 5 and returns the value of its
// moat-sig user property: the base64url of a COSE_Sign1 with a nil
// payload. props are the PUBLISH properties the message will carry (nil
// for none); of them the response topic, correlation data, content type
// and payload format indicator are signed.
func (s *Signer) Detached(c *Claims, payload []byte, props *packet.Properties) (string, error) {
	msg, err := s.Sign1(c, payload, props, false)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(msg), nil
}

// Envelope signs a message and returns the COSE_Sign1 with the payload
// attached, to publish as the payload (MQTT 3.1.1, or MQTT 5 on a rule
// with carriage envelope).
func (s *Signer) Envelope(c *Claims, payload []byte, props *packet.Properties) ([]byte, error) {
	return s.Sign1(c, payload, props, true)
}

// Sign1 returns the tagged COSE_Sign1 of a message, with the payload
// attached or not.
func (s *Signer) Sign1(c *Claims, payload []byte, props *packet.Properties, attach bool) ([]byte, error) {
	if err := checkClaims(c); err != nil {
		return nil, err
	}
	protected := appendProtected(nil, s.alg, s.kid, c)
	tbs, start := appendSigStructure(nil, protected, props, payload)
	sig, err := s.sign(tbs[start:])
	if err != nil {
		return nil, err
	}
	n := len(protected) + len(sig) + 16
	if attach {
		n += len(payload)
	}
	b := make([]byte, 0, n)
	b = cbor.AppendTag(b, cbor.TagCOSESign1)
	b = cbor.AppendArray(b, 4)
	b = cbor.AppendBytes(b, protected)
	b = cbor.AppendMap(b, 0)
	if attach {
		b = cbor.AppendBytes(b, payload)
	} else {
		b = cbor.AppendNull(b)
	}
	return cbor.AppendBytes(b, sig), nil
}

func (s *Signer) sign(tbs []byte) ([]byte, error) {
	if s.alg == EdDSA {
		return ed25519.Sign(s.ed, tbs), nil
	}
	h := sha256.Sum256(tbs)
	r, ss, err := ecdsa.Sign(rand.Reader, s.ec, h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, SignatureSize)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}

// NewNonce returns 96 random bits for a Nonce-mode message.
func NewNonce() [NonceSize]byte {
	var n [NonceSize]byte
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails
	return n
}

// checkClaims checks what a signer is about to sign, so that it produces
// only messages the verifier can accept.
func checkClaims(c *Claims) error {
	switch {
	case c.Identity == "" || len(c.Identity) > MaxIdentityLength || !utf8.ValidString(c.Identity):
		return errors.New("signed: identity must be 1 to 1024 bytes of UTF-8")
	case c.IssuedAt < 0 || c.IssuedAt > 1<<62:
		return errors.New("signed: issue time out of range")
	case c.ExpiresAt != 0 && (c.ExpiresAt < c.IssuedAt || c.ExpiresAt > 1<<62):
		return errors.New("signed: expiry before the issue time")
	case c.Mode != Sequence && c.Mode != Nonce:
		return errors.New("signed: mode must be Sequence or Nonce")
	case c.Mode == Nonce && (c.Epoch != 0 || c.Seq != 0):
		return errors.New("signed: epoch and seq are for Sequence mode")
	case c.Mode == Sequence && c.Nonce != [NonceSize]byte{}:
		return errors.New("signed: a nonce is for Nonce mode")
	}
	if err := topic.ValidateName(c.Topic, topic.Limits{}); err != nil {
		return errors.New("signed: " + err.Error())
	}
	return nil
}

// VerifyDetached checks a moat-sig value against a message as a subscriber
// received it: its topic, payload and MQTT 5 properties. It checks the
// key (known, of the signed identity, valid at the signed issue time), the
// signature and the topic; freshness and replay are the caller's (see
// Claims). It returns the signed claims and the key when the reason is OK.
func VerifyDetached(keys *Keys, topicName string, payload []byte, props *packet.Properties, value string) (Claims, *Key, Reason) {
	if strings.ContainsAny(value, "\r\n") {
		return Claims{}, nil, ReasonMalformed
	}
	raw, err := b64.DecodeString(value)
	if err != nil {
		return Claims{}, nil, ReasonMalformed
	}
	var s sign1
	if err := parseSign1(raw, &s); err != nil || s.attached {
		return Claims{}, nil, ReasonMalformed
	}
	key, why := verifyForSubscriber(keys, &s, topicName, props, payload)
	if why != OK {
		return Claims{}, nil, why
	}
	return s.claims(), key, OK
}

// OpenEnvelope checks an attached COSE_Sign1 received as the payload of a
// message on topicName, like VerifyDetached, and returns the payload
// inside it (a slice of envelope).
func OpenEnvelope(keys *Keys, topicName string, envelope []byte, props *packet.Properties) ([]byte, Claims, *Key, Reason) {
	var s sign1
	if err := parseSign1(envelope, &s); err != nil || !s.attached {
		return nil, Claims{}, nil, ReasonMalformed
	}
	key, why := verifyForSubscriber(keys, &s, topicName, props, s.payload)
	if why != OK {
		return nil, Claims{}, nil, why
	}
	return s.payload, s.claims(), key, OK
}

func verifyForSubscriber(keys *Keys, s *sign1, topicName string, props *packet.Properties, payload []byte) (*Key, Reason) {
	if s.alg != EdDSA && s.alg != ES256 {
		return nil, ReasonAlgorithm
	}
	key := keys.Lookup(s.kid)
	switch {
	case key == nil:
		return nil, ReasonUnknownKey
	case key.Alg != s.alg:
		return nil, ReasonAlgorithm
	case string(s.iss) != key.Identity:
		return nil, ReasonIdentity
	}
	if why := keyValidAt(key, s.iat); why != OK {
		return nil, why
	}
	if !verifyMessage(key, s, props, payload) {
		return nil, ReasonBadSignature
	}
	if string(s.topic) != topicName {
		return nil, ReasonWrongTopic
	}
	return key, OK
}

// keyValidAt checks the key's validity period at Unix time t.
func keyValidAt(k *Key, t int64) Reason {
	if !k.NotBefore.IsZero() && t < k.NotBefore.Unix() {
		return ReasonKeyNotYetValid
	}
	if !k.NotAfter.IsZero() && t >= k.NotAfter.Unix() {
		return ReasonKeyExpired
	}
	return OK
}

// verifyMessage builds the Sig_structure of s in a pooled buffer and checks
// the signature with key.
func verifyMessage(key *Key, s *sign1, props *packet.Properties, payload []byte) bool {
	bp := getBuf()
	b, start := appendSigStructure((*bp)[:0], s.protected, props, payload)
	ok := verifySig(key.Public, b[start:], s.sig)
	*bp = b
	putBuf(bp)
	return ok
}
