package test

// Operator-signed key bindings on $moat/keys/<identity>: the broker
// publishes them retained from its key registry; moat keys fetch keeps
// only what the operator key signed, and moat sub verifies with the result
// without trusting the broker. Clients cannot write those topics.

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/config"
)

func TestSignedTools_KeyBindingsTopic(t *testing.T) {
	requireMosquitto(t)
	e := &signedToolsEnv{bin: buildMoatBinary(t), dir: t.TempDir(), pwFile: map[string]string{}}
	e.registry = filepath.Join(e.dir, "keys.json")
	op, valve, pump := filepath.Join(e.dir, "op.key"), filepath.Join(e.dir, "valve.key"), filepath.Join(e.dir, "pump.key")
	for _, k := range []string{op, valve, pump} {
		e.moat(t, 0, "keys", "gen", "--out", k)
	}
	e.moat(t, 0, "keys", "bind", "--keys", e.registry, "--identity", "valve", "--pub", valve+".pub", "--kid", "valve-1", "--operator-key", op)
	e.moat(t, 0, "keys", "bind", "--keys", e.registry, "--identity", "pump", "--pub", pump+".pub", "--kid", "pump-1") // not signed by the operator
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["plant/#"]
  - allow: [all]
    who: ["user:ops"]
    topics: ["$moat/#"]
`
	users := []string{"valve", "ops"}
	for _, u := range users {
		e.pwFile[u] = filepath.Join(e.dir, u+".pw")
		if err := os.WriteFile(e.pwFile[u], []byte(aclPassword(u)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := startACL(t, policy, users, func(c *config.Config) {
		c.SignedTopics = config.SignedTopics{Keys: e.registry, AllowReplayAfterRestart: true,
			Rules: []config.SignedRule{{Topics: []string{"plant/+/cmd"}}}}
	})
	e.host, e.port, _ = net.SplitHostPort(env.addr)

	// Only the operator-signed binding is published, and fetched.
	fetched := filepath.Join(e.dir, "fetched.json")
	_, errOut, code := e.run(t, append([]string{"keys", "fetch"}, e.conn("ops", "--operator-key", op+".pub", "--out", fetched, "--wait", "1s")...)...)
	if code != 0 || !strings.Contains(errOut, "1 key(s) of 1 identities") {
		t.Fatalf("moat keys fetch: exit %d\n%s", code, errOut)
	}
	data, err := os.ReadFile(fetched)
	if err != nil || !strings.Contains(string(data), `"valve-1"`) || strings.Contains(string(data), "pump") {
		t.Fatalf("fetched registry: %v\n%s", err, data)
	}
	// Another operator's key trusts nothing the broker publishes.
	other := filepath.Join(e.dir, "other.key")
	e.moat(t, 0, "keys", "gen", "--out", other)
	_, errOut, code = e.run(t, append([]string{"keys", "fetch"}, e.conn("ops", "--operator-key", other+".pub", "--out", filepath.Join(e.dir, "none.json"), "--wait", "1s")...)...)
	if code != 1 || !strings.Contains(errOut, "not signed by the operator key") {
		t.Fatalf("fetch with another operator key: exit %d\n%s", code, errOut)
	}

	// A subscriber that trusts the operator verifies the device's messages.
	sub := e.sub(t, "-t", "plant/7/cmd", "-q", "1", "--verify", "--keys", fetched, "--operator-key", op+".pub", "--count", "1")
	e.pub(t, 0, "-t", "plant/7/cmd", "-m", "open")
	lines, code := sub.wait(t)
	expectLines(t, lines, `^verified topic="plant/7/cmd" identity="valve" kid="valve-1" `)
	if code != 0 {
		t.Fatalf("moat sub exited %d", code)
	}

	// Nobody else writes the bindings, even with an ACL rule that allows it.
	m5 := mosqClients{host: e.host, port: e.port, version: "mqttv5"}
	out := m5.pub(t, "-u", "ops", "-P", aclPassword("ops"), "-t", "$moat/keys/valve", "-m", "{}", "-q", "1", "-r")
	if !strings.Contains(out, "RC:135") {
		t.Fatalf("a client wrote $moat/keys/valve:\n%s", out)
	}
}
