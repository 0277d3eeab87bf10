package signed

import (
	"github.com/moatmq/moat/internal/auth"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Message is an inbound PUBLISH as the verifier needs it, after topic alias
// resolution, topic validation and the publish ACL.
type Message struct {
	Topic      string             // full topic name, alias resolved
	Identity   string             // the connection's authenticated identity
	Version    packet.Version     // V31, V311 or V5
	Payload    []byte             // as received
	Retain     bool               // the PUBLISH retain flag
	Properties *packet.Properties // MQTT 5 properties; nil for MQTT 3.x
	// CertKey is the public key of the connection's verified client
	// certificate when Identity is the certificate's identity; nil
	// otherwise. It verifies messages whose kid is its SPKIKeyID when the
	// registry lists Identity in certificate_keys.
	CertKey any
	// TokenKeys are the keys the connection's login token binds to
	// Identity (auth.Identity.SigningKeys). They verify messages whose kid
	// is theirs when the registry lists Identity in token_keys.
	TokenKeys []auth.SigningKey
}

// Decision is what the broker does with a message Check looked at. When
// Check's reason is OK the message is routed as usual; otherwise it is not
// routed, an MQTT 5 publisher gets Code in its PUBACK/PUBREC (QoS 1, 2),
// and an MQTT 3.x publisher is dropped silently, or disconnected when
// Disconnect is set.
type Decision struct {
	// Signed is set when the topic matched a signed rule.
	Signed bool
	// Rule is the topic filter of that rule, for audit details.
	Rule string
	// KeyID is the kid of the key that verified, or of the key that was
	// looked up when a later check failed; empty before the lookup.
	KeyID string
	// Expiry is the signed absolute expiry, zero if none. The broker caps
	// the outgoing message expiry to it.
	Expiry time.Time
	// Code is the MQTT 5 reason code of a refusal: NotAuthorized (0x87)
	// or PayloadFormatInvalid (0x99), per rule. Zero when accepted.
	Code packet.ReasonCode
	// Disconnect is set on a refusal of an MQTT 3.x publisher whose rule
	// says mqtt3_action: disconnect.
	Disconnect bool
}

// Verifier enforces a Policy with a key registry and keeps the replay
// state. It is safe for concurrent use; policy and keys are swapped
// atomically on reload and the replay state survives both.
type Verifier struct {
	policy atomic.Pointer[Policy]
	keys   atomic.Pointer[Keys]
	now    func() time.Time
	start  atomic.Int64 // Unix seconds when the replay state began
	replay *replayStore
}

// NewVerifier returns a Verifier for p and k, reading the time from now
// (time.Now when nil). Its replay state is empty, so messages issued
// before now plus the skew are refused (ReasonRestart) unless the policy
// allows replay after restart.
func NewVerifier(p *Policy, k *Keys, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now, replay: newReplayStore()}
	v.start.Store(now().Unix())
	v.SetPolicy(p)
	v.SetKeys(k)
	return v
}

// SetPolicy replaces the policy (nil: no topic is signed).
func (v *Verifier) SetPolicy(p *Policy) {
	if p != nil {
		v.replay.raiseKeep(p.maxSkew)
	}
	v.policy.Store(p)
}

// SetKeys replaces the key registry (nil: no key is known, every signed
// message is refused).
func (v *Verifier) SetKeys(k *Keys) { v.keys.Store(k) }

// Keys returns the key registry in force.
func (v *Verifier) Keys() *Keys { return v.keys.Load() }

// Signed reports whether a topic name falls under a signed rule. It does
// not allocate and costs a map lookup for a topic whose first level no
// rule names.
func (v *Verifier) Signed(topicName string) bool {
	r, _ := v.policy.Load().match(topicName)
	return r != nil
}

// Sweep forgets the replay state that can no longer match a fresh message.
// The store also does this itself at its bounds; the broker calls Sweep on
// a timer so that memory follows the load down.
func (v *Verifier) Sweep() { v.replay.sweep(v.now().Unix()) }

// Stats returns the size of the replay state.
func (v *Verifier) Stats() Stats { return v.replay.stats() }

// Check verifies a message. On a topic no rule marks signed it returns
// (Decision{}, OK) at once. Otherwise it checks, in this order, and returns
// the first failure: the carriage and size of the signature, the
// COSE_Sign1 layout, the algorithm, the key and its binding to m.Identity,
// the key's validity, the signature, the topic, the retain flag, the
// replay mode, freshness, the restart window and replay. Only a message
// that passes everything is recorded in the replay state.
func (v *Verifier) Check(m *Message) (Decision, Reason) {
	p := v.policy.Load()
	r, filter := p.match(m.Topic)
	if r == nil {
		return Decision{}, OK
	}
	d := Decision{Signed: true, Rule: filter}
	why := v.check(p, r, m, &d)
	if why != OK {
		d.Code = r.code
		d.Disconnect = r.disconnect && m.Version != packet.V5
		d.Expiry = time.Time{}
	}
	return d, why
}

