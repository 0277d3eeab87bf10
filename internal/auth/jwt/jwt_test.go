package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil/poll"
)

var testNow = time.Unix(1_700_000_000, 0)

type testKeys struct {
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
	hmac   []byte
	rsaPEM []byte
}

var (
	keysOnce sync.Once
	keys     testKeys
)

// genKeys makes the keys once per test binary: RSA generation is slow.
func genKeys(t *testing.T) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
		keys.hmac = []byte("0123456789abcdef0123456789abcdef-secret")
		keys.rsaPEM = pemPublic(&keys.rsa.PublicKey)
	})
	return keys
}

func pemPublic(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pemCert(t *testing.T, priv crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestAuth builds an authenticator trusting the RSA and EC keys (PEM),
// the Ed25519 key (certificate) and the HMAC secret.
func newTestAuth(t *testing.T, mutate func(*Options)) *Authenticator {
	t.Helper()
	k := genKeys(t)
	dir := t.TempDir()
	o := Options{
		Keys: []string{
			writeFile(t, dir, "rsa.pem", k.rsaPEM),
			writeFile(t, dir, "ec.pem", pemPublic(&k.ec.PublicKey)),
			writeFile(t, dir, "ed.crt", pemCert(t, k.ed)),
		},
		HMACSecretFile: writeFile(t, dir, "secret", append(append([]byte{}, k.hmac...), '\n')),
		Issuer:         "https://issuer.example",
		Audience:       "moat",
		Now:            func() time.Time { return testNow },
	}
	if mutate != nil {
		mutate(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

type claims struct {
	josejwt.Claims
	Groups any `json:"groups,omitempty"`
}

func goodClaims() claims {
	return claims{Claims: josejwt.Claims{
		Subject:  "alice",
		Issuer:   "https://issuer.example",
		Audience: josejwt.Audience{"moat"},
		Expiry:   josejwt.NewNumericDate(testNow.Add(time.Hour)),
		IssuedAt: josejwt.NewNumericDate(testNow.Add(-time.Minute)),
	}}
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, c any) string {
	t.Helper()
	var k any = key
	if kid != "" {
		k = jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg)}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func connect(username, password string) *auth.Request {
	return &auth.Request{
		Username: username, HasUsername: username != "",
		Password: []byte(password), HasPassword: true,
	}
}

func run(t *testing.T, a *Authenticator, r *auth.Request) auth.Result {
	t.Helper()
	res, err := a.Authenticate(context.Background(), r)
	if err != nil {
		t.Fatalf("Authenticate error: %v", err)
	}
	if len(r.Password) > 0 && strings.Contains(res.Detail, string(r.Password)) {
		t.Fatalf("Detail contains the token: %q", res.Detail)
	}
	for _, seg := range strings.Split(string(r.Password), ".") {
		if len(seg) > 8 && strings.Contains(res.Detail, seg) {
			t.Fatalf("Detail contains a token segment: %q", res.Detail)
		}
	}
	return res
}

func wantAllow(t *testing.T, res auth.Result, name string) {
	t.Helper()
	if res.Decision != auth.Allow || res.Identity == nil {
		t.Fatalf("decision %v (%s), want allow", res.Decision, res.Detail)
	}
	if res.Identity.Name != name || res.Identity.Method != "jwt" {
		t.Fatalf("identity %+v", res.Identity)
	}
}

func wantDeny(t *testing.T, res auth.Result, detail string) {
	t.Helper()
	if res.Decision != auth.Deny || res.Reason != packet.BadUserNameOrPassword {
		t.Fatalf("decision %v reason %v (%s), want deny 0x86", res.Decision, res.Reason, res.Detail)
	}
	if !strings.Contains(res.Detail, detail) {
		t.Fatalf("detail %q does not mention %q", res.Detail, detail)
	}
}

func TestValidTokenEachAlgorithm(t *testing.T) {
	k := genKeys(t)
	a := newTestAuth(t, nil)
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key any
	}{
		{jose.RS256, k.rsa}, {jose.ES256, k.ec}, {jose.EdDSA, k.ed}, {jose.HS256, k.hmac},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			tok := sign(t, tc.alg, tc.key, "any-kid", goodClaims())
			res := run(t, a, connect("", tok))
			wantAllow(t, res, "alice")
			if want := testNow.Add(time.Hour + DefaultLeeway); !res.Expires.Equal(want) {
				t.Fatalf("Expires = %v, want exp plus leeway %v", res.Expires, want)
			}
			// Also with a matching user name.
			wantAllow(t, run(t, a, connect("alice", tok)), "alice")
		})
	}
}

func TestTimeClaims(t *testing.T) {
	k := genKeys(t)
	a := newTestAuth(t, nil) // leeway 30s
	for _, tc := range []struct {
		name   string
		mutate func(*claims)
		detail string // empty: allowed
	}{
		{"expired", func(c *claims) { c.Expiry = josejwt.NewNumericDate(testNow.Add(-time.Minute)) }, "expired"},
		{"expired within leeway", func(c *claims) { c.Expiry = josejwt.NewNumericDate(testNow.Add(-20 * time.Second)) }, ""},
		{"nbf future", func(c *claims) { c.NotBefore = josejwt.NewNumericDate(testNow.Add(time.Minute)) }, "not yet valid"},
		{"nbf within leeway", func(c *claims) { c.NotBefore = josejwt.NewNumericDate(testNow.Add(20 * time.Second)) }, ""},
		{"iat future", func(c *claims) { c.IssuedAt = josejwt.NewNumericDate(testNow.Add(time.Minute)) }, "issued in the future"},
		{"missing exp", func(c *claims) { c.Expiry = nil }, "no exp"},
		{"wrong issuer", func(c *claims) { c.Issuer = "https://evil.example" }, "wrong issuer"},
		{"wrong audience", func(c *claims) { c.Audience = josejwt.Audience{"other"} }, "wrong audience"},
		{"no audience", func(c *claims) { c.Audience = nil }, "wrong audience"},
		{"no subject", func(c *claims) { c.Subject = "" }, "claim sub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodClaims()
			tc.mutate(&c)
			res := run(t, a, connect("", sign(t, jose.ES256, k.ec, "", c)))
			if tc.detail == "" {
				wantAllow(t, res, "alice")
			} else {
				wantDeny(t, res, tc.detail)
			}
		})
	}
}

func rawToken(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

func TestAlgorithmsRefused(t *testing.T) {
	k := genKeys(t)
	a := newTestAuth(t, nil)
	payload, _ := json.Marshal(goodClaims())

	wantDeny(t, run(t, a, connect("", rawToken(`{"alg":"none","typ":"JWT"}`, string(payload), ""))), `"none" not allowed`)
	wantDeny(t, run(t, a, connect("", rawToken(`{"alg":"HS512"}`, string(payload), "c2ln"))), `"HS512" not allowed`)
	wantDeny(t, run(t, a, connect("", rawToken(`{"alg":"RS384"}`, string(payload), "c2ln"))), `"RS384" not allowed`)

	// A tampered payload under a valid RS256 signature.
	tok := sign(t, jose.RS256, k.rsa, "", goodClaims())
	parts := strings.Split(tok, ".")
	evil := goodClaims()
	evil.Subject = "admin"
	ep, _ := json.Marshal(evil)
	parts[1] = base64.RawURLEncoding.EncodeToString(ep)
	wantDeny(t, run(t, a, connect("", strings.Join(parts, "."))), "bad signature")

	// A token signed by a key nobody configured.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wantDeny(t, run(t, a, connect("", sign(t, jose.ES256, other, "", goodClaims()))), "bad signature")
}

// TestAlgorithmConfusion: an HS256 token keyed with the RSA public key's PEM
// must never verify, whether or not an HMAC secret is configured.
func TestAlgorithmConfusion(t *testing.T) {
	k := genKeys(t)
	tok := sign(t, jose.HS256, k.rsaPEM, "", goodClaims())

	withSecret := newTestAuth(t, nil)
	wantDeny(t, run(t, withSecret, connect("", tok)), "bad signature")

	noSecret := newTestAuth(t, func(o *Options) { o.HMACSecretFile = "" })
	wantDeny(t, run(t, noSecret, connect("", tok)), "HS256 not allowed")
	// Ordinary HS256 tokens are refused too without a secret.
	wantDeny(t, run(t, noSecret, connect("", sign(t, jose.HS256, k.hmac, "", goodClaims()))), "HS256 not allowed")
}

func TestUsernameMismatch(t *testing.T) {
	k := genKeys(t)
	a := newTestAuth(t, nil)
	tok := sign(t, jose.EdDSA, k.ed, "", goodClaims())
	wantDeny(t, run(t, a, connect("mallory", tok)), "user name does not match")
}

func TestCustomClaimsAndGroups(t *testing.T) {
	k := genKeys(t)
	a := newTestAuth(t, nil)
	c := goodClaims()
	c.Groups = []string{"ops", "sensors"}
	res := run(t, a, connect("", sign(t, jose.RS256, k.rsa, "", c)))
	wantAllow(t, res, "alice")
	if !slices.Equal(res.Identity.Groups, []string{"ops", "sensors"}) {
		t.Fatalf("groups %v", res.Identity.Groups)
	}
	c.Groups = "ops"
	wantDeny(t, run(t, a, connect("", sign(t, jose.RS256, k.rsa, "", c))), "not an array of strings")

	b := newTestAuth(t, func(o *Options) { o.UsernameClaim = "device"; o.GroupsClaim = "roles" })
	tok := sign(t, jose.RS256, k.rsa, "", map[string]any{
		"device": "dev-7", "roles": []string{"fleet"}, "iss": "https://issuer.example",
		"aud": "moat", "exp": testNow.Add(time.Hour).Unix(),
	})
	res = run(t, b, connect("dev-7", tok))
	wantAllow(t, res, "dev-7")
	if !slices.Equal(res.Identity.Groups, []string{"fleet"}) {
		t.Fatalf("groups %v", res.Identity.Groups)
	}
}

func TestAbstainAndSize(t *testing.T) {
	a := newTestAuth(t, nil)
	for _, p := range []string{"", "hunter2", "correct horse battery staple", "a.b.c", "foo.bar.baz", "eyJ.x"} {
		res := run(t, a, connect("alice", p))
		if res.Decision != auth.Abstain {
			t.Fatalf("password %q: decision %v (%s), want abstain", p, res.Decision, res.Detail)
		}
	}
	res := run(t, a, &auth.Request{Username: "alice", HasUsername: true})
	if res.Decision != auth.Abstain {
		t.Fatalf("no password: %v", res.Decision)
	}

	big := rawToken(`{"alg":"RS256"}`, `{"sub":"`+strings.Repeat("a", MaxTokenSize)+`"}`, "c2ln")
	wantDeny(t, run(t, a, connect("", big)), "larger than")
}

func TestNewErrors(t *testing.T) {
	k := genKeys(t)
	dir := t.TempDir()
	rsaPEM := writeFile(t, dir, "rsa.pem", k.rsaPEM)
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no keys", Options{}, "no usable verification key"},
		{"missing file", Options{Keys: []string{filepath.Join(dir, "nope.pem")}}, "nope.pem"},
		{"garbage pem", Options{Keys: []string{writeFile(t, dir, "bad.pem", []byte("not pem"))}}, "bad.pem"},
		{"private key", Options{Keys: []string{writeFile(t, dir, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}}, "priv.pem"},
		{"p384", Options{Keys: []string{writeFile(t, dir, "p384.pem", func() []byte {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return pemPublic(&k.PublicKey)
		}())}}, "P-256"},
		{"short secret", Options{HMACSecretFile: writeFile(t, dir, "short", []byte("too short\n"))}, "at least 32"},
		{"bad jwks", Options{JWKSFile: writeFile(t, dir, "bad.json", []byte(`{"keys":[{"kty":"RSA","n":"@@"}]}`))}, "bad.json"},
		{"jwks not json", Options{JWKSFile: writeFile(t, dir, "nj.json", []byte(`keys`))}, "nj.json"},
		{"jwks oct", Options{JWKSFile: writeFile(t, dir, "oct.json", jwks(t, jose.JSONWebKey{Key: k.hmac, KeyID: "s"}))}, "symmetric"},
		{"jwks private", Options{JWKSFile: writeFile(t, dir, "priv.json", jwks(t, jose.JSONWebKey{Key: k.ec, KeyID: "p"}))}, "private"},
		{"leeway", Options{Keys: []string{rsaPEM}, Leeway: 10 * time.Minute}, "leeway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error %v, want %q", err, tc.want)
			}
		})
	}
}

