package signed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// The keys of the tests. edPriv is RFC 8032's first test key, the key of
// the documented example.
var (
	edSeed, _ = hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	edPriv    = ed25519.NewKeyFromSeed(edSeed)
	ecOnce    sync.Once
	ecPrivKey *ecdsa.PrivateKey
)

func ecPriv() *ecdsa.PrivateKey {
	ecOnce.Do(func() {
		var err error
		if ecPrivKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return ecPrivKey
}

// t0 is the fake clock's start: 2026-01-01T00:00:00Z.
const t0 = 1767225600

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(t0, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func mustSigner(t testing.TB, kid string, priv crypto.Signer) *Signer {
	t.Helper()
	s, err := NewSigner(kid, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testKeys is the registry of the tests: valve-7 has an Ed25519 key and a
// P-256 key, valve-8 an Ed25519 one of its own.
func testKeys(t testing.TB) *Keys {
	t.Helper()
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	k, err := NewKeys([]Key{
		{ID: "valve-7-ed", Identity: "valve-7", Public: edPriv.Public()},
		{ID: "valve-7-ec", Identity: "valve-7", Public: ecPriv().Public()},
		{ID: "valve-8-ed", Identity: "valve-8", Public: other.Public()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustPolicy(t testing.TB, c Config) *Policy {
	t.Helper()
	p, err := NewPolicy(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cmdRule is the signed rule of most tests.
var cmdRule = RuleConfig{Topics: []string{"plant/+/valve/cmd", "door/#"}}

// newTestVerifier returns a verifier whose clock is 60 s past its start,
// so that fresh messages are outside the restart window.
func newTestVerifier(t testing.TB, c Config) (*Verifier, *fakeClock) {
	t.Helper()
	clk := newClock()
	v := NewVerifier(mustPolicy(t, c), testKeys(t), clk.Now)
	clk.Add(60 * time.Second)
	return v, clk
}

// claimsAt returns sequence-mode claims of valve-7 for topic at Unix time
// iat.
func claimsAt(topicName string, iat int64, seq uint64) Claims {
	return Claims{Identity: "valve-7", Topic: topicName, IssuedAt: iat, Mode: Sequence, Epoch: 1, Seq: seq}
}

// v5msg builds an MQTT 5 message carrying sig in its moat-sig property.
func v5msg(topicName string, payload []byte, props *packet.Properties, sig string) *Message {
	var p packet.Properties
	if props != nil {
		p = *props
	}
	p.UserProperties = append([]packet.UserProperty{{Key: "trace", Value: "x"}}, p.UserProperties...)
	if sig != "" {
		p.UserProperties = append(p.UserProperties, packet.UserProperty{Key: PropertyName, Value: sig})
		p.Set(packet.PropUserProperty)
	}
	return &Message{Topic: topicName, Identity: "valve-7", Version: packet.V5, Payload: payload, Properties: &p}
}

func props(contentType string, pfi byte) *packet.Properties {
	p := &packet.Properties{ContentType: contentType, PayloadFormat: pfi}
	p.Set(packet.PropContentType)
	p.Set(packet.PropPayloadFormat)
	return p
}

// nonceClaims returns nonce-mode claims of valve-7 for topic at iat.
func nonceClaims(topicName string, iat int64) Claims {
	return Claims{Identity: "valve-7", Topic: topicName, IssuedAt: iat, Mode: Nonce, Nonce: NewNonce()}
}
