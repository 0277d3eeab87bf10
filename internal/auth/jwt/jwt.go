// Package jwt authenticates MQTT clients that present a signed JSON Web
// Token in the CONNECT password field.
//
// Only HS256 (with a configured secret file), RS256, ES256 (P-256) and
// EdDSA (Ed25519) are accepted; "none" and every other algorithm are
// refused. Keys are chosen by algorithm first and key id second, so an
// asymmetric public key can never serve as an HMAC secret. Every token
// must carry exp; nbf and iat are honoured with a bounded leeway.
//
// A password that does not look like a JWT is not this method's business:
// the authenticator abstains so that the password file can decide. A
// password that looks like a JWT must verify, or the client is denied.
package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/fileversion"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/topic"
)

// Defaults and bounds for Options.
const (
	DefaultLeeway        = 30 * time.Second
	MaxLeeway            = 5 * time.Minute
	DefaultUsernameClaim = "sub"
	DefaultGroupsClaim   = "groups"
	DefaultTopicsClaim   = "topics"
	// DefaultSigningKeysClaim is the claim of a token's message-signing
	// keys.
	DefaultSigningKeysClaim = "signing_keys"
	// MaxTokenSize bounds the token; a larger JWT-shaped password is denied.
	MaxTokenSize = 8 << 10
	// maxUnnamedTries bounds the keys tried for a token without kid.
	maxUnnamedTries = 16
)

// Options configure an Authenticator. At least one of Keys, JWKSFile and
// HMACSecretFile must be set.
type Options struct {
	// Keys are PEM files holding public keys (RSA of 2048 bits or more,
	// EC P-256, Ed25519) or certificates. They match tokens of any kid.
	Keys []string
	// JWKSFile is a JSON Web Key Set; its keys match by kid. Watch reloads
	// it, and the other files, when they change.
	JWKSFile string
	// HMACSecretFile holds the HS256 secret (whitespace trimmed, at least
	// 32 bytes). Without it HS256 tokens are refused.
	HMACSecretFile string
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audience, when set, must be among the aud claim's values.
	Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat. Zero means
	// DefaultLeeway; it may not exceed MaxLeeway.
	Leeway time.Duration
	// UsernameClaim names the string claim that becomes Identity.Name.
	// Empty means "sub".
	UsernameClaim string
	// GroupsClaim names the array-of-strings claim that becomes
	// Identity.Groups. Empty means "groups". The claim may be absent.
	GroupsClaim string
	// TopicsClaim names an optional object claim {"publish": [filters],
	// "subscribe": [filters]} that becomes Identity.Topics, restricting
	// the token to those filters. Empty means "topics".
	TopicsClaim string
	// SigningKeysClaim names an optional claim binding message-signing
	// keys to the token's identity: an array of at most MaxSigningKeys
	// objects {"kid": "...", "spki": "<base64 of the DER
	// SubjectPublicKeyInfo>"} of Ed25519 or P-256 keys. It becomes
	// Identity.SigningKeys. Empty means "signing_keys".
	SigningKeysClaim string
	// Now is the clock, for tests. Nil means time.Now.
	Now func() time.Time
	// Logger receives reload outcomes and skipped JWKS keys. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Method is the MQTT 5 Authentication Method under which a client sends a
// token as Authentication Data, at CONNECT or to re-authenticate (AUTH
// 0x19) before its token expires.
const Method = "JWT"

// Authenticator verifies JWTs. It is safe for concurrent use: requests
// read an immutable key snapshot that Reload swaps atomically; reloadMu
// only serializes reloads.
type Authenticator struct {
	opts Options
	log  *slog.Logger

	reloadMu sync.Mutex
	cur      atomic.Pointer[keySet]
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New validates o and loads every key file. A missing, malformed or
// unusable file is an error that names it.
func New(o Options) (*Authenticator, error) {
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Leeway < 0 || o.Leeway > MaxLeeway {
		return nil, fmt.Errorf("jwt: leeway %v outside 0..%v", o.Leeway, MaxLeeway)
	}
	if o.UsernameClaim == "" {
		o.UsernameClaim = DefaultUsernameClaim
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = DefaultGroupsClaim
	}
	if o.TopicsClaim == "" {
		o.TopicsClaim = DefaultTopicsClaim
	}
	if o.SigningKeysClaim == "" {
		o.SigningKeysClaim = DefaultSigningKeysClaim
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Keys = append([]string(nil), o.Keys...)
	ks, err := loadKeys(&o)
	if err != nil {
		return nil, err
	}
	a := &Authenticator{opts: o, log: o.Logger}
	a.cur.Store(ks)
	a.logWarnings(ks)
	return a, nil
}

// Name implements auth.Authenticator.
func (a *Authenticator) Name() string { return "jwt" }

// Reload reads every key file again and swaps them in. On error the loaded
// keys stay in use.
func (a *Authenticator) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	ks, err := loadKeys(&a.opts)
	if err != nil {
		return err
	}
	a.cur.Store(ks)
	a.logWarnings(ks)
	return nil
}

func (a *Authenticator) logWarnings(ks *keySet) {
	for _, w := range ks.warnings {
		a.log.Warn("jwt key skipped", "detail", w)
	}
}

// Watch checks the key files every interval and reloads them when one
// changes, until ctx ends. A failed reload is logged once per file version
// and the loaded keys stay in use.
func (a *Authenticator) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var failed []os.FileInfo // file versions a reload failed on
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := a.statFiles()
		if err != nil {
			continue // a file being replaced; the next tick sees it
		}
		if fileversion.SameAll(now, a.cur.Load().stats) || fileversion.SameAll(now, failed) {
			continue
		}
		if err := a.Reload(); err != nil {
			a.log.Error("jwt key reload failed; keeping the loaded keys", "error", err)
			failed = now
			continue
		}
		failed = nil
		a.log.Info("jwt keys reloaded", "keys", len(a.cur.Load().keys))
	}
}

