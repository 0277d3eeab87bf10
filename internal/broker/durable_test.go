package broker_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/store/disk"
)

// gatedStore is the memory store whose Sync blocks while gated, so that a
// test can see what a connection sends before its writes are durable.
type gatedStore struct {
	store.Memory
	gated   atomic.Bool
	release chan struct{}
	entered chan struct{} // one value per Sync that found the gate closed
	syncs   atomic.Int32
}

func (g *gatedStore) Sync() error {
	g.syncs.Add(1)
	if g.gated.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return nil
}

func persistent(id string) *packet.Connect {
	cp := v5(id)
	cp.CleanStart = false
	cp.Properties.SessionExpiryInterval = 600
	cp.Properties.Set(packet.PropSessionExpiryInterval)
	return cp
}

func connected(t *testing.T, addr string, cp *packet.Connect) *rawClient {
	t.Helper()
	c := dial(t, addr, cp)
	ack, ok := c.read(t, cp.Version).(*packet.Connack)
	if !ok || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %+v", ack)
	}
	return c
}

func subscribed(t *testing.T, c *rawClient, v packet.Version, sub *packet.Subscribe) {
	t.Helper()
	c.send(t, sub, v)
	if sa, ok := c.read(t, v).(*packet.Suback); !ok || sa.ReasonCodes[0].IsError() {
		t.Fatalf("SUBACK %+v", sa)
	}
}

// TestStrictAckWaitsForSync: a PUBACK for a message queued for an offline
// persistent session leaves only after the store's Sync returned; one for a
// message nobody persists leaves at once.
func TestStrictAckWaitsForSync(t *testing.T) {
	g := &gatedStore{release: make(chan struct{}), entered: make(chan struct{}, 4)}
	addr, _ := startBroker(t, broker.Options{Store: g, HoldAcks: true})
	sub := connected(t, addr, persistent("sub"))
	subscribed(t, sub, packet.V5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t", QoS: 1}}})
	sub.send(t, &packet.Disconnect{}, packet.V5)

	pub := connected(t, addr, v5("pub"))
	// Nobody persists "other": acknowledged without a sync.
	before := g.syncs.Load()
	pub.send(t, &packet.Publish{Topic: "other", QoS: 1, PacketID: 1, Payload: []byte("x")}, packet.V5)
	if ack, ok := pub.read(t, packet.V5).(*packet.Puback); !ok || ack.PacketID != 1 {
		t.Fatalf("PUBACK %+v", ack)
	}
	if g.syncs.Load() != before {
		t.Fatal("a message nobody persists paid a sync")
	}

	g.gated.Store(true)
	pub.send(t, &packet.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: []byte("kept")}, packet.V5)
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no Sync for a message queued for a persistent session")
	}
	// The sync is blocked: nothing may have been acknowledged. A PINGRESP
	// proves the writer runs, and that no PUBACK went before it.
	pub.send(t, &packet.Pingreq{}, packet.V5)
	// The PINGREQ is read only after the held PUBACK is released (the
	// reader is inside Sync), so give the writer a moment to show a wrong
	// PUBACK before releasing.
	_ = pub.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if pk, err := pub.r.ReadPacket(packet.V5); err == nil {
		t.Fatalf("%v sent while the store had not synced", pk.Type())
	}
	g.gated.Store(false)
	close(g.release)
	if ack, ok := pub.read(t, packet.V5).(*packet.Puback); !ok || ack.PacketID != 2 {
		t.Fatalf("PUBACK after the sync: %+v", ack)
	}
	if _, ok := pub.read(t, packet.V5).(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
}

