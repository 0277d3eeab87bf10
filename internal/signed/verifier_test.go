package signed

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

const cmdTopic = "plant/7/valve/cmd"

// signedMsg returns an MQTT 5 message on cmdTopic signed by s with c.
func signedMsg(t *testing.T, s *Signer, c Claims, payload []byte, pr *packet.Properties) *Message {
	t.Helper()
	sig, err := s.Detached(&c, payload, pr)
	if err != nil {
		t.Fatal(err)
	}
	return v5msg(c.Topic, payload, pr, sig)
}

// envelopeMsg returns an MQTT 3.1.1 message whose payload is an envelope.
func envelopeMsg(t *testing.T, s *Signer, c Claims, payload []byte) *Message {
	t.Helper()
	env, err := s.Envelope(&c, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Message{Topic: c.Topic, Identity: "valve-7", Version: packet.V311, Payload: env}
}

// TestCheckReasons gives every reason, and the accepted cases for both
// algorithms and both carriages. Each case gets a fresh verifier whose
// clock is at t0+60.
func TestCheckReasons(t *testing.T) {
	now := int64(t0 + 60)
	ed := mustSigner(t, "valve-7-ed", edPriv)
	ec := mustSigner(t, "valve-7-ec", ecPriv())
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	pl := []byte("open")
	fresh := claimsAt(cmdTopic, now, 1)
	with := func(f func(*Claims)) Claims { c := fresh; f(&c); return c }
	edMsg := func(c Claims) func(*testing.T) *Message {
		return func(t *testing.T) *Message { return signedMsg(t, ed, c, pl, props("text/plain", 1)) }
	}
	tamper := func(f func(*Message)) func(*testing.T) *Message {
		return func(t *testing.T) *Message {
			m := signedMsg(t, ed, fresh, pl, props("text/plain", 1))
			f(m)
			return m
		}
	}
	setSig := func(m *Message, v string) {
		for i := range m.Properties.UserProperties {
			if m.Properties.UserProperties[i].Key == PropertyName {
				m.Properties.UserProperties[i].Value = v
			}
		}
	}
	getSig := func(m *Message) string {
		v, _ := sigProperty(m.Properties)
		return v
	}
	// reencode rewrites the COSE_Sign1 of a detached message.
	reencode := func(f func([]byte) []byte) func(*Message) {
		return func(m *Message) {
			raw, _ := b64.DecodeString(getSig(m))
			setSig(m, b64.EncodeToString(f(raw)))
		}
	}
	rule := cmdRule
	for _, tc := range []struct {
		name string
		rule *RuleConfig // nil: cmdRule
		msg  func(*testing.T) *Message
		want Reason
	}{
		{"ed25519 detached", nil, edMsg(fresh), OK},
		{"es256 detached", nil, func(t *testing.T) *Message { return signedMsg(t, ec, fresh, pl, nil) }, OK},
		{"ed25519 envelope 3.1.1", nil, func(t *testing.T) *Message { return envelopeMsg(t, ed, fresh, pl) }, OK},
		{"es256 envelope 3.1", nil, func(t *testing.T) *Message {
			m := envelopeMsg(t, ec, fresh, pl)
			m.Version = packet.V31
			return m
		}, OK},
		{"envelope on MQTT 5", &RuleConfig{Topics: rule.Topics, Carriage: "envelope"}, func(t *testing.T) *Message {
			pr := props("application/json", 0)
			env, _ := ed.Envelope(&fresh, pl, pr)
			return &Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V5, Payload: env, Properties: pr}
		}, OK},
		{"nonce", &RuleConfig{Topics: rule.Topics, Replay: "nonce"}, edMsg(nonceClaims(cmdTopic, now)), OK},
		{"at the skew", nil, edMsg(with(func(c *Claims) { c.IssuedAt = now - 30 })), OK},
		{"at the skew ahead", nil, edMsg(with(func(c *Claims) { c.IssuedAt = now + 30 })), OK},
		{"retain allowed", &RuleConfig{Topics: rule.Topics, Retain: true}, func(t *testing.T) *Message {
			m := signedMsg(t, ed, with(func(c *Claims) { c.Retain = true }), pl, nil)
			m.Retain = true
			return m
		}, OK},
		{"response topic and correlation data", nil, func(t *testing.T) *Message {
			pr := &packet.Properties{ResponseTopic: "plant/7/valve/ack", CorrelationData: []byte{1, 2}}
			pr.Set(packet.PropResponseTopic)
			pr.Set(packet.PropCorrelationData)
			return signedMsg(t, ed, fresh, pl, pr)
		}, OK},

		{"unsigned MQTT 5", nil, func(*testing.T) *Message { return v5msg(cmdTopic, pl, nil, "") }, ReasonMissing},
		{"unsigned MQTT 3.1.1", nil, func(*testing.T) *Message {
			return &Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V311, Payload: pl}
		}, ReasonMissing},
		{"empty MQTT 3.1.1 payload", nil, func(*testing.T) *Message {
			return &Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V311}
		}, ReasonMissing},
		{"MQTT 3.1.1 on a detached rule", &RuleConfig{Topics: rule.Topics, Carriage: "detached"}, func(t *testing.T) *Message {
			return envelopeMsg(t, ed, fresh, pl)
		}, ReasonMissing},
		{"two signatures", nil, tamper(func(m *Message) {
			m.Properties.UserProperties = append(m.Properties.UserProperties, packet.UserProperty{Key: PropertyName, Value: getSig(m)})
		}), ReasonMalformed},
		{"not base64url", nil, tamper(func(m *Message) { setSig(m, getSig(m)[:20]+"+/"+getSig(m)[22:]) }), ReasonMalformed},
		{"padded base64", nil, tamper(func(m *Message) { setSig(m, getSig(m)+"==") }), ReasonMalformed},
		{"newline in base64", nil, tamper(func(m *Message) { setSig(m, getSig(m)[:40]+"\n"+getSig(m)[40:]) }), ReasonMalformed},
		{"truncated", nil, tamper(reencode(func(b []byte) []byte { return b[:len(b)-1] })), ReasonMalformed},
		{"trailing byte", nil, tamper(reencode(func(b []byte) []byte { return append(b, 0) })), ReasonMalformed},
		{"bad CBOR: long-form head", nil, tamper(reencode(func(b []byte) []byte {
			// The array head 0x84 written as 0x98 0x04.
			return append([]byte{0xd2, 0x98, 0x04}, b[2:]...)
		})), ReasonMalformed},
		{"not COSE: a text string", nil, tamper(func(m *Message) { setSig(m, b64.EncodeToString([]byte{0x61, 'a'})) }), ReasonMalformed},
		{"attached in the property", nil, func(t *testing.T) *Message {
			env, _ := ed.Envelope(&fresh, pl, nil)
			return v5msg(cmdTopic, pl, nil, b64.EncodeToString(env))
		}, ReasonMalformed},
		{"detached as an envelope", nil, func(t *testing.T) *Message {
			raw, _ := ed.Sign1(&fresh, pl, nil, false)
			return &Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V311, Payload: raw}
		}, ReasonMalformed},
		{"too large", &RuleConfig{Topics: rule.Topics, MaxSignatureBytes: 128}, edMsg(fresh), ReasonTooLarge},
		{"algorithm not accepted", &RuleConfig{Topics: rule.Topics, Algorithms: []string{"es256"}}, edMsg(fresh), ReasonAlgorithm},
		{"algorithm not the key's", nil, func(t *testing.T) *Message {
			// An ES256 signature under the kid of the Ed25519 key.
			return signedMsg(t, mustSigner(t, "valve-7-ed", ecPriv()), fresh, pl, nil)
		}, ReasonAlgorithm},
		{"unknown kid", nil, func(t *testing.T) *Message {
			return signedMsg(t, mustSigner(t, "valve-7-old", edPriv), fresh, pl, nil)
		}, ReasonUnknownKey},
		{"key of another identity", nil, tamper(func(m *Message) { m.Identity = "valve-8" }), ReasonKeyIdentity},
		{"signed as another identity", nil, edMsg(with(func(c *Claims) { c.Identity = "valve-8" })), ReasonIdentity},
		{"forged signature", nil, tamper(reencode(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })), ReasonBadSignature},
		{"forged by a stranger's key", nil, func(t *testing.T) *Message {
			return signedMsg(t, mustSigner(t, "valve-7-ed", stranger), fresh, pl, nil)
		}, ReasonBadSignature},
		{"forged es256", nil, func(t *testing.T) *Message {
			m := signedMsg(t, ec, fresh, pl, nil)
			reencode(func(b []byte) []byte { b[len(b)-40] ^= 0x80; return b })(m)
			return m
		}, ReasonBadSignature},
		{"es256 r = 0", nil, func(t *testing.T) *Message {
			m := signedMsg(t, ec, fresh, pl, nil)
			reencode(func(b []byte) []byte { clear(b[len(b)-64 : len(b)-32]); return b })(m)
			return m
		}, ReasonBadSignature},
		{"modified payload", nil, tamper(func(m *Message) { m.Payload = []byte("shut") }), ReasonBadSignature},
		{"modified content type", nil, tamper(func(m *Message) { m.Properties.ContentType = "text/html" }), ReasonBadSignature},
		{"dropped payload format", nil, tamper(func(m *Message) { m.Properties.Clear(packet.PropPayloadFormat) }), ReasonBadSignature},
		{"added response topic", nil, tamper(func(m *Message) {
			m.Properties.ResponseTopic = "evil"
			m.Properties.Set(packet.PropResponseTopic)
		}), ReasonBadSignature},
		{"modified envelope payload", nil, func(t *testing.T) *Message {
			m := envelopeMsg(t, ed, fresh, pl)
			m.Payload[len(m.Payload)-67] ^= 1 // the last payload byte, before the signature
			return m
		}, ReasonBadSignature},
		{"wrong topic", nil, tamper(func(m *Message) { m.Topic = "plant/8/valve/cmd" }), ReasonWrongTopic},
		{"retain flag not signed", nil, tamper(func(m *Message) { m.Retain = true }), ReasonRetainMismatch},
		{"retain signed, flag clear", nil, edMsg(with(func(c *Claims) { c.Retain = true })), ReasonRetainMismatch},
		{"retain denied", nil, func(t *testing.T) *Message {
			m := signedMsg(t, ed, with(func(c *Claims) { c.Retain = true }), pl, nil)
			m.Retain = true
			return m
		}, ReasonRetainDenied},
		{"nonce on a sequence rule", nil, edMsg(nonceClaims(cmdTopic, now)), ReasonReplayMode},
		{"sequence on a nonce rule", &RuleConfig{Topics: rule.Topics, Replay: "nonce"}, edMsg(fresh), ReasonReplayMode},
		{"stale", nil, edMsg(with(func(c *Claims) { c.IssuedAt = now - 31 })), ReasonStale},
		{"future", nil, edMsg(with(func(c *Claims) { c.IssuedAt = now + 31 })), ReasonFuture},
		{"stale with a larger skew", &RuleConfig{Topics: rule.Topics, Skew: 300 * time.Second},
			edMsg(with(func(c *Claims) { c.IssuedAt = now - 301 })), ReasonStale},
		{"expired", nil, edMsg(with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = now-10, now })), ReasonExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := cmdRule
			if tc.rule != nil {
				rc = *tc.rule
			}
			v, _ := newTestVerifier(t, Config{Rules: []RuleConfig{rc}, AllowReplayAfterRestart: true})
			m := tc.msg(t)
			d, why := v.Check(m)
			if why != tc.want {
				t.Fatalf("reason %v, want %v", why, tc.want)
			}
			if !d.Signed || d.Rule != "plant/+/valve/cmd" {
				t.Fatalf("decision %+v", d)
			}
			if why == OK {
				if d.Code != 0 || d.Disconnect || d.KeyID == "" {
					t.Fatalf("accepted with %+v", d)
				}
				if _, again := v.Check(m); again != ReasonReplayed {
					t.Fatalf("the same message again: %v", again)
				}
				return
			}
			if d.Code != packet.NotAuthorized || d.Disconnect || !d.Expiry.IsZero() {
				t.Fatalf("refused with %+v", d)
			}
		})
	}
}