func (a *Authenticator) statFiles() ([]os.FileInfo, error) {
	paths := append([]string(nil), a.opts.Keys...)
	if a.opts.JWKSFile != "" {
		paths = append(paths, a.opts.JWKSFile)
	}
	if a.opts.HMACSecretFile != "" {
		paths = append(paths, a.opts.HMACSecretFile)
	}
	out := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// Authenticate implements auth.Authenticator. It abstains unless the
// password looks like a JWT; such a password must verify or is denied.
// Details name the reason and never contain the token.
func (a *Authenticator) Authenticate(_ context.Context, r *auth.Request) (auth.Result, error) {
	var token []byte
	switch {
	case r.Method == Method:
		if r.Step > 0 {
			return auth.Result{Decision: auth.Deny, Reason: packet.ProtocolError, Detail: "jwt: unexpected AUTH step"}, nil
		}
		token = r.Data
		if !looksLikeJWT(token) {
			return auth.Result{Decision: auth.Deny, Reason: packet.NotAuthorized,
				Detail: "jwt: authentication data is not a JWT"}, nil
		}
	case r.Method == "" && r.HasPassword && looksLikeJWT(r.Password):
		token = r.Password
	default:
		return auth.Result{}, nil
	}
	if len(token) > MaxTokenSize {
		return deny(fmt.Sprintf("token larger than %d bytes", MaxTokenSize)), nil
	}
	id, exp, reason := a.verify(string(token))
	if reason != "" {
		return deny(reason), nil
	}
	if r.Username != "" && r.Username != id.Name {
		return deny("user name does not match the token's " + a.opts.UsernameClaim + " claim"), nil
	}
	// The leeway that accepted a just-expired token also delays the end.
	return auth.Result{Decision: auth.Allow, Identity: id, Expires: exp.Add(a.opts.Leeway)}, nil
}

func deny(reason string) auth.Result {
	return auth.Result{Decision: auth.Deny, Reason: packet.BadUserNameOrPassword, Detail: "jwt: " + reason}
}

// verify checks the token and returns the identity it proves, or a reason
// for refusal.
func (a *Authenticator) verify(token string) (*auth.Identity, time.Time, string) {
	alg, kid, ok := peekHeader(token)
	if !ok {
		return nil, time.Time{}, "malformed token header"
	}
	if !allowedAlg(alg) {
		return nil, time.Time{}, fmt.Sprintf("algorithm %q not allowed", clip(alg))
	}
	ks := a.cur.Load()
	keys, reason := ks.candidates(jose.SignatureAlgorithm(alg), kid)
	if reason != "" {
		return nil, time.Time{}, reason
	}
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return nil, time.Time{}, "malformed token"
	}
	verified := false
	for _, k := range keys {
		if tok.Claims(k.key) == nil { // no destination: checks the signature only
			verified = true
			break
		}
	}
	if !verified {
		return nil, time.Time{}, "bad signature"
	}
	// The signature over exactly these payload bytes has just been checked.
	var std josejwt.Claims
	var raw map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&std, &raw); err != nil {
		return nil, time.Time{}, "malformed claims"
	}
	if std.Expiry == nil {
		return nil, time.Time{}, "token has no exp claim"
	}
	want := josejwt.Expected{Issuer: a.opts.Issuer, Time: a.opts.Now()}
	if a.opts.Audience != "" {
		want.AnyAudience = josejwt.Audience{a.opts.Audience}
	}
	if err := std.ValidateWithLeeway(want, a.opts.Leeway); err != nil {
		return nil, time.Time{}, validationReason(err)
	}
	name, ok := raw[a.opts.UsernameClaim].(string)
	if !ok || name == "" {
		return nil, time.Time{}, "claim " + a.opts.UsernameClaim + " missing or not a string"
	}
	groups, ok := stringList(raw[a.opts.GroupsClaim])
	if !ok {
		return nil, time.Time{}, "claim " + a.opts.GroupsClaim + " is not an array of strings"
	}
	id := &auth.Identity{Name: name, Groups: groups, Method: "jwt"}
	if v, ok := raw[a.opts.TopicsClaim]; ok {
		grant, reason := topicGrant(v)
		if reason != "" {
			return nil, time.Time{}, "claim " + a.opts.TopicsClaim + ": " + reason
		}
		id.Topics = grant
	}
	if v, ok := raw[a.opts.SigningKeysClaim]; ok {
		keys, reason := signingKeys(v)
		if reason != "" {
			return nil, time.Time{}, "claim " + a.opts.SigningKeysClaim + ": " + reason
		}
		id.SigningKeys = keys
	}
	return id, std.Expiry.Time(), ""
}