func openDisk(t *testing.T, dir string) *disk.Store {
	t.Helper()
	st, err := disk.Open(disk.Options{Dir: dir, Mode: disk.Strict, Key: make([]byte, disk.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRestartRestoresState runs a broker on a disk store, stops it, and
// starts another on the same store: sessions of both protocol versions get
// their queued messages in order at their subscription's QoS, retained
// messages are back, and a resent QoS 2 PUBLISH that was received before
// the restart is not delivered twice.
func TestRestartRestoresState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	addr, b1 := startBroker(t, broker.Options{Store: openDisk(t, dir), HoldAcks: true})

	s5 := connected(t, addr, persistent("s5"))
	sub := &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q/#", QoS: 2}}}
	sub.Properties.SubscriptionIdentifiers = []uint32{7}
	sub.Properties.Set(packet.PropSubscriptionIdentifier)
	subscribed(t, s5, packet.V5, sub)
	s5.send(t, &packet.Disconnect{}, packet.V5)
	s3cp := &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, ClientID: "s3"}
	s3 := connected(t, addr, s3cp)
	subscribed(t, s3, packet.V311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q/#", QoS: 1}}})
	s3.send(t, &packet.Disconnect{}, packet.V311)

	pub := connected(t, addr, persistent("pub"))
	pub.send(t, &packet.Publish{Topic: "q/1", QoS: 1, PacketID: 1, Payload: []byte("one")}, packet.V5)
	if _, ok := pub.read(t, packet.V5).(*packet.Puback); !ok {
		t.Fatal("no PUBACK")
	}
	pub.send(t, &packet.Publish{Topic: "q/2", QoS: 2, PacketID: 2, Payload: []byte("two")}, packet.V5)
	if _, ok := pub.read(t, packet.V5).(*packet.Pubrec); !ok {
		t.Fatal("no PUBREC")
	}
	pub.send(t, &packet.Pubrel{PacketID: 2}, packet.V5)
	if _, ok := pub.read(t, packet.V5).(*packet.Pubcomp); !ok {
		t.Fatal("no PUBCOMP")
	}
	// Received, not yet released when the broker stops.
	pub.send(t, &packet.Publish{Topic: "q/3", QoS: 2, PacketID: 9, Payload: []byte("three")}, packet.V5)
	if _, ok := pub.read(t, packet.V5).(*packet.Pubrec); !ok {
		t.Fatal("no PUBREC")
	}
	pub.send(t, &packet.Publish{Topic: "r/x", QoS: 1, PacketID: 3, Retain: true, Payload: []byte("kept")}, packet.V5)
	if _, ok := pub.read(t, packet.V5).(*packet.Puback); !ok {
		t.Fatal("no PUBACK")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	st := openDisk(t, dir)
	snap, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	addr, b2 := startBroker(t, broker.Options{Store: st, HoldAcks: true})
	rep, err := b2.Restore(snap)
	if err != nil || rep.Sessions != 3 || rep.Retained != 1 {
		t.Fatalf("restore: %+v %v", rep, err)
	}

	s5 = dial(t, addr, persistent("s5"))
	if ack := s5.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("CONNACK after restart: %+v", ack)
	}
	var qos2 []uint16
	for _, want := range []struct {
		topic string
		qos   byte
	}{{"q/1", 1}, {"q/2", 2}, {"q/3", 2}} {
		p, ok := s5.read(t, packet.V5).(*packet.Publish)
		if !ok || p.Topic != want.topic || p.QoS != want.qos {
			t.Fatalf("want %s at QoS %d, got %+v", want.topic, want.qos, p)
		}
		if ids := p.Properties.SubscriptionIdentifiers; len(ids) != 1 || ids[0] != 7 {
			t.Fatalf("%s: subscription identifiers %v", p.Topic, ids)
		}
		if p.QoS == 1 {
			s5.send(t, &packet.Puback{PacketID: p.PacketID}, packet.V5)
		} else {
			s5.send(t, &packet.Pubrec{PacketID: p.PacketID}, packet.V5)
			qos2 = append(qos2, p.PacketID)
		}
	}
	for _, id := range qos2 {
		if rel, ok := s5.read(t, packet.V5).(*packet.Pubrel); !ok || rel.PacketID != id {
			t.Fatalf("want PUBREL %d, got %+v", id, rel)
		}
		s5.send(t, &packet.Pubcomp{PacketID: id}, packet.V5)
	}

	// The publisher resends the unreleased QoS 2 message: acknowledged,
	// not delivered again; its release completes.
	pub = dial(t, addr, persistent("pub"))
	if ack := pub.read(t, packet.V5).(*packet.Connack); !ack.SessionPresent {
		t.Fatal("publisher session lost")
	}
	pub.send(t, &packet.Publish{Topic: "q/3", QoS: 2, PacketID: 9, Dup: true, Payload: []byte("three")}, packet.V5)
	if rec, ok := pub.read(t, packet.V5).(*packet.Pubrec); !ok || rec.ReasonCode != 0 {
		t.Fatalf("PUBREC for the resend: %+v", rec)
	}
	pub.send(t, &packet.Pubrel{PacketID: 9}, packet.V5)
	if comp, ok := pub.read(t, packet.V5).(*packet.Pubcomp); !ok || comp.ReasonCode != 0 {
		t.Fatalf("PUBCOMP: %+v (the id was forgotten across the restart)", comp)
	}
	pub.send(t, &packet.Publish{Topic: "q/4", QoS: 1, PacketID: 10, Payload: []byte("marker")}, packet.V5)
	if p, ok := s5.read(t, packet.V5).(*packet.Publish); !ok || p.Topic != "q/4" {
		t.Fatalf("after the resend, want the marker, got %+v", p)
	}

	s3 = dial(t, addr, s3cp)
	if ack := s3.read(t, packet.V311).(*packet.Connack); !ack.SessionPresent {
		t.Fatal("3.1.1 session lost")
	}
	for _, topic := range []string{"q/1", "q/2", "q/3", "q/4"} {
		p, ok := s3.read(t, packet.V311).(*packet.Publish)
		if !ok || p.Topic != topic || p.QoS != 1 {
			t.Fatalf("3.1.1: want %s at QoS 1, got %+v", topic, p)
		}
		s3.send(t, &packet.Puback{PacketID: p.PacketID}, packet.V311)
	}

	late := connected(t, addr, v5("late"))
	subscribed(t, late, packet.V5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "r/#", QoS: 1}}})
	if p, ok := late.read(t, packet.V5).(*packet.Publish); !ok || p.Topic != "r/x" || !p.Retain || string(p.Payload) != "kept" {
		t.Fatalf("retained after restart: %+v", p)
	}
}

