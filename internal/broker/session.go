package broker

import (
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
	"sync"
	"sync/atomic"
)

// Session is the state of one client id that outlives its connections.
// Every field below mu is guarded by it.
type Session struct {
	b  *Broker
	id string
	// subject is who owns the session now, for receive checks; read
	// without mu on the delivery path.
	subject atomic.Pointer[acl.Subject]

	mu       sync.Mutex
	conn     *conn // nil while offline
	version  packet.Version
	subs     map[string]*subscription // by filter as subscribed
	inflight *session.Inflight
	queue    *session.Queue
	inQoS2   map[uint16]struct{} // inbound QoS 2 ids awaiting PUBREL
	expiry   time.Duration       // session expiry interval
	will     *will               // pending will of the last connection
	willT    *time.Timer
	expiryT  *time.Timer
	ended    bool   // removed from the registry; drop everything
	storeSeq uint64 // last store sequence given to a persisted delivery
	// offlineSince is when the session last went offline; zero while
	// connected. Saved so that a restart counts the expiry from it.
	offlineSince time.Time
	// signedSeen remembers accepted signed QoS 1 messages (signed.go);
	// signedNext is the next slot to overwrite once it is full.
	signedSeen []signedAccepted
	signedNext int
}

// subscription is one filter of one session, stored in the topic tree.
type subscription struct {
	sess   *Session
	filter string // as subscribed ($share/ prefix included)
	opts   packet.Subscription
	subIDs []uint32 // nil, or the single subscription identifier
	shared string   // "group\x00filter" for shared subscriptions
}

// will is a will message waiting for its connection to end.
type will struct {
	msg     *session.Message
	delay   time.Duration
	subject *acl.Subject
}

func newSession(b *Broker, id string) *Session {
	s := &Session{
		b:        b,
		id:       id,
		subs:     make(map[string]*subscription),
		inflight: session.NewInflight(int(b.lim.MaxInflight)),
		queue:    session.NewQueue(b.lim.MaxQueuedMessages, b.lim.MaxQueuedBytes),
		inQoS2:   make(map[uint16]struct{}),
	}
	s.queue.OnDrop = s.forgetLocked
	return s
}

// persistLocked records a QoS 1/2 delivery to a persistent session in the
// store before it is queued or sent. It reports false when the store
// failed: the delivery is then dropped and counted, never half-kept.
func (s *Session) persistLocked(d *session.Delivery) bool {
	if d.QoS == 0 || s.expiry == 0 {
		return true
	}
	s.storeSeq++
	d.StoreSeq = s.storeSeq
	// The stored copy carries the delivery's QoS and retain flag, which
	// depend on the subscription, so that a restart sends what this
	// session would have got.
	m := *d.Msg
	m.QoS, m.Retain = d.QoS, d.Retain
	// Who sent it matters only for routing (No Local), which is done; the
	// setter only for retained messages. Neither is stored with the queue.
	m.Publisher, m.SetBy = "", ""
	if err := s.b.write(store.Op{Kind: store.OpEnqueue, ClientID: s.id, Seq: d.StoreSeq, Msg: &m}); err != nil {
		s.b.log.Error("store: enqueue failed; message dropped", "client_id", s.id, "error", err)
		s.b.metrics.Drop(metrics.DropStoreFailed)
		return false
	}
	return true
}

// forgetLocked removes a completed or dropped delivery from the store.
func (s *Session) forgetLocked(d session.Delivery) {
	if d.StoreSeq == 0 {
		return
	}
	if err := s.b.write(store.Op{Kind: store.OpDequeue, ClientID: s.id, Seq: d.StoreSeq}); err != nil {
		s.b.log.Error("store: dequeue failed", "client_id", s.id, "error", err)
	}
}

// deliver hands d to the session: straight to the connection when a slot is
// free, else to the bounded queue. QoS 0 is never queued for an offline
// session.
func (s *Session) deliver(d session.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	c := s.conn
	if d.QoS == 0 {
		if c != nil {
			c.sendPublish(d)
		}
		return
	}
	if !s.persistLocked(&d) {
		return
	}
	if c != nil && s.queue.Len() == 0 {
		if p, ok := s.inflight.Add(d); ok {
			c.sendPublish(*p)
			return
		}
	}
	if n := s.queue.Push(d); n > 0 {
		s.b.metrics.Dropped[metrics.DropQueueFull].Add(uint64(n))
	}
}

