package test

// Token expiry end to end: a connection ends with DISCONNECT 0xA0 when its
// JWT expires; an MQTT 5 re-authentication (AUTH 0x19, method "JWT") with
// a fresh token extends it; re-authenticating as someone else ends it.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

const (
	tAUTH            = 15
	propAuthMethod   = 0x15
	propAuthData     = 0x16
	testJWTSecret    = "0123456789abcdef0123456789abcdef-test-secret"
	jwtReAuthenticat = 0x19
)

// hs256 signs a token for sub that expires at exp.
func hs256(t testing.TB, sub string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(testJWTSecret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(signer).Claims(josejwt.Claims{Subject: sub, Expiry: josejwt.NewNumericDate(exp)}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Secret(testJWTSecret)
	return testutil.Secret(tok)
}

// startJWTBroker runs a broker that accepts HS256 tokens with a leeway of
// 1ms, so that a token ends when its exp says.
func startJWTBroker(t *testing.T) string {
	addr, _ := startJWTBrokerLogged(t, nil)
	return addr
}

// startJWTBrokerLogged is startJWTBroker with the broker's log kept.
func startJWTBrokerLogged(t *testing.T, logs *logBuffer) (string, *logBuffer) {
	secret := filepath.Join(t.TempDir(), "jwt.secret")
	if err := os.WriteFile(secret, []byte(testJWTSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = &logBuffer{}
	}
	addr, _ := testutil.StartLogged(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.JWT.HMACSecretFile = secret
		c.Auth.JWT.Leeway = config.Duration(time.Millisecond)
	}, logs)
	return addr, logs
}

func rawAuth(reason byte, method string, data []byte) []byte {
	body := append([]byte{reason}, encodeProps(props{{ID: propAuthMethod, S: method}, {ID: propAuthData, Bin: data}})...)
	return frame(tAUTH<<4, body)
}

// jwtConnect connects with the token as MQTT 5 authentication data.
func jwtConnect(t *testing.T, addr, id, token string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, true)
	c.send(rawConnect{Version: 5, ClientID: id, Clean: true,
		Props: props{{ID: propAuthMethod, S: "JWT"}, {ID: propAuthData, Bin: []byte(token)}}}.bytes())
	if ca := parseConnack(t, c.expect(tCONNACK), true); ca.Code != 0 {
		t.Fatalf("CONNACK %#x", ca.Code)
	}
	return c
}

func TestAuth_JWTExpiryDisconnects(t *testing.T) {
	addr := startJWTBroker(t)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second) // exp is whole seconds
	user := "device-1"
	// In the password field, as any MQTT version can send it.
	c := dialRaw(t, addr, true)
	c.send(rawConnect{Version: 5, ClientID: "jwt-pw", Clean: true, Username: &user,
		Password: []byte(hs256(t, "device-1", exp.Add(time.Second)))}.bytes())
	if ca := parseConnack(t, c.expect(tCONNACK), true); ca.Code != 0 {
		t.Fatalf("CONNACK %#x", ca.Code)
	}
	p, err := c.read(10 * time.Second)
	if err != nil || p.Type != tDISCONNECT || disconnectReason(p) != 0xA0 {
		t.Fatalf("at token expiry: %v %v, want DISCONNECT 0xA0", p, err)
	}
	if time.Now().Before(exp.Add(time.Second)) {
		t.Fatalf("disconnected before the token expired")
	}
	if _, err := c.read(waitTimeout); err == nil {
		t.Fatal("connection still open after DISCONNECT")
	}
}

func TestAuth_JWTReauthenticationExtends(t *testing.T) {
	addr := startJWTBroker(t)
	exp := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	c := jwtConnect(t, addr, "jwt-reauth", hs256(t, "device-2", exp))
	c.send(rawAuth(jwtReAuthenticat, "JWT", []byte(hs256(t, "device-2", time.Now().Add(time.Hour)))))
	if p := c.expect(tAUTH); len(p.Body) == 0 || p.Body[0] != 0x00 {
		t.Fatalf("re-authentication answer %v, want AUTH 0x00", p)
	}
	// Past the first token's end the connection still works.
	for time.Now().Before(exp.Add(500 * time.Millisecond)) {
		c.send([]byte{tPINGREQ << 4, 0})
		c.expect(tPINGRESP)
		time.Sleep(200 * time.Millisecond) // pacing the pings, not synchronisation
	}
	c.send([]byte{tPINGREQ << 4, 0})
	c.expect(tPINGRESP)
}

