// Package storetest is the contract every durable store.Store backend
// passes: Run for behaviour, Benchmark for the measurements of
// docs/durability.md.
package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
)

// Opener opens the backend's store in dir, creating it when dir is new.
// Opening the same dir again after Close must find everything written.
type Opener func(tb testing.TB, dir string) store.Store

// Run runs the contract suite against the backend open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"Empty", testEmpty},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionOverwrite", testSessionOverwrite},
		{"DeleteSession", testDeleteSession},
		{"QueueOrder", testQueueOrder},
		{"OrphanQueue", testOrphanQueue},
		{"Retained", testRetained},
		{"Batch", testBatch},
		{"ApplyNoSync", testApplyNoSync},
		{"Reopen", testReopen},
		{"LargePayload", testLargePayload},
		{"ManySessions", testManySessions},
		{"ConcurrentWriters", testConcurrentWriters},
		{"MessageFidelity", testMessageFidelity},
		{"ExpiryFields", testExpiryFields},
		{"ArbitraryNames", testArbitraryNames},
		{"NoAliasing", testNoAliasing},
		{"Closed", testClosed},
		{"Inbound", testInbound},
		{"IdentitySection", testIdentitySection},
		{"State", testState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open)
		})
	}
}

// openT opens a fresh store and closes it at the end of the test.
func openT(t *testing.T, open Opener) (store.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func load(t testing.TB, s store.Store) *store.Snapshot {
	t.Helper()
	snap, err := s.Load()
	must(t, err)
	return snap
}

// reopen closes s and opens dir again.
func reopen(t *testing.T, open Opener, s store.Store, dir string) store.Store {
	t.Helper()
	must(t, s.Close())
	s = open(t, dir)
	t.Cleanup(func() { s.Close() })
	return s
}

// t0 is a time with nanoseconds and a zone, as the broker makes them.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 3600))

// FullMessage is a message with every field set, including every property
// a stored message may carry.
func FullMessage(topic string) *session.Message {
	m := &session.Message{
		Topic:     topic,
		Payload:   []byte("payload\x00\xff"),
		QoS:       2,
		Retain:    true,
		Created:   t0,
		Expiry:    t0.Add(90 * time.Second),
		Publisher: "publisher-1",
		SetBy:     "alice",
	}
	p := &m.Properties
	p.PayloadFormat = 1
	p.MessageExpiryInterval = 90
	p.ContentType = "application/json"
	p.ResponseTopic = "reply/to/me"
	p.CorrelationData = []byte{0, 1, 2, 0xff}
	p.SubscriptionIdentifiers = []uint32{7, 268435455}
	p.UserProperties = []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "v2"}, {Key: "", Value: ""}}
	p.TopicAlias = 12
	p.ReasonString = "why"
	for _, id := range []packet.PropID{packet.PropPayloadFormat, packet.PropMessageExpiryInterval,
		packet.PropContentType, packet.PropResponseTopic, packet.PropCorrelationData,
		packet.PropSubscriptionIdentifier, packet.PropUserProperty, packet.PropTopicAlias, packet.PropReasonString} {
		p.Set(id)
	}
	return m
}

// FullSession is a session with every field set.
func FullSession(id string) *store.Session {
	return &store.Session{
		ClientID:     id,
		Identity:     "user:" + id,
		Version:      packet.V5,
		ExpiryAfter:  time.Hour,
		Disconnected: t0,
		Subscriptions: []store.Subscription{
			{Filter: "a/+/c", Opts: packet.Subscription{Filter: "a/+/c", QoS: 1, NoLocal: true}, SubID: 42},
			{Filter: "$share/g/x/#", Opts: packet.Subscription{Filter: "x/#", QoS: 2, RetainAsPublished: true, RetainHandling: 2}},
			{Filter: "#", Opts: packet.Subscription{Filter: "#", RetainHandling: 1}, SubID: 268435455},
		},
		Will:      FullMessage("will/" + id),
		WillDelay: 30 * time.Second,
	}
}

// IdentitySession is FullSession with every identity field set.
func IdentitySession(id string) *store.Session {
	s := FullSession(id)
	s.Groups = []string{"ops", "fleet/eu"}
	s.Method = "jwt"
	s.Topics = &auth.TopicGrant{Publish: []string{"dev/" + id + "/#"}, Subscribe: []string{"cmd/" + id, "x/+"}}
	return s
}