func jwks(t *testing.T, ks ...jose.JSONWebKey) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKSKeyIDAndReload(t *testing.T) {
	k := genKeys(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "jwks.json", jwks(t,
		jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "e1"},
	))
	a, err := New(Options{JWKSFile: path, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	wantAllow(t, run(t, a, connect("", sign(t, jose.RS256, k.rsa, "r1", goodClaims()))), "alice")
	wantAllow(t, run(t, a, connect("", sign(t, jose.ES256, k.ec, "e1", goodClaims()))), "alice")
	wantAllow(t, run(t, a, connect("", sign(t, jose.ES256, k.ec, "", goodClaims()))), "alice")
	// kid of the RSA key on an EC token: no EC key has it.
	wantDeny(t, run(t, a, connect("", sign(t, jose.ES256, k.ec, "r1", goodClaims()))), "unknown key id")

	_, ed2, _ := ed25519.GenerateKey(rand.Reader)
	tok2 := sign(t, jose.EdDSA, ed2, "d2", goodClaims())
	wantDeny(t, run(t, a, connect("", tok2)), "no key configured")

	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tokE2 := sign(t, jose.ES256, ec2, "e2", goodClaims())
	wantDeny(t, run(t, a, connect("", tokE2)), "unknown key id")

	// Reload picks up a new key.
	writeFile(t, dir, "jwks.json", jwks(t,
		jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "e1"},
		jose.JSONWebKey{Key: &ec2.PublicKey, KeyID: "e2"},
	))
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	wantAllow(t, run(t, a, connect("", tokE2)), "alice")
	// r1 was removed.
	wantDeny(t, run(t, a, connect("", sign(t, jose.RS256, k.rsa, "r1", goodClaims()))), "no key configured")

	// A broken file keeps the loaded keys.
	writeFile(t, dir, "jwks.json", []byte("{\n  \"keys\": [\n    {\"kty\": \"EC\",,}\n  ]\n}\n"))
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "jwks.json: line 3, column 18") {
		t.Fatalf("Reload error %v, want the file with line and column", err)
	}
	wantAllow(t, run(t, a, connect("", tokE2)), "alice")

	// Watch picks up a fixed file with yet another key.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Watch(ctx, 5*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	writeFile(t, dir, "jwks.json", jwks(t,
		jose.JSONWebKey{Key: &ec2.PublicKey, KeyID: "e2"},
		jose.JSONWebKey{Key: ed2.Public(), KeyID: "d2"},
	))
	poll.Until(t, 5*time.Second, "Watch did not load the new JWKS", func() bool {
		res, _ := a.Authenticate(context.Background(), connect("", tok2))
		return res.Decision == auth.Allow
	})
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	k := genKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	path := writeFile(t, t.TempDir(), "jwks.json", jwks(t,
		jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "p384"},
		jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "enc", Use: "enc"},
		jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "ps", Algorithm: "PS256"},
		jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "ok"},
	))
	a, err := New(Options{JWKSFile: path, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.cur.Load().keys); n != 1 {
		t.Fatalf("%d keys loaded, want 1", n)
	}
	wantDeny(t, run(t, a, connect("", sign(t, jose.RS256, k.rsa, "enc", goodClaims()))), "no key configured")
}

