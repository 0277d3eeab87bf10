// Package mqttsig signs outgoing MQTT messages and verifies incoming ones
// for Moat's signed topics (docs/signed-topics.md), with any Go MQTT
// client: it works on topics, payloads and a few property values, never
// on connections or packets.
//
// A publisher makes a Signer from its private key (Ed25519, or ECDSA P-256
// for secure elements), the key id the operator registered and the
// identity it authenticates with. For an MQTT 5 PUBLISH it calls
// Signer.Detached and adds the returned value as the user property named
// UserProperty ("moat-sig"), payload untouched. For MQTT 3.1.1 (or a topic
// whose rule says carriage: envelope) it calls Signer.Envelope and
// publishes the envelope instead of the payload. Each message carries the
// issue time and either a boot epoch and a growing sequence number (the
// default: the Signer counts) or a random 96-bit nonce.
//
// A subscriber makes a Verifier from the key registry it trusts (the
// operator's, never one the broker hands out) and calls Verify for every
// message it receives. Verify checks the key and its binding to the signed
// identity, the signature, the topic, the retain intent, freshness and,
// with its own replay window, that the message was not seen before. It
// returns the signed claims or a *VerifyError whose Reason says why not.
package mqttsig

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
)

// UserProperty is the name of the MQTT 5 user property that carries a
// detached signature. A message carries at most one.
const UserProperty = signed.PropertyName

// Properties are the MQTT 5 PUBLISH properties that a signature covers. A
// nil field is an absent property; a non-nil empty one is present and
// empty, which signs differently. MQTT 3.1.1 messages have none.
type Properties struct {
	ResponseTopic   *string
	CorrelationData []byte
	ContentType     *string
	PayloadFormat   *byte // payload format indicator, 0 or 1
}

// Message is one MQTT application message, as a publisher is about to
// send it or as a subscriber received it.
type Message struct {
	// Topic is the full topic name (never an alias).
	Topic string
	// Payload is the application payload; for an envelope received, the
	// envelope (Verify returns the payload inside).
	Payload []byte
	// Retain is the PUBLISH retain flag. A publisher must send exactly
	// the flag it signed. A subscriber passes the flag it received: the
	// broker clears it on live deliveries, so only a set flag on a
	// message signed as not retained is refused.
	Retain bool
	// Properties are the signed MQTT 5 properties.
	Properties Properties
	// Signature is the value of the moat-sig user property, "" when the
	// message has none (set by subscribers; see SignatureOf).
	Signature string
}

// SignatureOf returns the moat-sig value among a message's user
// properties, given as a function over (key, value) pairs so that it fits
// any client library's representation. It reports false when there is
// none, and an error when there are several (the broker refuses those).
func SignatureOf(each func(yield func(key, value string) bool)) (string, bool, error) {
	var value string
	n := 0
	each(func(k, v string) bool {
		if k == UserProperty {
			value = v
			n++
		}
		return true
	})
	switch n {
	case 0:
		return "", false, nil
	case 1:
		return value, true, nil
	}
	return "", false, errors.New("mqttsig: more than one moat-sig user property")
}

// props converts p to the codec's form; nil when none is present.
func (p *Properties) props() *packet.Properties {
	var out packet.Properties
	if p.ResponseTopic != nil {
		out.ResponseTopic = *p.ResponseTopic
		out.Set(packet.PropResponseTopic)
	}
	if p.CorrelationData != nil {
		out.CorrelationData = p.CorrelationData
		out.Set(packet.PropCorrelationData)
	}
	if p.ContentType != nil {
		out.ContentType = *p.ContentType
		out.Set(packet.PropContentType)
	}
	if p.PayloadFormat != nil {
		out.PayloadFormat = *p.PayloadFormat
		out.Set(packet.PropPayloadFormat)
	}
	if out.Present == 0 {
		return nil
	}
	return &out
}

// Mode says how a Signer protects its messages against replay.
type Mode uint8

// The replay modes.
const (
	// Sequence signs a boot epoch and a sequence number that grows by one
	// per message. It needs one Signer per key at a time: two processes
	// signing with one key in one epoch refuse each other's messages.
	Sequence Mode = iota
	// Nonce signs 96 random bits per message, for rules with replay:
	// nonce or any.
	Nonce
)