// Msg is a small message for queue tests.
func Msg(topic string, n int) *session.Message {
	return &session.Message{Topic: topic, Payload: fmt.Appendf(nil, "m%d", n), QoS: 1, Created: t0}
}

// normalize makes values that differ only in representation equal: times
// by instant (zone and monotonic reading dropped).
func normalize(v any) any {
	switch x := v.(type) {
	case *session.Message:
		if x == nil {
			return x
		}
		c := *x
		c.Created, c.Expiry = utc(c.Created), utc(c.Expiry)
		return &c
	case *store.Session:
		if x == nil {
			return x
		}
		c := *x
		c.Disconnected = utc(c.Disconnected)
		c.Will, _ = normalize(c.Will).(*session.Message)
		return &c
	}
	return v
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Equal reports whether two messages or two sessions are the same.
func Equal(a, b any) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

func wantEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !Equal(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", what, normalize(got), normalize(want))
	}
}

// find returns the restored state of id, or nil.
func find(snap *store.Snapshot, id string) *store.Restored {
	for i := range snap.Sessions {
		if snap.Sessions[i].ClientID == id {
			return &snap.Sessions[i]
		}
	}
	return nil
}

func seqs(r *store.Restored) []uint64 {
	if r == nil {
		return nil
	}
	var out []uint64
	for _, q := range r.Queue {
		out = append(out, q.Seq)
	}
	return out
}

func testEmpty(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	snap := load(t, s)
	if len(snap.Sessions) != 0 || len(snap.Retained) != 0 {
		t.Fatalf("new store not empty: %+v", snap)
	}
}

func testSessionRoundTrip(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	want := FullSession("c1")
	must(t, s.SaveSession(want))
	minimal := &store.Session{ClientID: "c2", Version: packet.V311}
	must(t, s.SaveSession(minimal))
	snap := load(t, s)
	if len(snap.Sessions) != 2 {
		t.Fatalf("sessions: %d", len(snap.Sessions))
	}
	wantEqual(t, "full session", find(snap, "c1").Session, want)
	wantEqual(t, "minimal session", find(snap, "c2").Session, minimal)
}

func testSessionOverwrite(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	must(t, s.SaveSession(FullSession("c")))
	must(t, s.Enqueue("c", 1, Msg("t", 1)))
	next := &store.Session{ClientID: "c", Identity: "bob", Version: packet.V5, ExpiryAfter: time.Minute}
	must(t, s.SaveSession(next))
	r := find(load(t, s), "c")
	wantEqual(t, "overwritten session", r.Session, next)
	if got := seqs(r); !reflect.DeepEqual(got, []uint64{1}) {
		t.Fatalf("SaveSession changed the queue: %v", got)
	}
}

func testDeleteSession(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	// "a" is a prefix of the others' ids: deleting it must not touch them.
	for _, id := range []string{"a", "ab", "a/b", "a\x00"} {
		must(t, s.SaveSession(FullSession(id)))
		for seq := uint64(1); seq <= 3; seq++ {
			must(t, s.Enqueue(id, seq, Msg("t/"+id, int(seq))))
		}
	}
	must(t, s.DeleteSession("a"))
	must(t, s.DeleteSession("never-existed"))
	snap := load(t, s)
	if find(snap, "a") != nil {
		t.Fatal("deleted session or its queue still there")
	}
	for _, id := range []string{"ab", "a/b", "a\x00"} {
		r := find(snap, id)
		if r == nil || r.Session == nil || len(r.Queue) != 3 {
			t.Fatalf("session %q damaged by deleting %q: %+v", id, "a", r)
		}
	}
}

func testQueueOrder(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	must(t, s.SaveSession(FullSession("c")))
	order := []uint64{5, 1, 1 << 40, 3, 256, 255, 1<<64 - 1, 2}
	for _, seq := range order {
		must(t, s.Enqueue("c", seq, Msg("t", int(seq%1000))))
	}
	must(t, s.Dequeue("c", 3))
	must(t, s.Dequeue("c", 3)) // twice: not an error
	must(t, s.Dequeue("c", 999))
	must(t, s.Enqueue("c", 5, Msg("replaced", 5)))
	r := find(load(t, s), "c")
	want := []uint64{1, 2, 5, 255, 256, 1 << 40, 1<<64 - 1}
	if got := seqs(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("queue order %v, want %v", got, want)
	}
	for _, q := range r.Queue {
		if q.Seq == 5 && q.Msg.Topic != "replaced" {
			t.Fatalf("re-enqueued seq 5 kept the old message %q", q.Msg.Topic)
		}
		if q.Seq == 1 && !bytes.Equal(q.Msg.Payload, []byte("m1")) {
			t.Fatalf("seq 1 payload %q", q.Msg.Payload)
		}
	}
}