// pumpLocked moves queued deliveries into free inflight slots.
func (s *Session) pumpLocked() {
	c := s.conn
	if c == nil {
		return
	}
	now := time.Now()
	for !s.inflight.Full() {
		d, ok := s.queue.Pop()
		if !ok {
			return
		}
		if d.Msg.Expired(now) {
			s.b.metrics.Drop(metrics.DropExpired)
			s.forgetLocked(d)
			continue
		}
		p, _ := s.inflight.Add(d)
		c.sendPublish(*p)
	}
}

// acked completes an outbound QoS 1 (PUBACK) or QoS 2 (PUBCOMP) delivery.
// It reports whether the id was in flight.
func (s *Session) acked(id uint16, qos byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.inflight.Get(id)
	if !ok || d.QoS != qos || (qos == 2 && !d.Released) {
		return false
	}
	s.inflight.Remove(id)
	s.forgetLocked(*d)
	s.pumpLocked()
	return true
}

// received handles PUBREC: the QoS 2 message is now the client's; only the
// release remains. A failure reason ends the exchange.
func (s *Session) received(id uint16, code packet.ReasonCode) (release, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, found := s.inflight.Get(id)
	if !found || d.QoS != 2 {
		return false, false
	}
	if code.IsError() {
		s.inflight.Remove(id)
		s.forgetLocked(*d)
		s.pumpLocked()
		return false, true
	}
	d.Released = true
	d.Msg = nil // the payload is no longer needed
	return true, true
}

// dropInflight releases a slot whose delivery could not be sent (too large
// for the client, or expired).
func (s *Session) dropInflight(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.inflight.Remove(id); ok {
		s.forgetLocked(*d)
	}
	s.pumpLocked()
}

// resumeLocked resends the inflight window to a new connection, in order,
// with DUP set [MQTT-4.4.0-1], then fills free slots from the queue.
func (s *Session) resumeLocked(c *conn) {
	for _, d := range s.inflight.Ordered() {
		if d.Released {
			c.sendAck(packet.PUBREL, d.PacketID, 0)
			continue
		}
		d.Dup = true
		c.sendPublish(*d)
	}
	s.pumpLocked()
}

// stopTimers cancels pending will and expiry timers.
func (s *Session) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopTimersLocked()
}

func (s *Session) stopTimersLocked() {
	if s.willT != nil {
		s.willT.Stop()
		s.willT = nil
	}
	if s.expiryT != nil {
		s.expiryT.Stop()
		s.expiryT = nil
	}
}

// takeSharedLocked removes and returns the deliveries that came through a
// shared subscription and have not reached the client, so that another
// member of the group can have them.
func (s *Session) takeSharedLocked() []session.Delivery {
	var out []session.Delivery
	for _, d := range s.inflight.Ordered() {
		if d.Shared != "" && !d.Released {
			s.inflight.Remove(d.PacketID)
			s.forgetLocked(*d)
			out = append(out, *d)
		}
	}
	if s.queue.Len() > 0 {
		for _, d := range s.queue.Drain() {
			if d.Shared != "" {
				s.forgetLocked(d)
				out = append(out, d)
			} else {
				s.queue.Push(d)
			}
		}
	}
	return out
}

// saveLocked writes the session's record (subscriptions, expiry) to the
// store when the session outlives its connection.
func (s *Session) saveLocked() error {
	if s.expiry == 0 {
		return nil
	}
	rec := &store.Session{ClientID: s.id, Version: s.version, ExpiryAfter: s.expiry, Disconnected: s.offlineSince}
	if subj := s.subject.Load(); subj != nil && subj.Identity != nil {
		id := subj.Identity
		rec.Identity, rec.Groups, rec.Method, rec.Anonymous, rec.Topics = id.Name, id.Groups, id.Method, id.Anonymous, id.Topics
	}
	for _, sub := range s.subs {
		st := store.Subscription{Filter: sub.filter, Opts: sub.opts}
		if len(sub.subIDs) > 0 {
			st.SubID = sub.subIDs[0]
		}
		rec.Subscriptions = append(rec.Subscriptions, st)
	}
	if err := s.b.write(store.Op{Kind: store.OpSaveSession, ClientID: s.id, Session: rec}); err != nil {
		s.b.log.Error("store: saving session failed", "client_id", s.id, "error", err)
		return err
	}
	return nil
}
