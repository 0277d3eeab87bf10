package broker

import (
	"errors"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
)

var (
	errShuttingDown = errors.New("server is shutting down")
	errStore        = errors.New("session store unavailable")
	errNotOwner     = errors.New("the client identifier belongs to a session of another identity")
)

// attach binds connection c to its session: an existing one (taken over
// from its current connection when there is one) unless cleanStart, or a
// new one. It reports whether a session was present [MQTT-3.2.2-2].
func (b *Broker) attach(c *conn, cleanStart bool, expiry time.Duration) (*Session, bool, error) {
	for {
		b.mu.Lock()
		if b.closing {
			b.mu.Unlock()
			return nil, false, errShuttingDown
		}
		s := b.sessions[c.clientID]
		if s != nil && !s.ownedBy(c.subject) {
			// Neither take over nor read another identity's session.
			b.mu.Unlock()
			return nil, false, errNotOwner
		}
		if s != nil {
			s.mu.Lock()
			old := s.conn
			s.mu.Unlock()
			if old != nil {
				b.mu.Unlock()
				b.takeOver(c, old)
				continue
			}
		}
		var endedWill *will
		if s != nil && cleanStart {
			endedWill = b.endSessionLocked(s)
			s = nil
		}
		present := s != nil
		if s == nil {
			s = newSession(b, c.clientID)
			b.sessions[c.clientID] = s
			b.metrics.SessionsCurrent.Add(1)
		}
		s.mu.Lock()
		oldVersion, oldExpiry, oldSubject, oldOffline := s.version, s.expiry, s.subject.Load(), s.offlineSince
		s.version, s.expiry, s.offlineSince = c.version, expiry, time.Time{}
		s.subject.Store(c.subject)
		if err := s.saveLocked(); err != nil {
			// Nothing changes when the record cannot be written: a resumed
			// session stays offline as it was, a new one is dropped.
			s.version, s.expiry, s.offlineSince = oldVersion, oldExpiry, oldOffline
			s.subject.Store(oldSubject)
			s.mu.Unlock()
			if !present {
				b.endSessionLocked(s)
			}
			b.mu.Unlock()
			if endedWill != nil {
				b.publishWill(endedWill)
			}
			return nil, false, errStore
		}
		s.stopTimersLocked()
		s.will = nil // reconnected in time: the delayed will is not sent [MQTT-3.1.3-9]
		s.conn = c
		s.inflight.SetLimit(c.outboundWindow())
		s.mu.Unlock()
		b.mu.Unlock()
		if endedWill != nil {
			b.publishWill(endedWill)
		}
		return s, present, nil
	}
}

// outboundWindow is the inflight capacity towards this client: its Receive
// Maximum, capped by the broker's own bound.
func (c *conn) outboundWindow() int {
	return int(min(c.recvMax, c.b.lim.MaxInflight))
}

// takeOver closes the session's current connection (MQTT 5: DISCONNECT
// 0x8E) and waits until it has finished its cleanup [MQTT-3.1.4-3].
func (b *Broker) takeOver(c, old *conn) {
	b.record(audit.Event{Kind: audit.SessionTakeover, Listener: c.info.Listener, Remote: c.info.Remote,
		ClientID: c.clientID, Identity: c.identityName(), Detail: "previous connection from " + old.info.Remote.String()})
	old.kick(packet.SessionTakenOver, "session taken over")
	select {
	case <-old.done:
	case <-time.After(b.lim.WriteTimeout + time.Second):
		old.closeNow()
		<-old.done
	}
}