func testOrphanQueue(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	must(t, s.Enqueue("orphan", 1, Msg("t", 1)))
	r := find(load(t, s), "orphan")
	if r == nil || r.Session != nil || len(r.Queue) != 1 {
		t.Fatalf("queue without a session record: %+v", r)
	}
}

func testRetained(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	must(t, s.SetRetained(FullMessage("b/x")))
	must(t, s.SetRetained(Msg("a", 1)))
	must(t, s.SetRetained(Msg("c", 1)))
	replaced := Msg("a", 2)
	must(t, s.SetRetained(replaced))
	must(t, s.DeleteRetained("c"))
	must(t, s.DeleteRetained("no/such/topic"))
	snap := load(t, s)
	if len(snap.Retained) != 2 {
		t.Fatalf("retained: %d messages", len(snap.Retained))
	}
	wantEqual(t, "retained a (replaced)", snap.Retained[0], replaced)
	wantEqual(t, "retained b/x", snap.Retained[1], FullMessage("b/x"))
}

func testBatch(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	var b store.Batch
	b.SaveSession(FullSession("c"))
	b.Enqueue("c", 1, Msg("t", 1))
	b.Enqueue("c", 2, Msg("t", 2))
	b.Enqueue("d", 1, Msg("t", 1))
	b.Dequeue("c", 1)
	b.SetRetained(Msg("r", 1))
	b.DeleteRetained("r")
	b.SetRetained(Msg("r2", 1))
	b.DeleteSession("d")
	b.Enqueue("d", 7, Msg("after-delete", 7)) // later writes win
	if b.Len() != 10 {
		t.Fatalf("Len %d", b.Len())
	}
	must(t, s.Apply(&b))
	b.Reset()
	must(t, s.Apply(&b)) // empty
	snap := load(t, s)
	if got := seqs(find(snap, "c")); !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("c queue %v", got)
	}
	if got := seqs(find(snap, "d")); !reflect.DeepEqual(got, []uint64{7}) {
		t.Fatalf("d queue %v", got)
	}
	if len(snap.Retained) != 1 || snap.Retained[0].Topic != "r2" {
		t.Fatalf("retained %+v", snap.Retained)
	}
}

func testApplyNoSync(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	must(t, s.Sync()) // nothing to sync
	var b store.Batch
	b.SaveSession(FullSession("c"))
	b.Enqueue("c", 1, Msg("t", 1))
	must(t, s.ApplyNoSync(&b))
	if r := find(load(t, s), "c"); r == nil || r.Session == nil || len(r.Queue) != 1 {
		t.Fatalf("a write is not visible before Sync: %+v", r)
	}
	must(t, s.Sync())
	must(t, s.Sync())
	s = reopen(t, open, s, dir)
	if r := find(load(t, s), "c"); r == nil || len(r.Queue) != 1 {
		t.Fatalf("a synced write was lost: %+v", r)
	}
}

func testReopen(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	must(t, s.SaveSession(FullSession("c")))
	for seq := uint64(1); seq <= 10; seq++ {
		must(t, s.Enqueue("c", seq, FullMessage(fmt.Sprint("q/", seq))))
	}
	must(t, s.Dequeue("c", 4))
	must(t, s.SetRetained(FullMessage("r")))
	before := load(t, s)
	s = reopen(t, open, s, dir)
	after := load(t, s)
	if len(after.Sessions) != 1 || len(after.Retained) != 1 {
		t.Fatalf("after reopen: %d sessions, %d retained", len(after.Sessions), len(after.Retained))
	}
	wantEqual(t, "session", after.Sessions[0].Session, before.Sessions[0].Session)
	if len(after.Sessions[0].Queue) != 9 {
		t.Fatalf("queue %v", seqs(&after.Sessions[0]))
	}
	for i, q := range after.Sessions[0].Queue {
		if q.Seq != before.Sessions[0].Queue[i].Seq {
			t.Fatalf("queue order changed: %v", seqs(&after.Sessions[0]))
		}
		wantEqual(t, "queued message", q.Msg, before.Sessions[0].Queue[i].Msg)
	}
	wantEqual(t, "retained", after.Retained[0], before.Retained[0])
	// A second reopen after more writes.
	must(t, s.DeleteSession("c"))
	s = reopen(t, open, s, dir)
	if snap := load(t, s); len(snap.Sessions) != 0 {
		t.Fatalf("deleted session back after reopen: %+v", snap.Sessions)
	}
}

