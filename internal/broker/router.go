package broker

import (
	"strings"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/topic"
)

// Router delivers a routed message to every matching subscription. The
// local router delivers to this broker's sessions; a cluster router can wrap
// it to forward to other nodes without touching the connection code.
type Router interface {
	// Route delivers m and reports how many subscriptions matched.
	Route(m *session.Message) int
}

type localRouter struct{ b *Broker }

// Route implements Router.
func (r *localRouter) Route(m *session.Message) int {
	b := r.b
	ms := b.subs.Match(m.Topic)
	entries := ms.Entries
	n := 0
	// The entries of one session are adjacent (topic.Matches): one pass
	// merges them, without a map or a search per entry.
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].Key == entries[i].Key {
			j++
		}
		n += b.deliverMerged(m, entries[i:j])
		i = j
	}
	for _, g := range ms.Groups {
		if b.deliverShared(m, g, nil) {
			n++
		}
	}
	return n
}

// deliverMerged delivers m once to the session of entries, the matching
// subscriptions of one session, merging them: the highest QoS and all
// subscription identifiers [MQTT-3.3.4-2] [MQTT-3.3.4-3].
func (b *Broker) deliverMerged(m *session.Message, entries []topic.Entry[*subscription]) int {
	sub := entries[0].Value
	qos, retain, ids, any := byte(0), false, sub.subIDs, false
	for _, e := range entries {
		s := e.Value
		if s.opts.NoLocal && m.Publisher == e.Key { // [MQTT-3.8.3-3]
			continue
		}
		if !any {
			qos, retain, ids, any = s.opts.QoS, s.opts.RetainAsPublished && m.Retain, s.subIDs, true
			continue
		}
		qos = max(qos, s.opts.QoS)
		retain = retain || (s.opts.RetainAsPublished && m.Retain)
		if len(s.subIDs) > 0 {
			ids = append(append([]uint32(nil), ids...), s.subIDs...)
		}
	}
	if !any {
		return 0
	}
	if !b.mayReceive(sub.sess, m) {
		return 1
	}
	if min(qos, m.QoS) == 0 && b.shedQoS0() {
		return 1
	}
	sub.sess.deliver(session.Delivery{Msg: m, QoS: min(qos, m.QoS), Retain: retain, SubIDs: ids})
	return 1
}

// deliverShared gives m to one member of a shared group, fairly (round
// robin from the group's counter), preferring connected members and
// skipping except (a member that is leaving).
func (b *Broker) deliverShared(m *session.Message, g *topic.Group[*subscription], except *Session) bool {
	members := g.Members
	if len(members) == 0 {
		return false
	}
	start := g.Next()
	var fallback *subscription
	for k := range members {
		sub := members[(start+k)%len(members)].Value
		if sub.sess == except || !b.mayReceive(sub.sess, m) {
			continue
		}
		if sub.sess.online() {
			b.deliverSharedTo(m, sub)
			return true
		}
		if fallback == nil {
			fallback = sub
		}
	}
	if fallback != nil {
		b.deliverSharedTo(m, fallback)
		return true
	}
	return false
}

func (b *Broker) deliverSharedTo(m *session.Message, sub *subscription) {
	sub.sess.deliver(session.Delivery{
		Msg:    m,
		QoS:    min(sub.opts.QoS, m.QoS),
		SubIDs: sub.subIDs,
		Shared: sub.shared,
	})
}

// redistribute hands deliveries taken from a leaving shared-subscription
// member to another member of the same group.
func (b *Broker) redistribute(from *Session, ds []session.Delivery) {
	now := time.Now()
	for _, d := range ds {
		if d.Msg == nil || d.Msg.Expired(now) {
			continue
		}
		group, filter, _ := strings.Cut(d.Shared, "\x00")
		for _, g := range b.subs.Match(d.Msg.Topic).Groups {
			if g.Name == group && g.Filter == filter {
				b.deliverShared(d.Msg, g, from)
				break
			}
		}
	}
}

func (s *Session) online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// mayReceive runs the ACL's receive check for a delivery.
func (b *Broker) mayReceive(s *Session, m *session.Message) bool {
	subj := s.subject.Load()
	if subj == nil {
		return false
	}
	res := b.acl.Authorize(subj, acl.Request{Action: acl.Receive, Topic: m.Topic, QoS: m.QoS, Payload: len(m.Payload)})
	if !res.Allowed {
		b.metrics.Drop(metrics.DropNotAuthorized)
	}
	return res.Allowed
}
