package broker_test

import (
	"slices"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// retainedFor subscribes a fresh client to filter and reports the retained
// payload it gets at once, or "" when none arrives within wait.
func retainedFor(t *testing.T, addr, id, filter string, wait time.Duration) string {
	t.Helper()
	c := dial(t, addr, v5(id))
	c.read(t, packet.V5) // CONNACK
	c.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 1}}}, packet.V5)
	c.read(t, packet.V5) // SUBACK
	_ = c.nc.SetReadDeadline(time.Now().Add(wait))
	pk, err := c.r.ReadPacket(packet.V5)
	if err != nil {
		return ""
	}
	p, ok := pk.(*packet.Publish)
	if !ok || !p.Retain {
		t.Fatalf("got %v, want a retained PUBLISH", pk)
	}
	return string(p.Payload)
}

func publishRetained(t *testing.T, c *rawClient, id uint16, topic, payload string) packet.ReasonCode {
	t.Helper()
	c.send(t, &packet.Publish{Topic: topic, QoS: 1, PacketID: id, Retain: true, Payload: []byte(payload)}, packet.V5)
	return c.read(t, packet.V5).(*packet.Puback).ReasonCode
}

func TestRetainPolicy(t *testing.T) {
	addr, _ := startBrokerWith(t, broker.Options{}, func(l *broker.Limits) {
		l.Retain = broker.RetainPolicy{Never: []string{"otp/#"}, MaxSize: 8, MaxPerOwner: 2}
	})
	pub := dial(t, addr, v5("pub"))
	pub.read(t, packet.V5)
	// Never retained: the flag is stripped; the message is not kept.
	if code := publishRetained(t, pub, 1, "otp/alice", "123456"); code.IsError() {
		t.Fatalf("strip: PUBACK %v", code)
	}
	if got := retainedFor(t, addr, "s1", "otp/#", 200*time.Millisecond); got != "" {
		t.Fatalf("a never-retain topic kept %q", got)
	}
	// Too large.
	if code := publishRetained(t, pub, 2, "big", "123456789"); code != packet.QuotaExceeded {
		t.Fatalf("oversized retained: PUBACK %v, want 0x97", code)
	}
	// Two topics per owner; replacing one's own is fine; a third is refused
	// until one is deleted.
	for i, topic := range []string{"a", "b", "a"} {
		if code := publishRetained(t, pub, uint16(10+i), topic, "v"); code.IsError() {
			t.Fatalf("retained %s: PUBACK %v", topic, code)
		}
	}
	if code := publishRetained(t, pub, 20, "c", "v"); code != packet.QuotaExceeded {
		t.Fatalf("third retained topic: PUBACK %v, want 0x97", code)
	}
	if code := publishRetained(t, pub, 21, "a", ""); code.IsError() {
		t.Fatalf("delete: PUBACK %v", code)
	}
	if code := publishRetained(t, pub, 22, "c", "v"); code.IsError() {
		t.Fatalf("after a delete: PUBACK %v", code)
	}
	if got := retainedFor(t, addr, "s2", "c", time.Second); got != "v" {
		t.Fatalf("retained c: %q", got)
	}
}

func TestRetainNeverRefuseAndMaxAge(t *testing.T) {
	addr, _ := startBrokerWith(t, broker.Options{}, func(l *broker.Limits) {
		l.Retain = broker.RetainPolicy{Never: []string{"otp/#"}, RefuseNever: true, MaxAge: 300 * time.Millisecond}
	})
	pub := dial(t, addr, v5("pub"))
	pub.read(t, packet.V5)
	if code := publishRetained(t, pub, 1, "otp/alice", "123456"); code != packet.NotAuthorized {
		t.Fatalf("refused never-retain: PUBACK %v, want 0x87", code)
	}
	if code := publishRetained(t, pub, 2, "state", "on"); code.IsError() {
		t.Fatalf("PUBACK %v", code)
	}
	// The retained copy ends after max_age (the time must pass: a poll,
	// each round a new subscriber).
	n := 0
	poll.Until(t, 5*time.Second, "the retained message outlived max_age", func() bool {
		n++
		return retainedFor(t, addr, "late"+string(rune('a'+n%26)), "state", 50*time.Millisecond) == ""
	})
}

// With root wildcards off, "#" and "+/..." are refused (0x87) except for
// the listed identities; filters starting with a literal level are fine.
func TestRootWildcards(t *testing.T) {
	byUser := authFunc(func(r *auth.Request) auth.Result {
		return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: r.Username, Method: "test"}}
	})
	addr, _ := startBrokerWith(t, broker.Options{Auth: auth.Chain{byUser}}, func(l *broker.Limits) {
		l.NoRootWildcards, l.RootWildcardIdentities = true, []string{"monitoring"}
	})
	for _, tc := range []struct {
		user string
		want []packet.ReasonCode
	}{
		{"alice", []packet.ReasonCode{packet.NotAuthorized, packet.NotAuthorized, 1}},
		{"monitoring", []packet.ReasonCode{1, 1, 1}},
	} {
		cp := v5(tc.user)
		cp.Username, cp.UsernameFlag = tc.user, true
		c := dial(t, addr, cp)
		c.read(t, packet.V5)
		c.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: "#", QoS: 1}, {Filter: "+/status", QoS: 1}, {Filter: "site/+/status", QoS: 1}}}, packet.V5)
		ack := c.read(t, packet.V5).(*packet.Suback)
		if !slices.Equal(ack.ReasonCodes, tc.want) {
			t.Errorf("%s: SUBACK %v, want %v", tc.user, ack.ReasonCodes, tc.want)
		}
	}
}
