package signed

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/errlist"
)

func TestReplayGuard(t *testing.T) {
	keys := testKeys(t)
	key := keys.Lookup([]byte("valve-7-ed"))
	g := NewReplayGuard(30*time.Second, 0, 0, 2)
	now := time.Unix(t0, 0)
	c := claimsAt("a", t0, 5)
	for _, tc := range []struct {
		seq  uint64
		want Reason
	}{{5, OK}, {5, ReasonReplayed}, {3, OK}, {100, OK}, {3, ReasonTooOld}} {
		c.Seq = tc.seq
		if got := g.Admit(key, &c, now); got != tc.want {
			t.Errorf("seq %d: %v, want %v", tc.seq, got, tc.want)
		}
	}
	// Nonces: each once, and at most two per key at a time (fail closed).
	n1, n2, n3 := nonceClaims("a", t0), nonceClaims("a", t0), nonceClaims("a", t0)
	for i, tc := range []struct {
		c    *Claims
		want Reason
	}{{&n1, OK}, {&n1, ReasonReplayed}, {&n2, OK}, {&n3, ReasonReplayFull}} {
		if got := g.Admit(key, tc.c, now); got != tc.want {
			t.Errorf("nonce %d: %v, want %v", i, got, tc.want)
		}
	}
	// Past the keep time the nonces are forgotten and room is made.
	if got := g.Admit(key, &n3, now.Add(31*time.Second)); got != OK {
		t.Errorf("after the keep time: %v", got)
	}
	if s := g.Stats(); s.Windows != 1 || s.Nonces != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestSPKIKeyID(t *testing.T) {
	id, err := SPKIKeyID(edPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The SPKI of an Ed25519 key is a fixed 12-byte prefix and the key
	// (RFC 8410); this one is RFC 8032's first test key.
	spki, _ := hex.DecodeString("302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	sum := sha256.Sum256(spki)
	if want := "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:]); id != want {
		t.Fatalf("%s, want %s", id, want)
	}
	if len(id) != 50 {
		t.Fatalf("%q is %d characters", id, len(id))
	}
	if _, err := SPKIKeyID("not a key"); err == nil {
		t.Fatal("an id for no key")
	}
}

// TestCertificateKeys: a registry that lists an identity (or "*") in
// certificate_keys verifies that identity's messages signed with its
// certificate key under the key's SPKI id, and nothing else.
func TestCertificateKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	kid, _ := SPKIKeyID(pub)
	keys, err := ParseKeys([]byte(`{"keys": [], "certificate_keys": ["valve-7"]}`), "k.json", ".")
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule}, AllowReplayAfterRestart: true}), keys, nil)
	s := mustSigner(t, kid, priv)
	send := func(identity string, certKey any, seq uint64) Reason {
		c := claimsAt("door/1", time.Now().Unix(), seq)
		c.Identity = identity
		sig, err := s.Detached(&c, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		m := v5msg("door/1", []byte("x"), nil, sig)
		m.Identity, m.CertKey = identity, certKey
		_, why := v.Check(m)
		return why
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name     string
		identity string
		certKey  any
		want     Reason
	}{
		{"no certificate", "valve-7", nil, ReasonUnknownKey},
		{"another certificate", "valve-7", otherPub, ReasonUnknownKey},
		{"identity not listed", "valve-8", pub, ReasonUnknownKey},
		{"not a signing key", "valve-7", "rsa", ReasonUnknownKey},
		{"its certificate", "valve-7", pub, OK},
		{"its certificate again", "valve-7", pub, ReasonReplayed},
	} {
		if got := send(tc.identity, tc.certKey, 1); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}

	star, err := ParseKeys([]byte(`{"keys": [], "certificate_keys": ["*"]}`), "k.json", ".")
	if err != nil {
		t.Fatal(err)
	}
	if k := star.CertificateKey("anyone", pub, []byte(kid)); k == nil || k.Identity != "anyone" || k.Alg != EdDSA {
		t.Fatalf("*: %+v", k)
	}
	_, err = ParseKeys([]byte(`{"keys": [], "certificate_keys": [""]}`), "k.json", ".")
	var list *errlist.List[*KeyError]
	if !errors.As(err, &list) || !strings.Contains(err.Error(), "certificate_keys[0]") {
		t.Fatalf("empty identity: %v", err)
	}
}

// TestBindings: an operator-signed binding verifies with the operator key
// only, and not once any bound field changes; AddKey keeps what the file
// held and refuses a kid twice.
func TestBindings(t *testing.T) {
	opPub, op, _ := ed25519.GenerateKey(rand.Reader)
	k := Key{ID: "valve-7-ed", Identity: "valve-7", Public: edPriv.Public(), NotAfter: time.Unix(t0, 0)}
	if err := SignBinding(&k, ecPriv()); err != nil {
		t.Fatal(err)
	}
	if !k.BindingSignedBy(ecPriv().Public()) || k.BindingSignedBy(opPub) {
		t.Fatal("an ES256 operator binding")
	}
	if err := SignBinding(&k, op); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Key){
		"identity":  func(k *Key) { k.Identity = "valve-8" },
		"kid":       func(k *Key) { k.ID = "other" },
		"key":       func(k *Key) { k.Public = opPub },
		"not_after": func(k *Key) { k.NotAfter = time.Time{} },
	} {
		c := k
		change(&c)
		if c.BindingSignedBy(opPub) {
			t.Errorf("binding still valid with another %s", name)
		}
	}
	if !k.BindingSignedBy(opPub) {
		t.Fatal("the binding does not verify")
	}

	data, err := AddKey(nil, "k.json", ".", &k)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), `"keys"`, `"certificate_keys": ["door-3"], "keys"`, 1))
	k2 := Key{ID: "valve-8-ed", Identity: "valve-8", Public: opPub}
	data, err = AddKey(data, "k.json", ".", &k2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddKey(data, "k.json", ".", &k2); err == nil || !strings.Contains(err.Error(), "already bound") {
		t.Fatalf("a kid twice: %v", err)
	}
	keys, err := ParseKeys(data, "k.json", ".")
	if err != nil {
		t.Fatal(err)
	}
	trusted, dropped, err := keys.TrustOperator(opPub)
	if err != nil || trusted.Len() != 1 || len(dropped) != 1 || dropped[0] != "valve-8-ed" {
		t.Fatalf("TrustOperator: %d kept, dropped %v, %v", trusted.Len(), dropped, err)
	}
	if keys.CertificateKey("door-3", opPub, []byte(mustKID(t, opPub))) == nil {
		t.Fatal("AddKey lost certificate_keys")
	}
}

func mustKID(t *testing.T, pub any) string {
	t.Helper()
	id, err := SPKIKeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
