package test

// Signed topics with keys from the login token: a JWT's signing_keys claim
// binds a public key to the token's subject; with token_keys in the key
// registry the broker verifies that identity's messages with it.

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

func TestSigned_TokenKeys(t *testing.T) {
	moat, dir, key, registry := signedKit(t, `{"keys": [], "token_keys": ["valve"]}`)
	pubPEM, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pubPEM)
	if blk == nil {
		t.Fatal("no PEM public key")
	}
	spki := base64.StdEncoding.EncodeToString(blk.Bytes)

	secret := filepath.Join(dir, "jwt.secret")
	if err := os.WriteFile(secret, []byte(testJWTSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.JWT.HMACSecretFile = secret
		c.SignedTopics = config.SignedTopics{Keys: registry, AllowReplayAfterRestart: true,
			Rules: []config.SignedRule{{Topics: []string{"plant/+/cmd"}}}}
	})
	token := func(sub string, keys any) string {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(testJWTSecret)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		claims := map[string]any{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
		if keys != nil {
			claims["signing_keys"] = keys
		}
		tok, err := josejwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return testutil.Secret(tok)
	}
	withKey := []any{map[string]any{"kid": "valve-token", "spki": spki}}
	sign := func(identity, seq string) string {
		return moat("sign", "message", "--key", key, "--kid", "valve-token", "--identity", identity,
			"--topic", "plant/7/cmd", "--epoch", "1", "--seq", seq, "--payload", "open")
	}
	host, port, _ := net.SplitHostPort(addr)
	m5 := mosqClients{host: host, port: port, version: "mqttv5"}
	pub := func(user, tok, sig string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		args := m5.args("-u", user, "-P", tok, "-t", "plant/7/cmd", "-m", "open", "-q", "1",
			"-D", "publish", "user-property", "moat-sig", sig)
		out, _ := exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput()
		return string(out)
	}
	if out := pub("valve", token("valve", withKey), sign("valve", "1")); !strings.Contains(out, "received PUBACK (Mid: 1, RC:16)") &&
		!strings.Contains(out, "received PUBACK (Mid: 1, RC:0)") {
		t.Fatalf("a message signed with the token's key was refused:\n%s", out)
	}
	for name, tc := range map[string][3]string{
		"token without the key":      {"valve", token("valve", nil), sign("valve", "2")},
		"identity not in token_keys": {"pump", token("pump", withKey), sign("pump", "3")},
	} {
		if out := pub(tc[0], tc[1], tc[2]); !strings.Contains(out, "RC:135") {
			t.Errorf("%s: want PUBACK 0x87 (RC:135):\n%s", name, out)
		}
	}
}