func TestAuth_JWTReauthenticationOtherIdentity(t *testing.T) {
	addr, logs := startJWTBrokerLogged(t, nil)
	first, second := hs256(t, "device-3", time.Now().Add(time.Hour)), hs256(t, "device-4", time.Now().Add(time.Hour))
	c := jwtConnect(t, addr, "jwt-other", first)
	c.send(rawAuth(jwtReAuthenticat, "JWT", []byte(second)))
	p, err := c.read(waitTimeout)
	if err != nil || p.Type != tDISCONNECT || disconnectReason(p) != 0x87 {
		t.Fatalf("re-authentication as another identity: %v %v, want DISCONNECT 0x87", p, err)
	}
	// A malformed token as authentication data is refused with 0x87.
	m := dialRaw(t, addr, true)
	m.send(rawConnect{Version: 5, ClientID: "jwt-bad", Clean: true,
		Props: props{{ID: propAuthMethod, S: "JWT"}, {ID: propAuthData, Bin: []byte("not.a-jwt")}}}.bytes())
	if ca := parseConnack(t, m.expect(tCONNACK), true); ca.Code != 0x87 {
		t.Fatalf("malformed token: CONNACK %#x, want 0x87", ca.Code)
	}
	// An expired token in the password field is refused; no token, secret
	// or signature reaches the log, though the refusals do.
	user := "device-5"
	expired := hs256(t, user, time.Now().Add(-time.Hour))
	e := dialRaw(t, addr, true)
	e.send(rawConnect{Version: 5, ClientID: "jwt-expired", Clean: true, Username: &user, Password: []byte(expired)}.bytes())
	if ca := parseConnack(t, e.expect(tCONNACK), true); ca.Code != 0x86 {
		t.Fatalf("expired token: CONNACK %#x, want 0x86", ca.Code)
	}
	out := logs.String()
	if !strings.Contains(out, "token expired") || !strings.Contains(out, "re-authenticated as another identity") {
		t.Fatalf("the refusals are not logged:\n%s", out)
	}
	for _, secret := range []string{first, second, expired, testJWTSecret, sigOf(first), sigOf(expired)} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret (%.12s...)", secret)
		}
	}
}

// sigOf is the signature part of a JWT.
func sigOf(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// hs256Topics signs a token for sub whose topics claim grants publish and
// subscribe on the given filters.
func hs256Topics(t testing.TB, sub string, exp time.Time, topics ...string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(testJWTSecret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"sub": sub, "exp": exp.Unix(),
		"topics": map[string][]string{"publish": topics, "subscribe": topics}}
	tok, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return testutil.Secret(tok)
}

// A fresh token's topics claim applies from the re-authentication on: a
// subscription the new token no longer covers is removed, the others
// keep delivering.
func TestAuth_JWTReauthenticationNarrowsTopics(t *testing.T) {
	addr := startJWTBroker(t)
	hour := time.Now().Add(time.Hour)
	sub := jwtConnect(t, addr, "jwt-narrow", hs256Topics(t, "device-6", hour, "a/#", "b/#"))
	for i, f := range []string{"a/#", "b/#"} {
		if code := sub.subscribe(uint16(i+1), f, 1, nil); code != 1 {
			t.Fatalf("SUBSCRIBE %s: %#x", f, code)
		}
	}
	pub := jwtConnect(t, addr, "jwt-narrow-pub", hs256Topics(t, "device-7", hour, "#"))
	received := func() []string {
		t.Helper()
		for i, topic := range []string{"a/x", "b/x"} {
			if code := pub.aclPublish(uint16(10+i), topic, 1, false, "m"); code >= 0x80 {
				t.Fatalf("publish %s: %#x", topic, code)
			}
		}
		var got []string
		for _, p := range sub.ping() {
			got = append(got, parsePublish(t, p, true).Topic)
			sub.send(rawAck(tPUBACK, parsePublish(t, p, true).ID))
		}
		return got
	}
	if got := received(); strings.Join(got, ",") != "a/x,b/x" {
		t.Fatalf("before re-authentication: %v", got)
	}
	sub.send(rawAuth(jwtReAuthenticat, "JWT", []byte(hs256Topics(t, "device-6", hour, "a/#"))))
	if p := sub.expect(tAUTH); len(p.Body) == 0 || p.Body[0] != 0x00 {
		t.Fatalf("re-authentication answer %v, want AUTH 0x00", p)
	}
	if got := received(); strings.Join(got, ",") != "a/x" {
		t.Fatalf("after re-authentication with a narrower token: %v, want only a/x", got)
	}
	// Subscribing to b/# again is refused now.
	if code := sub.subscribe(3, "b/#", 1, nil); code != 0x87 {
		t.Fatalf("SUBSCRIBE b/# with the narrower token: %#x, want 0x87", code)
	}
}