func (v *Verifier) check(p *Policy, r *rule, m *Message, d *Decision) Reason {
	var s sign1
	payload := m.Payload
	envelope := r.carriage == CarriageEnvelope || (r.carriage == CarriageAuto && m.Version != packet.V5)
	if envelope {
		if why := parseEnvelope(m.Payload, r.maxSig, &s); why != OK {
			return why
		}
		payload = s.payload
	} else {
		if m.Version != packet.V5 {
			return ReasonMissing // carriage: detached
		}
		value, why := sigProperty(m.Properties)
		if why != OK {
			return why
		}
		if b64.DecodedLen(len(value)) > r.maxSig {
			return ReasonTooLarge
		}
		bp := getBuf()
		defer putBuf(bp)
		if why := parseDetached(value, bp, &s); why != OK {
			return why
		}
	}
	if algBit(s.alg)&r.algs == 0 {
		return ReasonAlgorithm
	}
	keys := v.keys.Load()
	key := keys.Lookup(s.kid)
	if key == nil {
		key = keys.CertificateKey(m.Identity, m.CertKey, s.kid)
	}
	if key == nil {
		key = keys.TokenKey(m.Identity, m.TokenKeys, s.kid)
	}
	if key == nil {
		return ReasonUnknownKey
	}
	d.KeyID = key.ID
	now := v.now().Unix()
	switch {
	case key.Alg != s.alg:
		return ReasonAlgorithm
	case key.Identity != m.Identity:
		return ReasonKeyIdentity
	case string(s.iss) != key.Identity:
		return ReasonIdentity
	}
	if why := keyValidAt(key, now); why != OK {
		return why
	}
	if !verifyMessage(key, &s, m.Properties, payload) {
		return ReasonBadSignature
	}
	switch {
	case string(s.topic) != m.Topic:
		return ReasonWrongTopic
	case s.retain != m.Retain:
		return ReasonRetainMismatch
	case m.Retain && !r.retain:
		return ReasonRetainDenied
	case r.replay&(1<<s.mode) == 0:
		return ReasonReplayMode
	case s.iat < now-r.skew:
		return ReasonStale
	case s.iat > now+r.skew:
		return ReasonFuture
	case s.hasExp && now >= s.exp:
		return ReasonExpired
	case !p.allowRestartReplay && s.iat < v.start.Load()+r.skew:
		return ReasonRestart
	}
	k := replayKey{identity: key.Identity, kid: key.ID}
	var why Reason
	if s.mode == Sequence {
		why = v.replay.admitSeq(k, s.epoch, s.seq, s.iat, now, p.maxWindows)
	} else {
		why = v.replay.admitNonce(k, s.nonce, s.iat, now, p.maxNonces, p.maxNoncesPerKey)
	}
	if why == OK && s.hasExp {
		d.Expiry = time.Unix(s.exp, 0)
	}
	return why
}

// sigProperty returns the single moat-sig user property.
func sigProperty(props *packet.Properties) (string, Reason) {
	if props == nil {
		return "", ReasonMissing
	}
	var value string
	n := 0
	for i := range props.UserProperties {
		if props.UserProperties[i].Key == PropertyName {
			value = props.UserProperties[i].Value
			n++
		}
	}
	switch n {
	case 0:
		return "", ReasonMissing
	case 1:
		return value, OK
	}
	return "", ReasonMalformed // which one would be meant?
}

// parseDetached decodes a moat-sig value into the buffer bp and parses it
// into s, whose fields then point into *bp.
func parseDetached(value string, bp *[]byte, s *sign1) Reason {
	for i := 0; i < len(value); i++ {
		if value[i] == '\r' || value[i] == '\n' { // base64 would skip them
			return ReasonMalformed
		}
	}
	// The value is copied behind the room for the decoded bytes, so that
	// decoding needs no []byte conversion of the string.
	n := b64.DecodedLen(len(value))
	if cap(*bp) < n+len(value) {
		*bp = make([]byte, 0, n+len(value))
	}
	buf := append((*bp)[:n], value...)
	n, err := b64.Decode(buf[:n], buf[n:])
	if err != nil {
		return ReasonMalformed
	}
	if err := parseSign1(buf[:n], s); err != nil || s.attached {
		return ReasonMalformed
	}
	return OK
}

// parseEnvelope parses an envelope payload into s. A payload that does not
// start like a COSE_Sign1 (tag 18 or an array of 4) is an unsigned one.
func parseEnvelope(payload []byte, maxSig int, s *sign1) Reason {
	if len(payload) == 0 || (payload[0] != 0xd2 && payload[0] != 0x84) {
		return ReasonMissing
	}
	if err := parseSign1(payload, s); err != nil || !s.attached {
		return ReasonMalformed
	}
	if len(payload)-len(s.payload) > maxSig {
		return ReasonTooLarge
	}
	return OK
}
