package mqttsig

import (
	"crypto"
	"errors"
	"time"

	"github.com/moatmq/moat/internal/signed"
)

// Keys is a key registry: key ids bound to public keys and to the one
// identity each may sign for. It is immutable and safe for concurrent use.
type Keys struct{ k *signed.Keys }

// LoadKeys reads a key registry file in the JSON format the broker uses
// (docs/signed-topics.md, "Key registry"). Every problem is reported with
// its path.
func LoadKeys(path string) (*Keys, error) {
	k, err := signed.LoadKeys(path)
	if err != nil {
		return nil, err
	}
	return &Keys{k}, nil
}

// ParseKeys decodes a key registry from data; dir resolves relative
// public_key_file entries.
func ParseKeys(data []byte, dir string) (*Keys, error) {
	k, err := signed.ParseKeys(data, "keys", dir)
	if err != nil {
		return nil, err
	}
	return &Keys{k}, nil
}

// Key is one trusted key for NewKeys.
type Key struct {
	ID       string           // kid
	Identity string           // the identity it signs for
	Public   crypto.PublicKey // ed25519.PublicKey or *ecdsa.PublicKey on P-256
	// NotBefore and NotAfter bound the signed issue time; zero: unbounded.
	NotBefore, NotAfter time.Time
}

// NewKeys builds a registry from keys.
func NewKeys(keys ...Key) (*Keys, error) {
	in := make([]signed.Key, len(keys))
	for i, k := range keys {
		in[i] = signed.Key{ID: k.ID, Identity: k.Identity, Public: k.Public, NotBefore: k.NotBefore, NotAfter: k.NotAfter}
	}
	k, err := signed.NewKeys(in)
	if err != nil {
		return nil, err
	}
	return &Keys{k}, nil
}

// Len is the number of keys.
func (k *Keys) Len() int { return k.k.Len() }

// Reason says why a message did not verify. Its values are the stable
// names the broker uses in audit events and metrics.
type Reason string

// The reasons a subscriber can see.
const (
	ReasonUnsigned       Reason = "missing"           // no moat-sig property and no envelope payload
	ReasonMalformed      Reason = "malformed"         // not the COSE_Sign1 layout, or several moat-sig properties
	ReasonAlgorithm      Reason = "algorithm"         // alg is not the key's
	ReasonUnknownKey     Reason = "unknown_key"       // kid not in the registry
	ReasonIdentity       Reason = "identity"          // signed for another identity than the key's
	ReasonKeyNotYetValid Reason = "key_not_yet_valid" // issued before the key's not_before
	ReasonKeyExpired     Reason = "key_expired"       // issued after the key's not_after
	ReasonBadSignature   Reason = "bad_signature"     // forged or altered
	ReasonWrongTopic     Reason = "wrong_topic"       // signed for another topic
	ReasonRetainMismatch Reason = "retain_mismatch"   // delivered retained, signed as not retained
	ReasonStale          Reason = "stale"             // issued longer ago than MaxAge
	ReasonFuture         Reason = "future"            // issued more than Skew ahead of the clock
	ReasonExpired        Reason = "expired"           // past the signed expiry
	ReasonReplayed       Reason = "replayed"          // seen before
	ReasonTooOld         Reason = "too_old"           // older epoch, or below the sequence window
	ReasonReplayFull     Reason = "replay_store_full" // the replay state is at its bound
)

// VerifyError is a message that did not verify. Claims is set for the
// reasons after ReasonBadSignature: the signature was valid, the use not.
type VerifyError struct {
	Reason Reason
	Claims *Claims
}

func (e *VerifyError) Error() string { return "mqttsig: message not verified: " + string(e.Reason) }

// Claims is what a verified message was signed with.
type Claims struct {
	KeyID     string
	Alg       string // "ed25519" or "es256"
	Identity  string // the publisher's identity, bound to KeyID
	Topic     string
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: none
	Retain    bool      // the retain intent
	// Sequence mode: Epoch and Seq. Nonce mode: Nonce.
	Sequence   bool
	Epoch, Seq uint64
	Nonce      []byte
	// Envelope is set when the signature was an envelope payload; Payload
	// is then the payload inside it, otherwise the message's.
	Envelope bool
	Payload  []byte
}

// Default bounds of a Verifier.
const (
	DefaultMaxAge = 30 * time.Second
	DefaultSkew   = 30 * time.Second
)