func testLargePayload(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	m := Msg("big", 0)
	m.Payload = big
	must(t, s.Enqueue("c", 1, m))
	must(t, s.SetRetained(m))
	s = reopen(t, open, s, dir)
	snap := load(t, s)
	if got := find(snap, "c"); got == nil || !bytes.Equal(got.Queue[0].Msg.Payload, big) {
		t.Fatal("1 MiB queued payload changed")
	}
	if !bytes.Equal(snap.Retained[0].Payload, big) {
		t.Fatal("1 MiB retained payload changed")
	}
}

func testManySessions(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	const n = 500
	var b store.Batch
	for i := range n {
		id := fmt.Sprintf("client-%04d", i)
		b.SaveSession(FullSession(id))
		for seq := uint64(1); seq <= uint64(i%4); seq++ {
			b.Enqueue(id, seq, Msg("t", i))
		}
		if b.Len() > 200 {
			must(t, s.Apply(&b))
			b.Reset()
		}
	}
	must(t, s.Apply(&b))
	s = reopen(t, open, s, dir)
	snap := load(t, s)
	if len(snap.Sessions) != n {
		t.Fatalf("%d sessions, want %d", len(snap.Sessions), n)
	}
	for i, r := range snap.Sessions {
		if want := fmt.Sprintf("client-%04d", i); r.ClientID != want || r.Session == nil || len(r.Queue) != i%4 {
			t.Fatalf("session %d: %q with %d queued, want %q with %d", i, r.ClientID, len(r.Queue), want, i%4)
		}
	}
}

