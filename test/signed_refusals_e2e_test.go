package test

// Each way a signed message can be wrong, sent with mosquitto_pub over
// MQTT 5 (refused with PUBACK 0x87) and MQTT 3.1.1 (dropped), each with an
// audit event naming the reason; nothing refused is delivered.

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

func TestSigned_RefusalsAudited(t *testing.T) {
	moat, dir, key, registry := signedKit(t, `{"keys": [{"kid": "valve-1", "identity": "valve", "public_key_file": "valve.key.pub"}]}`)
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive, retain]
    who: [authenticated]
    topics: ["plant/#"]
`
	var auditFile string
	e := startACL(t, policy, []string{"valve", "ops"}, func(c *config.Config) {
		c.SignedTopics = config.SignedTopics{Keys: registry, AllowReplayAfterRestart: true, Rules: []config.SignedRule{
			{Topics: []string{"plant/+/cmd"}, MQTT3Action: "drop"},
			{Topics: []string{"plant/+/state"}, Retain: true}}}
		auditFile = c.AuditFile()
	})
	host, port, _ := net.SplitHostPort(e.addr)
	m5 := mosqClients{host: host, port: port, version: "mqttv5"}
	m3 := mosqClients{host: host, port: port, version: "mqttv311"}
	// The subscriber expects exactly the three valid messages.
	sub := m5.sub(t, "-u", "ops", "-P", aclPassword("ops"), "-t", "plant/#", "-q", "1", "-C", "3")

	seq := 0
	sign := func(topic, payload string, extra ...string) string {
		seq++
		return moat(append([]string{"sign", "message", "--key", key, "--kid", "valve-1", "--identity", "valve",
			"--topic", topic, "--epoch", "1", "--seq", strconv.Itoa(seq), "--payload", payload}, extra...)...)
	}
	pub := func(m mosqClients, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		out, _ := exec.CommandContext(ctx, "mosquitto_pub", m.args(append([]string{"-u", "valve", "-P", aclPassword("valve"), "-q", "1"}, args...)...)...).CombinedOutput()
		return string(out)
	}
	prop := func(sig string) []string { return []string{"-D", "publish", "user-property", "moat-sig", sig} }
	stale := strconv.FormatInt(time.Now().Add(-2*time.Minute).Unix(), 10)
	cases := []struct {
		name, reason string
		args         []string
	}{
		{"stale issue time", "stale", append([]string{"-t", "plant/7/cmd", "-m", "open"}, prop(sign("plant/7/cmd", "open", "--issued", stale))...)},
		{"modified payload", "bad_signature", append([]string{"-t", "plant/7/cmd", "-m", "opeN"}, prop(sign("plant/7/cmd", "open"))...)},
		{"changed topic", "", append([]string{"-t", "plant/8/cmd", "-m", "open"}, prop(sign("plant/7/cmd", "open"))...)},
		{"retain flag not signed", "", append([]string{"-t", "plant/7/state", "-m", "on", "-r"}, prop(sign("plant/7/state", "on"))...)},
		{"signed retained, sent live", "", append([]string{"-t", "plant/7/state", "-m", "on"}, prop(sign("plant/7/state", "on", "--retain"))...)},
	}
	for _, tc := range cases {
		if out := pub(m5, tc.args...); !strings.Contains(out, "RC:135") {
			t.Errorf("%s: want PUBACK 0x87 (RC:135):\n%s", tc.name, out)
		}
	}
	// A replay on the same connection: two lines, one signature; the
	// first is valid and delivered.
	sig := sign("plant/7/cmd", "open")
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	cmd := exec.CommandContext(ctx, "mosquitto_pub", m5.args(append([]string{"-u", "valve", "-P", aclPassword("valve"), "-q", "1",
		"-t", "plant/7/cmd", "-l"}, prop(sig)...)...)...)
	cmd.Stdin = strings.NewReader("open\nopen\n")
	both, _ := cmd.CombinedOutput()
	cancel()
	if !strings.Contains(string(both), "RC:135") {
		t.Errorf("replay on one connection: want a PUBACK 0x87:\n%s", both)
	}
	// MQTT 3.1.1: an unsigned message on a signed topic is dropped (the
	// rule says drop, not disconnect): mosquitto_pub completes.
	pub(m3, "-t", "plant/7/cmd", "-m", "unsigned")

	// Two more valid messages; the subscriber must get these three and
	// nothing else.
	if out := pub(m5, append([]string{"-t", "plant/7/cmd", "-m", "open"}, prop(sign("plant/7/cmd", "open"))...)...); !strings.Contains(out, "RC:0") {
		t.Fatalf("valid message refused:\n%s", out)
	}
	env := filepath.Join(dir, "close.cose")
	seq++
	moat("sign", "message", "--envelope", "--key", key, "--kid", "valve-1", "--identity", "valve",
		"--topic", "plant/7/cmd", "--epoch", "1", "--seq", strconv.Itoa(seq), "--payload", "close", "--out", env)
	m3.pub(t, "-u", "valve", "-P", aclPassword("valve"), "-t", "plant/7/cmd", "-f", env, "-q", "1")
	msgs := sub.wait(t)
	if len(msgs) != 3 || msgs[0].Payload != "open" || msgs[1].Payload != "open" || !strings.Contains(msgs[2].Payload, "close") {
		t.Fatalf("the subscriber got %v, want only the three valid messages", msgs)
	}

	// Every refusal is counted by reason and audited. The audit log
	// collapses events of one kind, address and reason code within its
	// window into the first and a count (docs/audit.md), so the first
	// refusal is in the file with its reason and the others are counted.
	got := map[string]uint64{}
	for _, lv := range e.srv.Broker().Metrics().SignedRefused.Values() {
		got[lv.Label] = lv.Value
	}
	for reason, want := range map[string]uint64{"stale": 1, "bad_signature": 1, "replayed": 1, "missing": 1} {
		if got[reason] < want {
			t.Errorf("refusals counted as %s: %d, want %d (all: %v)", reason, got[reason], want, got)
		}
	}
	var total uint64
	for _, n := range got {
		total += n
	}
	if total != 7 {
		t.Errorf("%d refusals counted, want 7: %v", total, got)
	}
	flushAudit(t, e)
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"detail":"signed topic plant/7/cmd: stale (rule plant/+/cmd, key valve-1)"`) {
		t.Errorf("the first refusal is not in the audit log:\n%s", data)
	}
}

// flushAudit makes the audit log's buffered records readable.
func flushAudit(t *testing.T, e *aclEnv) {
	t.Helper()
	flusher, ok := e.srv.Audit().(interface{ Flush() error })
	if !ok {
		t.Fatalf("the server's audit sink %T is not the audit log", e.srv.Audit())
	}
	if err := flusher.Flush(); err != nil {
		t.Fatal(err)
	}
}