// TestCheckKeyValidity covers the key registry's validity period.
func TestCheckKeyValidity(t *testing.T) {
	now := time.Unix(t0+60, 0)
	for _, tc := range []struct {
		name          string
		before, after time.Time
		want          Reason
	}{
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), OK},
		{"not yet valid", now.Add(time.Second), time.Time{}, ReasonKeyNotYetValid},
		{"expired", time.Time{}, now, ReasonKeyExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := NewKeys([]Key{{ID: "k", Identity: "valve-7", Public: edPriv.Public(), NotBefore: tc.before, NotAfter: tc.after}})
			if err != nil {
				t.Fatal(err)
			}
			clk := newClock()
			v := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule}}), keys, clk.Now)
			clk.Add(60 * time.Second)
			s := mustSigner(t, "k", edPriv)
			m := signedMsg(t, s, claimsAt(cmdTopic, t0+60, 1), nil, nil)
			if _, why := v.Check(m); why != tc.want {
				t.Fatalf("got %v, want %v", why, tc.want)
			}
		})
	}
}

func TestCheckUnsignedTopic(t *testing.T) {
	v, _ := newTestVerifier(t, Config{Rules: []RuleConfig{cmdRule}})
	for _, tp := range []string{"plant/7/valve/state", "plant", "garden/door", "$SYS/door"} {
		m := v5msg(tp, []byte("x"), nil, "")
		if d, why := v.Check(m); why != OK || d.Signed || v.Signed(tp) {
			t.Errorf("%s: %+v %v", tp, d, why)
		}
	}
	if !v.Signed("door") || !v.Signed("door/a/b") || !v.Signed(cmdTopic) {
		t.Error("signed topics not recognized")
	}
	var none Verifier
	none.replay = newReplayStore()
	if none.Signed("door") {
		t.Error("a nil policy signs")
	}
}

