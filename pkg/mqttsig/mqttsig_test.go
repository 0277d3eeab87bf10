package mqttsig

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func reason(t *testing.T, err error) Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("not a VerifyError: %v", err)
	}
	return ve.Reason
}

func setup(t *testing.T) (*clock, *Signer, *Keys) {
	t.Helper()
	clk := &clock{t: time.Unix(1767225600, 0)}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := NewSigner(SignerConfig{KeyID: "k1", Identity: "dev", Key: priv, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewKeys(Key{ID: "k1", Identity: "dev", Public: pub})
	if err != nil {
		t.Fatal(err)
	}
	return clk, s, keys
}

// TestVerifyReasons drives every check a subscriber makes and the order
// of the sequence numbers a Signer hands out.
func TestVerifyReasons(t *testing.T) {
	clk, s, keys := setup(t)
	v, err := NewVerifier(keys, VerifierConfig{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ct := "text/plain"
	sign := func(m Message) Message {
		sig, err := s.Detached(&m)
		if err != nil {
			t.Fatal(err)
		}
		m.Signature = sig
		return m
	}
	base := Message{Topic: "a/b", Payload: []byte("x"), Properties: Properties{ContentType: &ct}}
	m1, m2, m3 := sign(base), sign(base), sign(base)
	if c, err := v.Verify(&m2); err != nil || c.Seq != 2 || !c.Sequence || c.Identity != "dev" {
		t.Fatalf("m2: %+v %v", c, err)
	}
	// Reordering inside the window is fine; the same message twice is not.
	if _, err := v.Verify(&m1); err != nil {
		t.Fatalf("m1 after m2: %v", err)
	}
	if r := reason(t, func() error { _, err := v.Verify(&m1); return err }()); r != ReasonReplayed {
		t.Fatalf("m1 again: %q", r)
	}

	altered := m3
	altered.Payload = []byte("y")
	noProps := m3
	noProps.Properties = Properties{}
	moved := m3
	moved.Topic = "a/c"
	retained := m3
	retained.Retain = true
	unsigned := base
	garbage := m3
	garbage.Signature = "!!"
	for name, tc := range map[string]struct {
		m    Message
		want Reason
	}{
		"altered payload":    {altered, ReasonBadSignature},
		"property dropped":   {noProps, ReasonBadSignature},
		"moved":              {moved, ReasonWrongTopic},
		"retained delivery":  {retained, ReasonRetainMismatch},
		"unsigned":           {unsigned, ReasonUnsigned},
		"malformed":          {garbage, ReasonMalformed},
		"unsigned envelope?": {Message{Topic: "a/b", Payload: []byte{0xd2, 0}}, ReasonMalformed},
	} {
		_, err := v.Verify(&tc.m)
		if r := reason(t, err); r != tc.want {
			t.Errorf("%s: %q, want %q", name, r, tc.want)
		}
	}
	// None of the refusals consumed m3.
	if _, err := v.Verify(&m3); err != nil {
		t.Fatalf("m3: %v", err)
	}

	// Freshness against the signed issue time.
	old := sign(base)
	clk.add(31 * time.Second)
	if r := reason(t, func() error { _, err := v.Verify(&old); return err }()); r != ReasonStale {
		t.Fatalf("31 s old: %q", r)
	}
	clk.add(40 * time.Second)
	ahead := sign(base)
	clk.add(-40 * time.Second)
	if r := reason(t, func() error { _, err := v.Verify(&ahead); return err }()); r != ReasonFuture {
		t.Fatalf("40 s ahead: %q", r)
	}
}

func TestVerifyKeysAndExpiry(t *testing.T) {
	clk := &clock{t: time.Unix(1767225600, 0)}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	keys, err := NewKeys(Key{ID: "ec", Identity: "dev", Public: &ec.PublicKey},
		Key{ID: "ed", Identity: "other", Public: edPub, NotAfter: clk.now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(keys, VerifierConfig{Now: clk.now, MaxAge: -1})
	es, err := NewSigner(SignerConfig{KeyID: "ec", Identity: "dev", Key: ec, Mode: Nonce, Expiry: 10 * time.Second, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{Topic: "t", Payload: []byte("p")}
	env, _ := es.Envelope(&m)
	got := Message{Topic: "t", Payload: env}
	if c, err := v.Verify(&got); err != nil || c.Alg != "es256" || string(c.Payload) != "p" || c.Sequence {
		t.Fatalf("%+v %v", c, err)
	}
	if r := reason(t, func() error { _, err := v.Verify(&got); return err }()); r != ReasonReplayed {
		t.Fatalf("nonce again: %q", r)
	}
	env, _ = es.Envelope(&m)
	clk.add(10 * time.Second)
	if r := reason(t, func() error { _, err := v.Verify(&Message{Topic: "t", Payload: env}); return err }()); r != ReasonExpired {
		t.Fatalf("after exp: %q", r)
	}
	// A key signing as another identity than its own.
	liar, _ := NewSigner(SignerConfig{KeyID: "ed", Identity: "dev", Key: edPriv, Now: clk.now})
	sig, _ := liar.Detached(&m)
	if r := reason(t, func() error {
		_, err := v.Verify(&Message{Topic: "t", Payload: []byte("p"), Signature: sig})
		return err
	}()); r != ReasonIdentity {
		t.Fatalf("other identity: %q", r)
	}
	// Unknown kid.
	stranger, _ := NewSigner(SignerConfig{KeyID: "nope", Identity: "other", Key: edPriv, Now: clk.now})
	sig, _ = stranger.Detached(&m)
	if r := reason(t, func() error {
		_, err := v.Verify(&Message{Topic: "t", Payload: []byte("p"), Signature: sig})
		return err
	}()); r != ReasonUnknownKey {
		t.Fatalf("unknown kid: %q", r)
	}
	// Signed after the key's not_after.
	clk.add(2 * time.Hour)
	honest, _ := NewSigner(SignerConfig{KeyID: "ed", Identity: "other", Key: edPriv, Now: clk.now})
	sig, _ = honest.Detached(&m)
	if r := reason(t, func() error {
		_, err := v.Verify(&Message{Topic: "t", Payload: []byte("p"), Signature: sig})
		return err
	}()); r != ReasonKeyExpired {
		t.Fatalf("expired key: %q", r)
	}
}

func TestSignatureOfSeveral(t *testing.T) {
	_, ok, err := SignatureOf(func(yield func(k, v string) bool) {
		_ = yield(UserProperty, "a") && yield(UserProperty, "b")
	})
	if err == nil || ok {
		t.Fatal("two moat-sig properties accepted")
	}
}

func TestLoadPrivateKey(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	path := filepath.Join(dir, "k")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(path); err == nil {
		t.Fatal("a world-readable private key was loaded")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equal(k) {
		t.Fatal("another key came back")
	}
}