// detach runs when connection c ends: the session goes offline (or ends
// when its expiry is 0), the will is published or scheduled, and shared
// subscription deliveries not yet acknowledged go to other members.
func (b *Broker) detach(c *conn) {
	s := c.sess
	if s == nil {
		return
	}
	w := c.will
	if c.normalClose && !c.sendWillAnew {
		w = nil // a normal DISCONNECT discards the will [MQTT-3.1.2-10]
	}
	var fire *will
	b.mu.Lock()
	s.mu.Lock()
	if s.conn != c {
		s.mu.Unlock()
		b.mu.Unlock()
		return
	}
	s.conn = nil
	shared := s.takeSharedLocked()
	if s.expiry == 0 {
		s.will = w
		s.mu.Unlock()
		fire = b.endSessionLocked(s)
	} else {
		if w != nil {
			delay := min(w.delay, s.expiry)
			if delay == 0 {
				fire = w
			} else {
				s.will = w
				s.willT = time.AfterFunc(delay, func() { b.fireDelayedWill(s) })
			}
		}
		expiry := s.expiry
		s.offlineSince = time.Now()
		_ = s.saveLocked() // logged; a restart then counts the expiry from its start
		s.expiryT = time.AfterFunc(expiry, func() { b.expire(s) })
		s.mu.Unlock()
	}
	b.mu.Unlock()
	if fire != nil {
		b.publishWill(fire)
	}
	if len(shared) > 0 {
		b.redistribute(s, shared)
	}
}

// endSessionLocked removes s from the registry and the topic tree and
// returns its pending will, which the caller publishes after unlocking.
// Caller holds b.mu.
func (b *Broker) endSessionLocked(s *Session) *will {
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
		b.metrics.SessionsCurrent.Add(-1)
		if err := b.write(store.Op{Kind: store.OpDeleteSession, ClientID: s.id}); err != nil {
			b.log.Error("store: deleting session failed", "client_id", s.id, "error", err)
		}
	}
	s.mu.Lock()
	s.ended = true
	s.stopTimersLocked()
	w := s.will
	s.will = nil
	subs := s.subs
	s.subs = map[string]*subscription{}
	s.queue.Drain()
	s.mu.Unlock()
	for _, sub := range subs {
		if b.subs.Remove(sub.filter, s.id) {
			b.metrics.Subscriptions.Add(-1)
		}
	}
	return w
}

// expire ends an offline session whose expiry interval elapsed; a pending
// will is sent then, if its delay has not elapsed first [MQTT-3.1.3-9].
func (b *Broker) expire(s *Session) {
	b.mu.Lock()
	if b.sessions[s.id] != s || s.online() {
		b.mu.Unlock()
		return
	}
	w := b.endSessionLocked(s)
	b.mu.Unlock()
	if w != nil {
		b.publishWill(w)
	}
}

func (b *Broker) fireDelayedWill(s *Session) {
	s.mu.Lock()
	w := s.will
	s.will, s.willT = nil, nil
	s.mu.Unlock()
	if w != nil {
		b.publishWill(w)
	}
}

// publishWill checks the will against the ACL again, as permissions may
// have changed since CONNECT, then retains and routes it.
func (b *Broker) publishWill(w *will) {
	if code := b.authorizePublish(w.subject, w.msg); code != 0 {
		b.record(audit.Event{Kind: audit.ACLDenied, ClientID: w.subject.ClientID, Reason: code, Detail: "will " + w.msg.Topic})
		return
	}
	m := *w.msg
	m.Created = time.Now()
	if m.Properties.Has(packet.PropMessageExpiryInterval) {
		m.Expiry = m.Created.Add(time.Duration(m.Properties.MessageExpiryInterval) * time.Second)
	}
	if m.Retain && len(m.Payload) > 0 && b.checkRetain(&m) != 0 {
		b.record(audit.Event{Kind: audit.ACLDenied, ClientID: w.subject.ClientID, Reason: packet.NotAuthorized,
			Detail: "will refused by the retain policy: " + m.Topic})
		return
	}
	if m.Retain && b.retain(&m) != 0 {
		b.record(audit.Event{Kind: audit.ACLDenied, ClientID: w.subject.ClientID, Reason: packet.QuotaExceeded,
			Detail: "will over the retained quota: " + m.Topic})
		return
	}
	b.router.Route(&m)
}