func TestChainFallsThroughOnPlainPassword(t *testing.T) {
	a := newTestAuth(t, nil)
	chain := auth.Chain{a, auth.Anonymous{}}
	res, by := chain.Authenticate(context.Background(), connect("alice", "hunter2"))
	if res.Decision != auth.Allow || by != "anonymous" {
		t.Fatalf("decision %v by %q", res.Decision, by)
	}
	res, by = chain.Authenticate(context.Background(), connect("", rawToken(`{"alg":"none"}`, `{}`, "")))
	if res.Decision != auth.Deny || by != "jwt" {
		t.Fatalf("alg none through chain: decision %v by %q", res.Decision, by)
	}
}

func TestSigningKeysClaim(t *testing.T) {
	k := genKeys(t)
	a := newTestAuth(t, nil)
	edDER, err := x509.MarshalPKIXPublicKey(k.ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&k.ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	token := func(keys any) string {
		c := map[string]any{"sub": "valve-7", "iss": "https://issuer.example", "aud": "moat",
			"exp": testNow.Add(time.Hour).Unix(), "signing_keys": keys}
		return sign(t, jose.RS256, k.rsa, "", c)
	}
	good := []any{
		map[string]any{"kid": "v7-ed", "spki": base64.StdEncoding.EncodeToString(edDER)},
		map[string]any{"kid": "v7-ec", "spki": base64.RawURLEncoding.EncodeToString(ecDER)},
	}
	res := run(t, a, connect("", token(good)))
	wantAllow(t, res, "valve-7")
	if ks := res.Identity.SigningKeys; len(ks) != 2 || ks[0].ID != "v7-ed" || ks[1].ID != "v7-ec" {
		t.Fatalf("signing keys %+v", ks)
	}
	if _, ok := res.Identity.SigningKeys[0].Public.(ed25519.PublicKey); !ok {
		t.Fatalf("key type %T", res.Identity.SigningKeys[0].Public)
	}
	many := make([]any, MaxSigningKeys+1)
	for i := range many {
		many[i] = good[0]
	}
	for _, tc := range []struct {
		name string
		keys any
		want string
	}{
		{"not an array", "v7-ed", "not an array"},
		{"too many", many, "more than 8 keys"},
		{"no kid", []any{map[string]any{"spki": base64.StdEncoding.EncodeToString(edDER)}}, "key 0"},
		{"extra field", []any{map[string]any{"kid": "a", "spki": base64.StdEncoding.EncodeToString(edDER), "x": 1}}, "key 0"},
		{"not base64", []any{map[string]any{"kid": "a", "spki": "%%%"}}, "key 0: spki is not base64"},
		{"not a key", []any{map[string]any{"kid": "a", "spki": base64.StdEncoding.EncodeToString([]byte("junk"))}}, "key 0: spki is not a public key"},
		{"RSA", []any{map[string]any{"kid": "a", "spki": base64.StdEncoding.EncodeToString(rsaDER)}}, "key 0: neither Ed25519 nor ECDSA P-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDeny(t, run(t, a, connect("", token(tc.keys))), "claim signing_keys: "+tc.want)
		})
	}
}
