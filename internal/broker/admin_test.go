package broker_test

import (
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
)

// Administrators see who set each retained message and when, never its
// payload, and purge by filter; purged messages are gone for subscribers
// and from the owners' quotas.
func TestRetainedListAndPurge(t *testing.T) {
	byUser := authFunc(func(r *auth.Request) auth.Result {
		return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: r.Username, Method: "test"}}
	})
	addr, b := startBrokerWith(t, broker.Options{Auth: auth.Chain{byUser}}, func(l *broker.Limits) {
		l.Retain.MaxPerOwner = 3
	})
	before := time.Now()
	for _, u := range []string{"alice", "bob"} {
		cp := v5("pub-" + u)
		cp.Username, cp.UsernameFlag = u, true
		c := dial(t, addr, cp)
		c.read(t, packet.V5)
		for i, topic := range []string{"site/" + u + "/a", "site/" + u + "/b", "other/" + u} {
			if code := publishRetained(t, c, uint16(i+1), topic, "secret-"+u); code.IsError() {
				t.Fatalf("%s retained %s: %v", u, topic, code)
			}
		}
	}
	list, total := b.Retained("site/#", 0)
	if total != 4 || len(list) != 4 {
		t.Fatalf("site/#: %d listed, %d total: %+v", len(list), total, list)
	}
	want := []string{"site/alice/a", "site/alice/b", "site/bob/a", "site/bob/b"}
	for i, m := range list {
		if m.Topic != want[i] || m.Size != len("secret-"+m.SetBy) || m.QoS != 1 || m.SetAt.Before(before) || !m.Expires.IsZero() {
			t.Errorf("entry %d: %+v, want topic %s", i, m, want[i])
		}
	}
	if list[0].SetBy != "alice" || list[3].SetBy != "bob" {
		t.Errorf("owners: %q, %q", list[0].SetBy, list[3].SetBy)
	}
	if list, total := b.Retained("#", 2); len(list) != 2 || total != 6 || list[0].Topic != "other/alice" {
		t.Errorf("#, limit 2: %d listed of %d: %+v", len(list), total, list)
	}

	n, err := b.PurgeRetained("site/+/a")
	if err != nil || n != 2 {
		t.Fatalf("purge site/+/a: %d, %v", n, err)
	}
	if _, total := b.Retained("#", 0); total != 4 {
		t.Fatalf("after the purge %d remain, want 4", total)
	}
	if got := retainedFor(t, addr, "s1", "site/alice/a", 200*time.Millisecond); got != "" {
		t.Fatalf("a purged message was delivered: %q", got)
	}
	if got := retainedFor(t, addr, "s2", "site/alice/b", time.Second); got != "secret-alice" {
		t.Fatalf("a kept message: %q", got)
	}
	// The purge gave alice back quota: a fourth topic fits again.
	cp := v5("pub-alice")
	cp.Username, cp.UsernameFlag = "alice", true
	c := dial(t, addr, cp)
	c.read(t, packet.V5)
	if code := publishRetained(t, c, 9, "site/alice/c", "v"); code.IsError() {
		t.Fatalf("after a purge: %v", code)
	}
}
