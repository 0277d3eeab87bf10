package broker_test

import (
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
)

// switchable allows everything until closed is set; then it refuses
// everything under "secret/".
type switchable struct{ closed atomic.Bool }

func (s *switchable) Authorize(_ *acl.Subject, r acl.Request) acl.Result {
	if s.closed.Load() && strings.HasPrefix(r.Topic, "secret/") {
		return acl.Result{Rule: "test: secret closed"}
	}
	return acl.Result{Allowed: true, MaxQoS: 2, Rule: "test: open"}
}

// A policy change removes subscriptions it no longer allows, audits each,
// and leaves the others.
func TestRevalidateRemovesRevokedSubscriptions(t *testing.T) {
	sw := &switchable{}
	rec := &recorder{}
	addr, b := startBroker(t, broker.Options{ACL: sw, Audit: rec})
	c := dial(t, addr, v5("sub"))
	c.read(t, packet.V5) // CONNACK
	c.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "secret/plans", QoS: 1}, {Filter: "public/news", QoS: 1}}}, packet.V5)
	if ack := c.read(t, packet.V5).(*packet.Suback); ack.ReasonCodes[0] != 1 || ack.ReasonCodes[1] != 1 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	if n := b.Revalidate(); n != 0 {
		t.Fatalf("nothing changed, yet %d subscriptions removed", n)
	}
	sw.closed.Store(true)
	if n := b.Revalidate(); n != 1 {
		t.Fatalf("removed %d subscriptions, want 1", n)
	}
	if !rec.has(audit.ACLDenied, packet.NotAuthorized) {
		t.Fatal("the revocation is not audited")
	}
	// The kept subscription still delivers; an unsubscribe of the revoked
	// one finds nothing.
	b.Publish("public/news", []byte("kept"), 0, false)
	if p, ok := c.read(t, packet.V5).(*packet.Publish); !ok || p.Topic != "public/news" {
		t.Fatalf("got %v, want the public message", p)
	}
	c.send(t, &packet.Unsubscribe{PacketID: 2, Filters: []string{"secret/plans"}}, packet.V5)
	if ack := c.read(t, packet.V5).(*packet.Unsuback); ack.ReasonCodes[0] != packet.NoSubscriptionExisted {
		t.Fatalf("UNSUBACK %v, want 0x11", ack.ReasonCodes)
	}
}

// capped grants subscriptions at most QoS max.
type capped struct{ max atomic.Int32 }

func (c *capped) Authorize(_ *acl.Subject, r acl.Request) acl.Result {
	return acl.Result{Allowed: true, MaxQoS: byte(c.max.Load()), Rule: "test: capped"}
}

// A policy that lowers a rule's max_qos lowers the QoS of live
// subscriptions: deliveries come at the new QoS, and the change is audited.
func TestRevalidateLowersQoS(t *testing.T) {
	cp := &capped{}
	cp.max.Store(2)
	rec := &recorder{}
	addr, b := startBroker(t, broker.Options{ACL: cp, Audit: rec})
	c := dial(t, addr, v5("sub"))
	c.read(t, packet.V5) // CONNACK
	c.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t/#", QoS: 2}}}, packet.V5)
	if ack := c.read(t, packet.V5).(*packet.Suback); ack.ReasonCodes[0] != 2 {
		t.Fatalf("SUBACK %v", ack.ReasonCodes)
	}
	cp.max.Store(0)
	if n := b.Revalidate(); n != 0 {
		t.Fatalf("%d subscriptions removed; want them kept at a lower QoS", n)
	}
	if !rec.has(audit.ACLDenied, packet.GrantedQoS0) {
		t.Fatal("the lowered QoS is not audited")
	}
	b.Publish("t/x", []byte("x"), 2, false)
	if p, ok := c.read(t, packet.V5).(*packet.Publish); !ok || p.QoS != 0 {
		t.Fatalf("got %v, want a QoS 0 delivery", p)
	}
}

// With DisconnectDeniedPublish an MQTT 3.1.1 client whose publish is
// refused is disconnected; without it the publish is dropped.
func TestDeniedPublishV311(t *testing.T) {
	sw := &switchable{}
	sw.closed.Store(true)
	for _, disconnect := range []bool{false, true} {
		addr, _ := startBrokerWith(t, broker.Options{ACL: sw}, func(l *broker.Limits) { l.DisconnectDeniedPublish = disconnect })
		cp := v5("v3")
		cp.Version = packet.V311
		c := dial(t, addr, cp)
		c.read(t, packet.V311) // CONNACK
		c.send(t, &packet.Publish{Topic: "secret/x", QoS: 1, PacketID: 7, Payload: []byte("x")}, packet.V311)
		if !disconnect {
			if ack, ok := c.read(t, packet.V311).(*packet.Puback); !ok || ack.PacketID != 7 {
				t.Fatalf("dropped publish: got %v, want PUBACK", ack)
			}
			continue
		}
		if _, err := c.r.ReadPacket(packet.V311); err == nil {
			t.Fatal("connection still open after a refused 3.1.1 publish")
		}
	}
}

// Client ids with control characters, or outside mqtt.client_id_pattern,
// are refused with 0x85.
func TestClientIDHygiene(t *testing.T) {
	addr, _ := startBrokerWith(t, broker.Options{}, func(l *broker.Limits) {
		l.ClientIDPattern = regexp.MustCompile(`^[a-z0-9-]+$`)
	})
	for _, tc := range []struct {
		id   string
		want packet.ReasonCode
	}{
		{"sensor-1", 0},
		{"Sensor_1", packet.ClientIdentifierNotValid},
		{"bad\nid", packet.ClientIdentifierNotValid},
		{"", 0}, // assigned by the broker
	} {
		c := dial(t, addr, v5(tc.id))
		if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != tc.want {
			t.Errorf("client id %q: CONNACK %v, want %v", tc.id, ack.ReasonCode, tc.want)
		}
	}
}