func testConcurrentWriters(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	const writers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("w%d", w)
			if err := s.SaveSession(FullSession(id)); err != nil {
				errs <- err
				return
			}
			for seq := uint64(1); seq <= each; seq++ {
				if err := s.Enqueue(id, seq, Msg("t", int(seq))); err != nil {
					errs <- err
					return
				}
				if seq%2 == 0 {
					if err := s.Dequeue(id, seq-1); err != nil {
						errs <- err
						return
					}
				}
				if err := s.SetRetained(Msg(fmt.Sprintf("r/%d", w), int(seq))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s = reopen(t, open, s, dir)
	snap := load(t, s)
	if len(snap.Sessions) != writers || len(snap.Retained) != writers {
		t.Fatalf("%d sessions, %d retained", len(snap.Sessions), len(snap.Retained))
	}
	for _, r := range snap.Sessions {
		if len(r.Queue) != each/2 {
			t.Fatalf("%s: %d queued, want %d", r.ClientID, len(r.Queue), each/2)
		}
		for i, q := range r.Queue {
			if q.Seq != uint64(2*i+2) {
				t.Fatalf("%s: queue %v", r.ClientID, seqs(&r))
			}
		}
	}
	for _, m := range snap.Retained {
		if string(m.Payload) != fmt.Sprint("m", each) {
			t.Fatalf("retained %s: %q, want the last write", m.Topic, m.Payload)
		}
	}
}

func testMessageFidelity(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	cases := map[string]*session.Message{
		"full":  FullMessage("f"),
		"empty": {Topic: "e"},
		"empty payload, not nil": {Topic: "p", Payload: []byte{}, QoS: 1,
			Properties: packet.Properties{Present: 1 << packet.PropCorrelationData, CorrelationData: []byte{}}},
	}
	// Every property the codec knows, present with a non-zero value.
	all := FullMessage("all")
	p := &all.Properties
	p.SessionExpiryInterval, p.AssignedClientIdentifier, p.ServerKeepAlive = 1, "x", 2
	p.AuthenticationMethod, p.AuthenticationData, p.RequestProblemInformation = "m", []byte("d"), 1
	p.WillDelayInterval, p.RequestResponseInformation, p.ResponseInformation = 3, 1, "ri"
	p.ServerReference, p.ReceiveMaximum, p.TopicAliasMaximum = "sr", 4, 5
	p.MaximumQoS, p.RetainAvailable, p.MaximumPacketSize = 1, 1, 1<<30
	p.WildcardSubscriptionAvailable, p.SubscriptionIdentifierAvailable, p.SharedSubscriptionAvailable = 1, 1, 1
	for id := packet.PropPayloadFormat; id <= packet.PropSharedSubscriptionAvailable; id++ {
		if packet.PropAllowed(packet.PUBLISH, id) || packet.PropAllowed(packet.CONNACK, id) || packet.PropAllowed(packet.CONNECT, id) || packet.WillPropAllowed(id) {
			p.Set(id)
		}
	}
	cases["all properties"] = all
	seq := uint64(0)
	for _, m := range cases {
		seq++
		must(t, s.Enqueue("c", seq, m))
		must(t, s.SetRetained(m))
	}
	s = reopen(t, open, s, dir)
	snap := load(t, s)
	r := find(snap, "c")
	byTopic := map[string]*session.Message{}
	for _, q := range r.Queue {
		byTopic["q"+q.Msg.Topic] = q.Msg
	}
	for _, m := range snap.Retained {
		byTopic["r"+m.Topic] = m
	}
	for name, m := range cases {
		wantEqual(t, name+" (queued)", byTopic["q"+m.Topic], m)
		wantEqual(t, name+" (retained)", byTopic["r"+m.Topic], m)
	}
}

func testExpiryFields(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	now := time.Now() // with a monotonic reading
	m := Msg("t", 1)
	m.Created, m.Expiry = now, now.Add(time.Duration(1<<32-1)*time.Second)
	sess := &store.Session{ClientID: "c", ExpiryAfter: time.Duration(1<<32-1) * time.Second, Disconnected: now, WillDelay: time.Second, Will: m}
	zero := &store.Session{ClientID: "z"} // zero times stay zero
	must(t, s.SaveSession(sess))
	must(t, s.SaveSession(zero))
	must(t, s.Enqueue("c", 1, m))
	s = reopen(t, open, s, dir)
	snap := load(t, s)
	got := find(snap, "c")
	wantEqual(t, "session with expiry", got.Session, sess)
	wantEqual(t, "queued message with expiry", got.Queue[0].Msg, m)
	if !got.Queue[0].Msg.Expiry.Equal(m.Expiry) || !got.Session.Disconnected.Equal(now) {
		t.Fatal("instants changed")
	}
	z := find(snap, "z").Session
	if !z.Disconnected.IsZero() || z.ExpiryAfter != 0 || z.Will != nil {
		t.Fatalf("zero session came back as %+v", z)
	}
}

func testArbitraryNames(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	names := []string{"", "é/ü/漢字", "a\x00b", "\xff\xfe", "/", "session/x", "queue/", strings.Repeat("long", 1000), "line\nbreak"}
	for i, n := range names {
		must(t, s.SaveSession(&store.Session{ClientID: n, Identity: n}))
		must(t, s.Enqueue(n, uint64(i+1), Msg(n, i)))
		must(t, s.SetRetained(Msg(n, i)))
	}
	s = reopen(t, open, s, dir)
	snap := load(t, s)
	if len(snap.Sessions) != len(names) || len(snap.Retained) != len(names) {
		t.Fatalf("%d sessions, %d retained, want %d each", len(snap.Sessions), len(snap.Retained), len(names))
	}
	for i, n := range names {
		r := find(snap, n)
		if r == nil || r.Session == nil || r.Session.Identity != n || len(r.Queue) != 1 || r.Queue[0].Seq != uint64(i+1) || r.Queue[0].Msg.Topic != n {
			t.Fatalf("client %q: %+v", n, r)
		}
	}
	for i := 1; i < len(snap.Sessions); i++ {
		if snap.Sessions[i-1].ClientID >= snap.Sessions[i].ClientID {
			t.Fatal("sessions not ordered by client id")
		}
	}
	for i := 1; i < len(snap.Retained); i++ {
		if snap.Retained[i-1].Topic >= snap.Retained[i].Topic {
			t.Fatal("retained not ordered by topic")
		}
	}
}

func testNoAliasing(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	m := Msg("t", 1)
	sess := FullSession("c")
	must(t, s.Enqueue("c", 1, m))
	must(t, s.SaveSession(sess))
	m.Payload[0] = 'X'
	m.Topic = "changed"
	sess.Subscriptions[0].Filter = "changed"
	r := find(load(t, s), "c")
	if r.Queue[0].Msg.Topic != "t" || r.Queue[0].Msg.Payload[0] != 'm' || r.Session.Subscriptions[0].Filter != "a/+/c" {
		t.Fatal("the store kept a reference to its arguments")
	}
}

func testClosed(t *testing.T, open Opener) {
	s := open(t, t.TempDir())
	must(t, s.Close())
	must(t, s.Close()) // twice: nil
	if err := s.Enqueue("c", 1, Msg("t", 1)); err == nil {
		t.Fatal("Enqueue after Close succeeded")
	}
	if _, err := s.Load(); err == nil {
		t.Fatal("Load after Close succeeded")
	}
}

func testInbound(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	var b store.Batch
	b.SaveSession(FullSession("c"))
	b.AddInbound("c", 7)
	b.AddInbound("c", 3)
	b.AddInbound("c", 65535)
	b.AddInbound("other", 7)
	must(t, s.Apply(&b))
	b.Reset()
	b.RemoveInbound("c", 3)
	b.RemoveInbound("c", 4) // not there: no error
	must(t, s.ApplyNoSync(&b))
	must(t, s.Sync())
	if r := find(load(t, s), "c"); r == nil || !reflect.DeepEqual(r.Inbound, []uint16{7, 65535}) {
		t.Fatalf("inbound ids: %+v", r)
	}
	must(t, s.Close())
	s = open(t, dir)
	t.Cleanup(func() { s.Close() })
	if r := find(load(t, s), "c"); r == nil || !reflect.DeepEqual(r.Inbound, []uint16{7, 65535}) {
		t.Fatalf("inbound ids after reopening: %+v", r)
	}
	must(t, s.DeleteSession("c"))
	if r := find(load(t, s), "c"); r != nil {
		t.Fatalf("inbound ids outlived DeleteSession: %+v", r)
	}
	if r := find(load(t, s), "other"); r == nil || !reflect.DeepEqual(r.Inbound, []uint16{7}) {
		t.Fatalf("another client's inbound ids: %+v", r)
	}
	b.Reset()
	b.AddInbound("c", 0)
	if err := s.Apply(&b); err == nil {
		t.Fatal("packet id 0 accepted")
	}
}

func testIdentitySection(t *testing.T, open Opener) {
	s, _ := openT(t, open)
	want := IdentitySession("c")
	must(t, s.SaveSession(want))
	anon := &store.Session{ClientID: "a", Version: packet.V311, ExpiryAfter: time.Minute, Anonymous: true, Method: "anonymous"}
	must(t, s.SaveSession(anon))
	snap := load(t, s)
	wantEqual(t, "session with identity", find(snap, "c").Session, want)
	wantEqual(t, "anonymous session", find(snap, "a").Session, anon)
}

func testState(t *testing.T, open Opener) {
	s, dir := openT(t, open)
	var b store.Batch
	b.SetState("signed/replay", []byte("v1"))
	b.SetState("other", []byte{})
	must(t, s.Apply(&b))
	b.Reset()
	b.SetState("signed/replay", []byte("v2"))
	must(t, s.Apply(&b))
	snap := load(t, s)
	if string(snap.State["signed/replay"]) != "v2" || snap.State["other"] == nil || len(snap.State) != 2 {
		t.Fatalf("state records: %q", snap.State)
	}
	must(t, s.Close())
	s = open(t, dir)
	t.Cleanup(func() { s.Close() })
	b.Reset()
	b.DeleteState("other")
	b.DeleteState("never")
	must(t, s.Apply(&b))
	if snap := load(t, s); len(snap.State) != 1 || string(snap.State["signed/replay"]) != "v2" {
		t.Fatalf("state records after reopening and a delete: %q", snap.State)
	}
	b.Reset()
	b.SetState("", []byte("x"))
	if err := s.Apply(&b); err == nil {
		t.Fatal("a state record without a name was accepted")
	}
}