// recordingStore is the memory store that records the writes it is given.
type recordingStore struct {
	store.Memory
	mu  sync.Mutex
	ops []store.Op
}

func (r *recordingStore) ApplyNoSync(b *store.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, b.Ops...)
	return nil
}

func (r *recordingStore) Apply(b *store.Batch) error { return r.ApplyNoSync(b) }

// TestRestoreExpiry: what expired while the broker was down is deleted
// from the store, not restored; a session that was connected when the
// broker stopped gets its whole expiry from the start.
func TestRestoreExpiry(t *testing.T) {
	rs := &recordingStore{}
	_, b := startBroker(t, broker.Options{Store: rs, HoldAcks: true})
	now := time.Now()
	sess := func(id string, expiry time.Duration, off time.Time) store.Restored {
		return store.Restored{ClientID: id, Session: &store.Session{ClientID: id, Identity: "anonymous", Anonymous: true, Version: packet.V5,
			ExpiryAfter: expiry, Disconnected: off,
			Subscriptions: []store.Subscription{{Filter: "t/" + id, Opts: packet.Subscription{Filter: "t/" + id, QoS: 1}}}}}
	}
	snap := &store.Snapshot{
		Sessions: []store.Restored{
			sess("gone", time.Minute, now.Add(-2*time.Minute)),
			sess("left", time.Hour, now.Add(-time.Minute)),
			sess("crashed", 2*time.Second, time.Time{}),
			{ClientID: "orphan", Queue: []store.Queued{{Seq: 1, Msg: &session.Message{Topic: "x", QoS: 1}}}},
		},
		Retained: []*session.Message{
			{Topic: "r/old", Payload: []byte("x"), QoS: 1, Created: now.Add(-time.Hour), Expiry: now.Add(-time.Second)},
			{Topic: "r/live", Payload: []byte("y"), QoS: 1, Created: now, Expiry: now.Add(time.Hour)},
		},
	}
	rep, err := b.Restore(snap)
	if err != nil || rep.Sessions != 2 || rep.Expired != 2 || rep.Orphans != 1 || rep.Retained != 1 {
		t.Fatalf("restore report %+v, %v", rep, err)
	}
	rs.mu.Lock()
	var deleted []string
	for _, op := range rs.ops {
		switch op.Kind {
		case store.OpDeleteSession:
			deleted = append(deleted, op.ClientID)
		case store.OpDeleteRetained:
			deleted = append(deleted, op.Topic)
		}
	}
	rs.mu.Unlock()
	if !slices.Equal(deleted, []string{"r/old", "gone", "orphan"}) {
		t.Fatalf("deleted from the store: %v", deleted)
	}
	if b.SessionCount() != 2 {
		t.Fatalf("sessions: %d", b.SessionCount())
	}
	// "crashed" got its 2 s from the start (it is among the two restored),
	// and its timer runs: it ends while "left" stays.
	deadline := time.Now().Add(10 * time.Second)
	for b.SessionCount() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the expiry of a restored session never fired (sessions %d)", b.SessionCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
