package signed

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
)

// TestTokenKeys: a key bound by the login token verifies the identity's
// messages only when the registry lists the identity in token_keys, only
// under its own kid, and only for that identity.
func TestTokenKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	keys, err := ParseKeys([]byte(`{"keys": [], "token_keys": ["valve-7"]}`), "k.json", ".")
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule}, AllowReplayAfterRestart: true}), keys, nil)
	s := mustSigner(t, "v7-token", priv)
	send := func(identity string, tokenKeys []auth.SigningKey, seq uint64) Reason {
		c := claimsAt("door/1", time.Now().Unix(), seq)
		c.Identity = identity
		sig, err := s.Detached(&c, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		m := v5msg("door/1", []byte("x"), nil, sig)
		m.Identity, m.TokenKeys = identity, tokenKeys
		_, why := v.Check(m)
		return why
	}
	mine := []auth.SigningKey{{ID: "other", Public: otherPub}, {ID: "v7-token", Public: pub}}
	for i, tc := range []struct {
		name     string
		identity string
		keys     []auth.SigningKey
		want     Reason
	}{
		{"no token keys", "valve-7", nil, ReasonUnknownKey},
		{"another key under the kid", "valve-7", []auth.SigningKey{{ID: "v7-token", Public: otherPub}}, ReasonBadSignature},
		{"identity not listed", "valve-8", mine, ReasonUnknownKey},
		{"not a signing key", "valve-7", []auth.SigningKey{{ID: "v7-token", Public: "rsa"}}, ReasonUnknownKey},
		{"its token key", "valve-7", mine, OK},
	} {
		if got := send(tc.identity, tc.keys, uint64(i+1)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	star, err := ParseKeys([]byte(`{"keys": [], "token_keys": ["*"]}`), "k.json", ".")
	if err != nil {
		t.Fatal(err)
	}
	if k := star.TokenKey("anyone", mine, []byte("v7-token")); k == nil || k.Identity != "anyone" || k.Alg != EdDSA {
		t.Fatalf("*: %+v", k)
	}
	if _, err := ParseKeys([]byte(`{"keys": [], "token_keys": [""]}`), "k.json", "."); err == nil || !strings.Contains(err.Error(), "token_keys[0]") {
		t.Fatalf("empty identity: %v", err)
	}
}
