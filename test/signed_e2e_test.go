package test

// Signed topics end to end: keys made with `moat sign keygen`, messages
// signed with `moat sign message` and sent with mosquitto_pub (MQTT 5
// detached signature, MQTT 3.1.1 envelope). A valid message is delivered;
// a replayed, unsigned, forged or other-identity one is refused
// (PUBACK 0x87) and not delivered.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/config"
)

func TestSigned_EndToEnd(t *testing.T) {
	moat, dir, key, registry := signedKit(t, `{"keys": [{"kid": "valve-1", "identity": "valve", "public_key_file": "valve.key.pub"}]}`)
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["plant/#"]
`
	e := startACL(t, policy, []string{"valve", "intruder", "ops"}, func(c *config.Config) {
		// The default refuses signed messages for the skew after a start
		// (the replay state is in memory); this test starts sending at once.
		c.SignedTopics = config.SignedTopics{Keys: registry, AllowReplayAfterRestart: true, Rules: []config.SignedRule{
			{Topics: []string{"plant/+/cmd"}, MQTT3Action: "drop"}}}
	})
	host, port, _ := net.SplitHostPort(e.addr)
	m5 := mosqClients{host: host, port: port, version: "mqttv5"}
	sub := m5.sub(t, "-u", "ops", "-P", aclPassword("ops"), "-t", "plant/#", "-q", "1", "-C", "2")

	sign := func(seq string) string {
		return moat("sign", "message", "--key", key, "--kid", "valve-1", "--identity", "valve",
			"--topic", "plant/7/cmd", "--epoch", "1", "--seq", seq, "--payload", "open")
	}
	pub := func(user string, extra ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		args := m5.args(append([]string{"-u", user, "-P", aclPassword(user), "-t", "plant/7/cmd", "-m", "open", "-q", "1"}, extra...)...)
		out, _ := exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput()
		return string(out)
	}
	sig1 := sign("1")
	if out := pub("valve", "-D", "publish", "user-property", "moat-sig", sig1); !strings.Contains(out, "received PUBACK (Mid: 1, RC:0)") {
		t.Fatalf("a valid signed message was not accepted:\n%s", out)
	}
	for name, args := range map[string][]string{
		"replayed":       {"valve", "-D", "publish", "user-property", "moat-sig", sig1},
		"unsigned":       {"valve"},
		"other identity": {"intruder", "-D", "publish", "user-property", "moat-sig", sign("2")},
		"forged":         {"valve", "-D", "publish", "user-property", "moat-sig", sig1[:len(sig1)-6] + "AAAAAA"},
	} {
		if out := pub(args[0], args[1:]...); !strings.Contains(out, "RC:135") {
			t.Errorf("%s: want PUBACK 0x87 (RC:135):\n%s", name, out)
		}
	}
	// MQTT 3.1.1: the envelope as the payload.
	env := filepath.Join(dir, "msg.cose")
	moat("sign", "message", "--envelope", "--key", key, "--kid", "valve-1", "--identity", "valve",
		"--topic", "plant/7/cmd", "--epoch", "1", "--seq", "3", "--payload", "close", "--out", env)
	m3 := mosqClients{host: host, port: port, version: "mqttv311"}
	m3.pub(t, "-u", "valve", "-P", aclPassword("valve"), "-t", "plant/7/cmd", "-f", env, "-q", "1")

	msgs := sub.wait(t)
	if len(msgs) != 2 || msgs[0].Payload != "open" {
		t.Fatalf("the subscriber got %v, want the signed message and the envelope only", msgs)
	}
	if !strings.Contains(msgs[1].Payload, "close") {
		t.Fatalf("second message %q, want the envelope carrying close", msgs[1].Payload)
	}
}

// signedKit builds the moat binary, makes an Ed25519 key pair valve.key in
// a temporary directory and writes the key registry keys.json there with
// the given content. moat runs the binary and returns its trimmed output.
func signedKit(t *testing.T, registryJSON string) (moat func(args ...string) string, dir, key, registry string) {
	t.Helper()
	requireMosquitto(t)
	bin := buildMoatBinary(t)
	dir = t.TempDir()
	moat = func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).Output()
		if err != nil {
			t.Fatalf("moat %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	key = filepath.Join(dir, "valve.key")
	moat("sign", "keygen", "--alg", "ed25519", "--out", key)
	registry = filepath.Join(dir, "keys.json")
	if err := os.WriteFile(registry, []byte(registryJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	return moat, dir, key, registry
}