// VerifierConfig configures a Verifier. The zero value is usable.
type VerifierConfig struct {
	// MaxAge is how long after its issue time a message is accepted:
	// default DefaultMaxAge; negative, any age. It applies to retained
	// messages too: a subscriber that wants old retained state sets it
	// accordingly.
	MaxAge time.Duration
	// Skew is how far ahead of the clock the issue time may be: default
	// DefaultSkew.
	Skew time.Duration
	// NoReplayCheck turns the replay window off (for tools that look at
	// one captured message).
	NoReplayCheck bool
	// MaxWindows, MaxNonces and MaxNoncesPerKey bound the replay state
	// like the broker's policy; zero takes the broker's defaults.
	MaxWindows, MaxNonces, MaxNoncesPerKey int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verifier checks received messages against a key registry and keeps a
// replay window per key. It is safe for concurrent use.
type Verifier struct {
	keys   *signed.Keys
	maxAge int64 // seconds; < 0: any
	skew   int64
	guard  *signed.ReplayGuard // nil: no replay check
	now    func() time.Time
}

// NewVerifier returns a Verifier trusting keys.
func NewVerifier(keys *Keys, c VerifierConfig) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("mqttsig: no key registry")
	}
	v := &Verifier{keys: keys.k, now: c.Now, maxAge: secs(c.MaxAge, DefaultMaxAge), skew: secs(c.Skew, DefaultSkew)}
	if c.Skew < 0 {
		return nil, errors.New("mqttsig: negative skew")
	}
	if v.now == nil {
		v.now = time.Now
	}
	if !c.NoReplayCheck {
		// Nonces are kept as long as a message could still be fresh; with
		// no age bound, until the bounds force a refusal (fail closed).
		keep := time.Duration(v.maxAge) * time.Second
		if v.maxAge < 0 {
			keep = 1 << 62
		}
		v.guard = signed.NewReplayGuard(keep, c.MaxWindows, c.MaxNonces, c.MaxNoncesPerKey)
	}
	return v, nil
}

func secs(d, def time.Duration) int64 {
	switch {
	case d == 0:
		d = def
	case d < 0:
		return -1
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Verify checks a received message: a moat-sig signature when
// m.Signature is set, otherwise an envelope payload. In order: the
// layout, the key and its identity, the key's validity at the signed
// issue time, the signature, the topic, the retain intent, freshness, the
// signed expiry and replay. A message delivered with the retain flag set
// (retained state replayed by the broker on subscribe) is not entered in
// the replay window: the broker sends it again on every subscription.
func (v *Verifier) Verify(m *Message) (*Claims, error) {
	var (
		c       signed.Claims
		key     *signed.Key
		why     signed.Reason
		payload = m.Payload
		env     bool
	)
	props := m.Properties.props()
	switch {
	case m.Signature != "":
		c, key, why = signed.VerifyDetached(v.keys, m.Topic, m.Payload, props, m.Signature)
	case len(m.Payload) > 0 && (m.Payload[0] == 0xd2 || m.Payload[0] == 0x84):
		payload, c, key, why = signed.OpenEnvelope(v.keys, m.Topic, m.Payload, props)
		env = true
	default:
		return nil, &VerifyError{Reason: ReasonUnsigned}
	}
	if why != signed.OK {
		return nil, &VerifyError{Reason: Reason(why.String())}
	}
	out := claimsOf(key, &c, payload, env)
	now := v.now()
	t := now.Unix()
	switch {
	case m.Retain && !c.Retain:
		why = signed.ReasonRetainMismatch
	case v.maxAge >= 0 && c.IssuedAt < t-v.maxAge:
		why = signed.ReasonStale
	case c.IssuedAt > t+v.skew:
		why = signed.ReasonFuture
	case c.ExpiresAt != 0 && t >= c.ExpiresAt:
		why = signed.ReasonExpired
	case v.guard != nil && !m.Retain:
		why = v.guard.Admit(key, &c, now)
	}
	if why != signed.OK {
		return nil, &VerifyError{Reason: Reason(why.String()), Claims: out}
	}
	return out, nil
}

func claimsOf(key *signed.Key, c *signed.Claims, payload []byte, env bool) *Claims {
	out := &Claims{KeyID: key.ID, Alg: key.Alg.String(), Identity: c.Identity, Topic: c.Topic,
		IssuedAt: time.Unix(c.IssuedAt, 0), Retain: c.Retain, Envelope: env, Payload: payload}
	if c.ExpiresAt != 0 {
		out.ExpiresAt = time.Unix(c.ExpiresAt, 0)
	}
	if c.Mode == signed.Sequence {
		out.Sequence, out.Epoch, out.Seq = true, c.Epoch, c.Seq
	} else {
		out.Nonce = append([]byte(nil), c.Nonce[:]...)
	}
	return out
}

// TrustOperator returns the registry of the keys in k whose binding to
// their identity the operator key op signed (moat keys bind
// --operator-key), and the kids of the keys it left out. A subscriber that
// trusts the operator key, and no one else, verifies with the result: a
// key added to the registry by anyone else (a compromised broker, say) is
// then unknown.
func (k *Keys) TrustOperator(op crypto.PublicKey) (*Keys, []string, error) {
	out, dropped, err := k.k.TrustOperator(op)
	if err != nil {
		return nil, nil, err
	}
	return &Keys{out}, dropped, nil
}
