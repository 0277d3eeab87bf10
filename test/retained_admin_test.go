package test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// TestRetainedAdmin: retained messages set by mosquitto_pub as two users
// are listed by `moat retained list` with who set them and when, never
// their payload, and `moat retained purge` deletes them from the running
// broker through its admin socket; bad filters and a stopped broker get
// clear errors.
func TestRetainedAdmin(t *testing.T) {
	requireMosquitto(t)
	bin := buildMoatBinary(t)
	const policy = `version: 1
rules:
  - allow: [publish, retain, subscribe, receive]
    who: [authenticated]
    topics: ["site/%u/#"]
`
	var dataDir string
	e := startACL(t, policy, []string{"alice", "bob"}, func(c *config.Config) { dataDir = c.DataDir })
	host, port, _ := net.SplitHostPort(e.addr)
	m := mosqClients{host: host, port: port, version: "mqttv5"}
	for _, u := range []string{"alice", "bob"} {
		for _, leaf := range []string{"config", "state"} {
			m.pub(t, "-u", u, "-P", aclPassword(u), "-t", "site/"+u+"/"+leaf, "-m", "payload-secret-"+u, "-r", "-q", "1")
		}
	}
	moat := func(want int, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"retained", "--data-dir", dataDir}, args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("moat retained %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return string(out)
	}
	out := moat(0, "list", "site/#")
	for _, want := range []string{`"site/alice/config"`, `"site/alice/state"`, `"site/bob/config"`, `"site/bob/state"`, `"alice"`, `"bob"`, "SET BY", "never"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "payload-secret") {
		t.Errorf("the list shows payloads:\n%s", out)
	}
	if out := moat(0, "list", "--limit", "1", "site/#"); !strings.Contains(out, "(1 of 4 shown") {
		t.Errorf("limited list:\n%s", out)
	}
	if out := moat(0, "purge", "site/alice/#"); !strings.Contains(out, "purged 2 retained") {
		t.Errorf("purge: %s", out)
	}
	list, total := e.srv.Broker().Retained("#", 0)
	if total != 2 || list[0].Topic != "site/bob/config" || list[1].Topic != "site/bob/state" {
		t.Fatalf("after the purge: %+v", list)
	}
	// A subscriber no longer gets alice's messages, still gets bob's.
	s := m.sub(t, "-u", "bob", "-P", aclPassword("bob"), "-t", "site/bob/#", "-C", "2", "-q", "1")
	if msgs := s.wait(t); len(msgs) != 2 {
		t.Fatalf("bob's retained after alice's purge: %v", msgs)
	}
	if out := moat(0, "list", "site/alice/#"); !strings.Contains(out, `no retained messages match "site/alice/#"`) {
		t.Errorf("empty list: %s", out)
	}
	if out := moat(1, "list", "site/#/x"); !strings.Contains(out, `filter "site/#/x"`) {
		t.Errorf("bad filter: %s", out)
	}
	if out := moat(1, "purge", "$share/g/site/#"); !strings.Contains(out, "shared-subscription") {
		t.Errorf("shared filter: %s", out)
	}
	moat(2, "list")
	moat(2, "drop", "x")
	// No broker on the socket: a clear error.
	if out := moat(1, "--socket", dataDir+"/none.sock", "list", "#"); !strings.Contains(out, "no broker answers on") {
		t.Errorf("no broker: %s", out)
	}
}

// TestBanThroughRunningBroker: `moat ban add` while a broker runs goes
// through its admin socket and applies at once (a connection from the
// banned address is closed at accept); `moat ban remove` lifts it.
func TestBanThroughRunningBroker(t *testing.T) {
	bin := buildMoatBinary(t)
	var dataDir string
	addr, _ := testutil.Start(t, func(c *config.Config) { dataDir = c.DataDir })
	moat := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), bin, append([]string{"ban", "--data-dir", dataDir}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("moat ban %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if _, ok := admitted(t, addr, "127.0.0.9", "before"); !ok {
		t.Fatal("127.0.0.9 refused before the ban")
	}
	moat("add", "127.0.0.9", "--for", "1h", "--reason", "test")
	if _, ok := admitted(t, addr, "127.0.0.9", "banned"); ok {
		t.Fatal("a banned address was served right after moat ban add")
	}
	if out := moat("list"); !strings.Contains(out, "127.0.0.9") || !strings.Contains(out, "test") {
		t.Fatalf("list: %s", out)
	}
	moat("remove", "127.0.0.9")
	if _, ok := admitted(t, addr, "127.0.0.9", "after"); !ok {
		t.Fatal("127.0.0.9 refused after moat ban remove")
	}
}
