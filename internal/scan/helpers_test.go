package scan

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
)

// publishRetained connects to the plain MQTT broker at addr (with user
// and pass when user is set) and leaves a retained message on topic.
func publishRetained(t *testing.T, addr, user, pass, topic, payload string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	c := &packet.Connect{Version: packet.V311, CleanStart: true, KeepAlive: 30, ClientID: "seed-" + strings.ReplaceAll(topic, "/", "-")}
	if user != "" {
		c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = true, user, true, []byte(pass)
	}
	r := packet.NewReader(conn, 0)
	r.SetOrigin(packet.FromServer)
	if _, err := conn.Write(packet.AppendConnect(nil, c, packet.V311)); err != nil {
		t.Fatal(err)
	}
	pk, err := r.ReadPacket(packet.V311)
	if ack, ok := pk.(*packet.Connack); err != nil || !ok || ack.ReasonCode.IsError() {
		t.Fatalf("seeding %s: CONNACK %v %v", addr, pk, err)
	}
	p := &packet.Publish{QoS: 1, Retain: true, Topic: topic, PacketID: 1, Payload: []byte(payload)}
	if _, err := conn.Write(packet.AppendPublish(nil, p, packet.V311)); err != nil {
		t.Fatal(err)
	}
	if pk, err := r.ReadPacket(packet.V311); err != nil || pk.Type() != packet.PUBACK {
		t.Fatalf("seeding %s: want PUBACK, got %v %v", addr, pk, err)
	}
	_, _ = conn.Write(packet.AppendDisconnect(nil, packet.NormalDisconnection, nil, packet.V311))
}

// hasRetained reports whether a subscription to topic on the plain MQTT
// broker at addr receives a retained message at once.
func hasRetained(addr, topic string) bool { return hasRetainedAs(addr, "", "", topic) }

// hasRetainedAs is hasRetained for the user user (anonymous when empty).
func hasRetainedAs(addr, user, pass, topic string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	r := packet.NewReader(conn, 0)
	r.SetOrigin(packet.FromServer)
	c := &packet.Connect{Version: packet.V311, CleanStart: true, KeepAlive: 30, ClientID: "retained-probe"}
	if user != "" {
		c.UsernameFlag, c.Username, c.PasswordFlag, c.Password = true, user, true, []byte(pass)
	}
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic}}}
	if _, err := conn.Write(append(packet.AppendConnect(nil, c, packet.V311), packet.AppendSubscribe(nil, sub, packet.V311)...)); err != nil {
		return false
	}
	for {
		pk, err := r.ReadPacket(packet.V311)
		if err != nil {
			return false
		}
		if p, ok := pk.(*packet.Publish); ok && p.Retain {
			return true
		}
	}
}

// waitRetained polls until topic holds a retained message ($SYS topics
// appear after the broker's first round).
func waitRetained(t *testing.T, addr, topic string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, "no retained message on "+topic, func() bool { return hasRetained(addr, topic) })
}

// run scans targets with o and fails the test on an error.
func run(t *testing.T, o Options, targets ...string) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, targets, o)
	if err != nil {
		t.Fatalf("Run(%v): %v", targets, err)
	}
	t.Logf("scan of %v took %s:%s\nnotes: %s\nfailed: %s", targets, time.Since(start).Round(time.Millisecond),
		dump(res.Findings), strings.Join(res.Notes, "\n  "), strings.Join(res.Failed, "; "))
	return res
}

func dump(fs []doctor.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return b.String()
}

// want fails unless fs holds a finding of each id.
func want(t *testing.T, fs []doctor.Finding, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if !slices.ContainsFunc(fs, func(f doctor.Finding) bool { return f.ID == id }) {
			t.Errorf("want a %s finding; got:%s", id, dump(fs))
		}
	}
}

// none fails if fs holds a finding of any of ids.
func none(t *testing.T, fs []doctor.Finding, ids ...string) {
	t.Helper()
	for _, f := range fs {
		if slices.Contains(ids, f.ID) {
			t.Errorf("unexpected finding %s", f)
		}
	}
}

// find returns the first finding of id.
func find(fs []doctor.Finding, id string) (doctor.Finding, bool) {
	i := slices.IndexFunc(fs, func(f doctor.Finding) bool { return f.ID == id })
	if i < 0 {
		return doctor.Finding{}, false
	}
	return fs[i], true
}