func validationReason(err error) string {
	switch {
	case errors.Is(err, josejwt.ErrExpired):
		return "token expired"
	case errors.Is(err, josejwt.ErrNotValidYet):
		return "token not yet valid (nbf)"
	case errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return "token issued in the future (iat)"
	case errors.Is(err, josejwt.ErrInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, josejwt.ErrInvalidAudience):
		return "wrong audience"
	default:
		return "invalid claims"
	}
}

// candidates returns the keys that may verify a token of alg and kid. A
// token with a kid matches keys with that kid and keys without one (PEM,
// HMAC); a token without kid matches every key of its algorithm, at most
// maxUnnamedTries of them.
func (ks *keySet) candidates(alg jose.SignatureAlgorithm, kid string) ([]verifyKey, string) {
	var out []verifyKey
	sameAlg := false
	for _, k := range ks.keys {
		if k.alg != alg {
			continue
		}
		sameAlg = true
		if kid == "" || k.kid == "" || k.kid == kid {
			out = append(out, k)
		}
	}
	switch {
	case !sameAlg:
		return nil, fmt.Sprintf("algorithm %s not allowed: no key configured for it", alg)
	case len(out) == 0:
		return nil, "unknown key id"
	case kid == "" && len(out) > maxUnnamedTries:
		return nil, "token has no kid and too many keys could match"
	}
	return out, ""
}

func allowedAlg(alg string) bool {
	switch jose.SignatureAlgorithm(alg) {
	case jose.HS256, jose.RS256, jose.ES256, jose.EdDSA:
		return true
	}
	return false
}