// authorizePublish asks the ACL whether subject may publish m (and retain
// it, when the retain flag is set). It returns 0 or NotAuthorized.
func (b *Broker) authorizePublish(subj *acl.Subject, m *session.Message) packet.ReasonCode {
	req := acl.Request{Action: acl.Publish, Topic: m.Topic, QoS: m.QoS, Payload: len(m.Payload)}
	if !b.acl.Authorize(subj, req).Allowed {
		return packet.NotAuthorized
	}
	if m.Retain {
		req.Action = acl.Retain
		if !b.acl.Authorize(subj, req).Allowed {
			return packet.NotAuthorized
		}
	}
	return 0
}

// addSubscription stores sub in the session and the topic tree. It reports
// whether the subscription is new, and false for ok when the session holds
// its maximum of subscriptions.
func (s *Session) addSubscription(sub *subscription) (isNew, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false, false
	}
	_, exists := s.subs[sub.filter]
	if !exists && len(s.subs) >= s.b.lim.MaxSubscriptions {
		return false, false
	}
	sub.sess = s
	prev := s.subs[sub.filter]
	s.subs[sub.filter] = sub
	if err := s.saveLocked(); err != nil {
		if prev != nil {
			s.subs[sub.filter] = prev
		} else {
			delete(s.subs, sub.filter)
		}
		return false, false
	}
	if s.b.subs.Add(sub.filter, s.id, sub) {
		s.b.metrics.Subscriptions.Add(1)
	}
	return !exists, true
}

// removeSubscription deletes the session's subscription on filter.
func (s *Session) removeSubscription(filter string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[filter]; !ok {
		return false
	}
	delete(s.subs, filter)
	if s.b.subs.Remove(filter, s.id) {
		s.b.metrics.Subscriptions.Add(-1)
	}
	_ = s.saveLocked() // logged; the subscription is gone from memory either way
	return true
}

// inQoS2State reports, under one lock, whether inbound QoS 2 packet id is
// already awaiting PUBREL (a resend) and whether the window of limit ids
// is full.
func (s *Session) inQoS2State(id uint16, limit int) (dup, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, dup = s.inQoS2[id]
	return dup, len(s.inQoS2) >= limit
}

// inQoS2Add records an inbound QoS 2 id awaiting PUBREL; a persistent
// session records it in the store too, so that a resend after a restart
// is not delivered again. A failed write is logged: the message was routed
// and is acknowledged, at the risk of a duplicate after a crash.
func (s *Session) inQoS2Add(id uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inQoS2[id] = struct{}{}
	if s.expiry > 0 {
		if err := s.b.write(store.Op{Kind: store.OpAddInbound, ClientID: s.id, Seq: uint64(id)}); err != nil {
			s.b.log.Error("store: recording an inbound QoS 2 id failed", "client_id", s.id, "error", err)
		}
	}
}

// inQoS2Remove forgets an inbound QoS 2 id at PUBREL; it reports whether
// the id was awaiting release.
func (s *Session) inQoS2Remove(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inQoS2[id]
	delete(s.inQoS2, id)
	if ok && s.expiry > 0 {
		if err := s.b.write(store.Op{Kind: store.OpRemoveInbound, ClientID: s.id, Seq: uint64(id)}); err != nil {
			s.b.log.Error("store: forgetting an inbound QoS 2 id failed", "client_id", s.id, "error", err)
		}
	}
	return ok
}

// ownedBy reports whether subj may use this session: the identity that
// last held it, or any identity when the session has no owner yet.
func (s *Session) ownedBy(subj *acl.Subject) bool {
	owner := s.subject.Load()
	if owner == nil || owner.Identity == nil || subj == nil || subj.Identity == nil {
		return owner == nil || owner.Identity == nil
	}
	return owner.Identity.Name == subj.Identity.Name
}