// SignerConfig configures a Signer.
type SignerConfig struct {
	// KeyID is the kid the operator registered the public key under.
	KeyID string
	// Identity is the identity the client authenticates with; the broker
	// accepts the key only from it.
	Identity string
	// Key is an ed25519.PrivateKey or a *ecdsa.PrivateKey on P-256 (or
	// anything crypto.Signer that wraps one of them).
	Key crypto.Signer
	// Mode is Sequence (default) or Nonce.
	Mode Mode
	// Epoch is the boot epoch of Sequence mode; it must be higher than at
	// any earlier start of the key's user. Zero: the time of NewSigner in
	// Unix milliseconds.
	Epoch uint64
	// FirstSeq is the first sequence number (default 1).
	FirstSeq uint64
	// Expiry, when positive, signs an absolute expiry that long after the
	// issue time (rounded up to whole seconds); the broker caps delivery
	// to it and verifiers refuse the message after it.
	Expiry time.Duration
	// Now is the clock (time.Now when nil). It must be within the
	// broker's skew (30 s by default) of the broker's clock.
	Now func() time.Time
}

// Signer signs messages with one key. It is safe for concurrent use; in
// Sequence mode each message it signs takes the next sequence number.
type Signer struct {
	s        *signed.Signer
	identity string
	mode     Mode
	epoch    uint64
	expiry   int64
	now      func() time.Time

	mu  sync.Mutex
	seq uint64 // the next sequence number
}

// NewSigner returns a Signer for c.
func NewSigner(c SignerConfig) (*Signer, error) {
	s, err := signed.NewSigner(c.KeyID, c.Key)
	if err != nil {
		return nil, err
	}
	if c.Identity == "" {
		return nil, errors.New("mqttsig: the identity is required")
	}
	if c.Mode != Sequence && c.Mode != Nonce {
		return nil, errors.New("mqttsig: unknown mode")
	}
	if c.Expiry < 0 {
		return nil, errors.New("mqttsig: negative expiry")
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	epoch := c.Epoch
	if epoch == 0 {
		epoch = uint64(now().UnixMilli())
	}
	return &Signer{s: s, identity: c.Identity, mode: c.Mode, epoch: epoch, now: now,
		expiry: int64((c.Expiry + time.Second - 1) / time.Second), seq: max(c.FirstSeq, 1)}, nil
}

// LoadPrivateKey reads a PEM private key file (PKCS #8, SEC 1 or what
// moat keys gen writes). It refuses a file that others may read or write:
// a signing key is a secret.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets others read the private key; chmod 600 it", path, st.Mode().Perm())
	}
	data := make([]byte, min(st.Size(), 64<<10))
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, err
	}
	key, err := certs.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// KeyID is the signer's kid.
func (s *Signer) KeyID() string { return s.s.KeyID() }

// Epoch is the boot epoch of Sequence mode.
func (s *Signer) Epoch() uint64 { return s.epoch }

// claims returns the claims of the next message on m.
func (s *Signer) claims(m *Message) signed.Claims {
	c := signed.Claims{Identity: s.identity, Topic: m.Topic, IssuedAt: s.now().Unix(), Retain: m.Retain}
	if s.expiry > 0 {
		c.ExpiresAt = c.IssuedAt + s.expiry
	}
	if s.mode == Nonce {
		c.Mode, c.Nonce = signed.Nonce, signed.NewNonce()
		return c
	}
	s.mu.Lock()
	c.Mode, c.Epoch, c.Seq = signed.Sequence, s.epoch, s.seq
	s.seq++
	s.mu.Unlock()
	return c
}

// Detached signs m for MQTT 5 and returns the value of its moat-sig user
// property. The PUBLISH must carry m's topic, payload, retain flag and
// properties unchanged.
func (s *Signer) Detached(m *Message) (string, error) {
	c := s.claims(m)
	return s.s.Detached(&c, m.Payload, m.Properties.props())
}

// Envelope signs m and returns the envelope to publish as the payload
// (MQTT 3.1.1, or MQTT 5 on a rule with carriage: envelope), with m's
// topic, retain flag and properties.
func (s *Signer) Envelope(m *Message) ([]byte, error) {
	c := s.claims(m)
	return s.s.Envelope(&c, m.Payload, m.Properties.props())
}