// peekHeader decodes the unverified protected header for alg and kid, to
// pick keys and refuse algorithms with a clear reason. Nothing in it is
// trusted beyond that choice.
func peekHeader(token string) (alg, kid string, ok bool) {
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", "", false
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", "", false
	}
	return h.Alg, h.Kid, true
}

// clip bounds an attacker-chosen string before it reaches a log.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

// maxGrantFilters bounds the filters a topics claim may list.
const maxGrantFilters = 256

// topicGrant converts a topics claim: an object with optional "publish"
// and "subscribe" arrays of valid topic filters, nothing else.
func topicGrant(v any) (*auth.TopicGrant, string) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, "not an object"
	}
	g := &auth.TopicGrant{}
	for k, val := range obj {
		list, ok := stringList(val)
		if !ok {
			return nil, k + " is not an array of strings"
		}
		if len(list) > maxGrantFilters {
			return nil, fmt.Sprintf("%s lists more than %d filters", k, maxGrantFilters)
		}
		for _, f := range list {
			if err := topic.ValidateFilter(f, topic.Limits{}); err != nil {
				return nil, fmt.Sprintf("%s: filter %q: %v", k, clip(f), err)
			}
		}
		switch k {
		case "publish":
			g.Publish = list
		case "subscribe":
			g.Subscribe = list
		default:
			return nil, fmt.Sprintf("unknown key %q (want publish, subscribe)", clip(k))
		}
	}
	return g, ""
}

// stringList converts a claim to a list of strings; absent is empty.
// MaxSigningKeys bounds the keys a signing_keys claim may bind; a kid is
// at most 128 bytes and an encoded key at most 1 KiB.
const MaxSigningKeys = 8

// signingKeys converts a signing_keys claim; a reason when it is malformed
// or names a key that cannot sign messages.
func signingKeys(v any) ([]auth.SigningKey, string) {
	arr, ok := v.([]any)
	if !ok {
		return nil, "not an array"
	}
	if len(arr) > MaxSigningKeys {
		return nil, fmt.Sprintf("more than %d keys", MaxSigningKeys)
	}
	out := make([]auth.SigningKey, 0, len(arr))
	for i, e := range arr {
		obj, ok := e.(map[string]any)
		kid, _ := obj["kid"].(string)
		spki, _ := obj["spki"].(string)
		if !ok || len(obj) != 2 || kid == "" || len(kid) > 128 || !utf8.ValidString(kid) || spki == "" || len(spki) > 1024 {
			return nil, fmt.Sprintf("key %d: want {\"kid\": 1 to 128 bytes, \"spki\": base64 of at most 1 KiB}", i)
		}
		der, err := base64.StdEncoding.DecodeString(spki)
		if err != nil {
			der, err = base64.RawURLEncoding.DecodeString(spki)
		}
		if err != nil {
			return nil, fmt.Sprintf("key %d: spki is not base64", i)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, fmt.Sprintf("key %d: spki is not a public key", i)
		}
		switch k := pub.(type) {
		case ed25519.PublicKey:
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return nil, fmt.Sprintf("key %d: ECDSA keys must be on P-256", i)
			}
		default:
			return nil, fmt.Sprintf("key %d: neither Ed25519 nor ECDSA P-256", i)
		}
		out = append(out, auth.SigningKey{ID: kid, Public: pub})
	}
	return out, ""
}

func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// looksLikeJWT reports whether p has the shape of a JWS compact
// serialization: three base64url segments separated by '.', the first
// (the header) non-empty and decoding to a JSON object. The signature may
// be empty so that "alg":"none" tokens are denied rather than passed on.
func looksLikeJWT(p []byte) bool {
	dots := 0
	first := -1
	for i, c := range p {
		switch {
		case c == '.':
			if dots == 0 {
				first = i
			}
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	if dots != 2 || first == 0 {
		return false
	}
	// Decode at most 64 characters of the header: enough to find its '{'.
	head := p[:first]
	if len(head) > 64 {
		head = head[:64] // a multiple of 4: decodes without the rest
	}
	b, err := base64.RawURLEncoding.DecodeString(string(head))
	if err != nil {
		return false
	}
	s := strings.TrimLeft(string(b), " \t\r\n")
	return strings.HasPrefix(s, "{")
}