// TestCheckActions checks the refusal action of each rule setting.
func TestCheckActions(t *testing.T) {
	rc := cmdRule
	rc.MQTT5Reason, rc.MQTT3Action = "payload_format_invalid", "disconnect"
	v, _ := newTestVerifier(t, Config{Rules: []RuleConfig{rc}})
	d, why := v.Check(v5msg(cmdTopic, nil, nil, ""))
	if why != ReasonMissing || d.Code != packet.PayloadFormatInvalid || d.Disconnect {
		t.Fatalf("MQTT 5: %+v %v", d, why)
	}
	d, why = v.Check(&Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V311, Payload: []byte("x")})
	if why != ReasonMissing || !d.Disconnect {
		t.Fatalf("MQTT 3.1.1: %+v %v", d, why)
	}
}

// TestCheckExpiry checks that the signed expiry reaches the decision.
func TestCheckExpiry(t *testing.T) {
	v, _ := newTestVerifier(t, Config{Rules: []RuleConfig{cmdRule}})
	c := claimsAt(cmdTopic, t0+60, 1)
	c.ExpiresAt = t0 + 120
	d, why := v.Check(signedMsg(t, mustSigner(t, "valve-7-ed", edPriv), c, nil, nil))
	if why != OK || !d.Expiry.Equal(time.Unix(t0+120, 0)) {
		t.Fatalf("%+v %v", d, why)
	}
}

// TestCheckRestartWindow checks that right after start the verifier
// refuses what it cannot tell from a replay of before the restart, and
// accepts once the skew has passed.
func TestCheckRestartWindow(t *testing.T) {
	clk := newClock()
	v := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule}}), testKeys(t), clk.Now)
	s := mustSigner(t, "valve-7-ed", edPriv)
	clk.Add(10 * time.Second)
	// Captured before the restart (issued 5 s before it), and one issued
	// after it but within the skew: both could have been seen before.
	for i, iat := range []int64{t0 - 5, t0 + 10, t0 + 29} {
		if _, why := v.Check(signedMsg(t, s, claimsAt(cmdTopic, iat, uint64(i+1)), nil, nil)); why != ReasonRestart {
			t.Fatalf("iat %d: %v", iat, why)
		}
	}
	clk.Add(20 * time.Second)
	if _, why := v.Check(signedMsg(t, s, claimsAt(cmdTopic, t0+30, 9), nil, nil)); why != OK {
		t.Fatalf("after the window: %v", why)
	}
}

// TestCheckReplay covers replay across carriages and the window.
func TestCheckReplay(t *testing.T) {
	v, clk := newTestVerifier(t, Config{Rules: []RuleConfig{cmdRule}})
	s := mustSigner(t, "valve-7-ed", edPriv)
	now := clk.Now().Unix()
	m5 := signedMsg(t, s, claimsAt(cmdTopic, now, 5), nil, nil)
	if _, why := v.Check(m5); why != OK {
		t.Fatal(why)
	}
	// The same (key, epoch, seq) in the other carriage is a replay too:
	// the state is keyed on the claims, not on the signature bytes.
	if _, why := v.Check(envelopeMsg(t, s, claimsAt(cmdTopic, now, 5), nil)); why != ReasonReplayed {
		t.Fatalf("same seq as an envelope: %v", why)
	}
	// Reordering inside the window is fine, once.
	for _, seq := range []uint64{3, 4, 70, 7, 69} {
		if _, why := v.Check(signedMsg(t, s, claimsAt(cmdTopic, now, seq), nil, nil)); why != OK {
			t.Fatalf("seq %d: %v", seq, why)
		}
	}
	if _, why := v.Check(signedMsg(t, s, claimsAt(cmdTopic, now, 6), nil, nil)); why != ReasonTooOld {
		t.Fatalf("seq 6 below the window of 70: %v", why)
	}
	if _, why := v.Check(signedMsg(t, s, claimsAt(cmdTopic, now, 7), nil, nil)); why != ReasonReplayed {
		t.Fatalf("seq 7 again: %v", why)
	}
	// A new boot epoch starts again from any sequence number; the old
	// epoch is closed.
	c := claimsAt(cmdTopic, now, 1)
	c.Epoch = 2
	if _, why := v.Check(signedMsg(t, s, c, nil, nil)); why != OK {
		t.Fatalf("new epoch: %v", why)
	}
	if _, why := v.Check(signedMsg(t, s, claimsAt(cmdTopic, now, 71), nil, nil)); why != ReasonTooOld {
		t.Fatalf("old epoch: %v", why)
	}
	// Another key of the same identity has a window of its own.
	if _, why := v.Check(signedMsg(t, mustSigner(t, "valve-7-ec", ecPriv()), claimsAt(cmdTopic, now, 5), nil, nil)); why != OK {
		t.Fatalf("other key: %v", why)
	}
	if st := v.Stats(); st.Windows != 2 || st.Nonces != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCheckReplayStoreFull checks that a full store refuses rather than
// forgets, and makes room once windows can no longer match.
func TestCheckReplayStoreFull(t *testing.T) {
	v, clk := newTestVerifier(t, Config{Rules: []RuleConfig{cmdRule}, MaxWindows: 1})
	ed := mustSigner(t, "valve-7-ed", edPriv)
	ec := mustSigner(t, "valve-7-ec", ecPriv())
	now := clk.Now().Unix()
	if _, why := v.Check(signedMsg(t, ed, claimsAt(cmdTopic, now, 1), nil, nil)); why != OK {
		t.Fatal(why)
	}
	if _, why := v.Check(signedMsg(t, ec, claimsAt(cmdTopic, now, 1), nil, nil)); why != ReasonReplayFull {
		t.Fatalf("second window: %v", why)
	}
	// 31 s later the first window holds nothing fresh: it goes.
	clk.Add(31 * time.Second)
	if _, why := v.Check(signedMsg(t, ec, claimsAt(cmdTopic, now+31, 1), nil, nil)); why != OK {
		t.Fatalf("after the skew: %v", why)
	}
}

// TestCheckReload checks that replay state survives a key and policy
// reload, and that a removed key is unknown at once.
func TestCheckReload(t *testing.T) {
	v, clk := newTestVerifier(t, Config{Rules: []RuleConfig{cmdRule}})
	s := mustSigner(t, "valve-7-ed", edPriv)
	m := signedMsg(t, s, claimsAt(cmdTopic, clk.Now().Unix(), 1), nil, nil)
	if _, why := v.Check(m); why != OK {
		t.Fatal(why)
	}
	v.SetKeys(testKeys(t))
	v.SetPolicy(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule, {Topics: []string{"x"}}}}))
	if _, why := v.Check(m); why != ReasonReplayed {
		t.Fatalf("after reload: %v", why)
	}
	v.SetKeys(nil)
	if _, why := v.Check(m); why != ReasonUnknownKey {
		t.Fatalf("no keys: %v", why)
	}
	v.SetPolicy(nil)
	if d, why := v.Check(m); why != OK || d.Signed {
		t.Fatalf("no policy: %v", why)
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range append(Reasons(), OK) {
		s := r.String()
		if s == "" || strings.ContainsAny(s, " -(") || seen[s] {
			t.Errorf("reason %d: %q", r, s)
		}
		seen[s] = true
	}
	if len(Reasons()) != int(numReasons)-1 || Reason(200).String() != "reason(200)" {
		t.Error("Reasons")
	}
}
