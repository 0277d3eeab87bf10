package broker

import (
	"strings"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/topic"
)

// retainedStore holds the last retained message of each topic, bounded in
// count in total and per owner. Its lock is taken after Session.mu when
// both are held.
type retainedStore struct {
	mu      sync.RWMutex
	msgs    map[string]*session.Message
	index   topic.Names[*session.Message] // the same messages, for wildcard filters
	owners  map[string]int                // retained messages per owner (SetBy), broker's own not counted
	max     int
	metrics *metrics.Metrics
}

// RetainPolicy limits what may be retained (configuration retain.*).
type RetainPolicy struct {
	// Never lists topic filters whose messages are never retained.
	Never []string
	// RefuseNever refuses a retained publish on such a topic (MQTT 5
	// 0x87); otherwise its retain flag is stripped and it is delivered
	// live only.
	RefuseNever bool
	// MaxAge bounds how long a retained message is kept; 0: until
	// replaced or its own expiry.
	MaxAge time.Duration
	// MaxSize bounds a retained payload in bytes; a larger retained
	// publish is refused (0x97). 0: no bound beyond the packet size.
	MaxSize int
	// MaxPerOwner bounds the retained messages one identity holds; a
	// retained publish to a new topic beyond it is refused (0x97). 0: no
	// bound beyond the store's.
	MaxPerOwner int
}

func newRetainedStore(max int, m *metrics.Metrics) *retainedStore {
	return &retainedStore{msgs: make(map[string]*session.Message), owners: make(map[string]int), max: max, metrics: m}
}

// checkRetain applies the retain policy to a retained publish by owner,
// before it is routed. It returns a refusal code, or 0 with m.Retain
// cleared when the flag is to be stripped. Deleting (empty payload) is
// always allowed.
func (b *Broker) checkRetain(m *session.Message) packet.ReasonCode {
	p := &b.lim.Retain
	for _, f := range p.Never {
		if topic.MatchFilter(f, m.Topic) {
			if p.RefuseNever {
				return packet.NotAuthorized
			}
			m.Retain = false
			return 0
		}
	}
	if p.MaxSize > 0 && len(m.Payload) > p.MaxSize {
		return packet.QuotaExceeded
	}
	return 0
}

// retain sets, replaces or (empty payload) deletes the retained message of
// m's topic [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7], recording m.SetBy
// as its owner. A new topic beyond the store's bound is not retained (the
// message is still routed); one beyond the owner's quota is refused with
// QuotaExceeded and not routed. The stored copy expires after MaxAge.
func (b *Broker) retain(m *session.Message) packet.ReasonCode {
	r := b.retained
	r.mu.Lock()
	defer r.mu.Unlock()
	old, exists := r.msgs[m.Topic]
	if len(m.Payload) == 0 {
		if exists {
			r.removeLocked(old)
			if err := b.writeRetained(store.Op{Kind: store.OpDeleteRetained, Topic: m.Topic}); err != nil {
				b.log.Error("store: deleting retained failed", "topic", m.Topic, "error", err)
			}
		}
		return 0
	}
	if q := b.lim.Retain.MaxPerOwner; q > 0 && m.SetBy != "" && (!exists || old.SetBy != m.SetBy) && r.owners[m.SetBy] >= q {
		r.metrics.Drop(metrics.DropQueueFull)
		return packet.QuotaExceeded
	}
	if !exists && len(r.msgs) >= r.max {
		r.metrics.Drop(metrics.DropQueueFull)
		return 0
	}
	kept := m
	if age := b.lim.Retain.MaxAge; age > 0 {
		if end := m.Created.Add(age); m.Expiry.IsZero() || m.Expiry.After(end) {
			c := *m // the routed message keeps its own expiry
			c.Expiry = end
			kept = &c
		}
	}
	if err := b.writeRetained(store.Op{Kind: store.OpSetRetained, Topic: kept.Topic, Msg: kept}); err != nil {
		b.log.Error("store: retaining failed; message not retained", "topic", m.Topic, "error", err)
		r.metrics.Drop(metrics.DropStoreFailed)
		return 0
	}
	if exists {
		r.removeLocked(old)
	}
	r.msgs[m.Topic] = kept
	r.index.Set(m.Topic, kept)
	r.metrics.RetainedMessages.Add(1)
	if kept.SetBy != "" {
		r.owners[kept.SetBy]++
	}
	return 0
}

// writeRetained stores a change of a retained message, except for $SYS
// topics and key bindings, which the broker makes anew after every start.
func (b *Broker) writeRetained(op store.Op) error {
	if strings.HasPrefix(op.Topic, "$SYS/") || strings.HasPrefix(op.Topic, acl.KeysPrefix) {
		return nil
	}
	return b.write(op)
}

// restore puts back a retained message read from the store at start-up.
func (r *retainedStore) restore(m *session.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.msgs[m.Topic]; ok {
		r.removeLocked(old)
	}
	r.msgs[m.Topic] = m
	r.index.Set(m.Topic, m)
	r.metrics.RetainedMessages.Add(1)
	if m.SetBy != "" {
		r.owners[m.SetBy]++
	}
}

// removeLocked forgets m, which is the retained message of its topic.
func (r *retainedStore) removeLocked(m *session.Message) {
	delete(r.msgs, m.Topic)
	r.index.Delete(m.Topic)
	r.metrics.RetainedMessages.Add(-1)
	if m.SetBy != "" {
		if r.owners[m.SetBy]--; r.owners[m.SetBy] <= 0 {
			delete(r.owners, m.SetBy)
		}
	}
}

// matching returns at most limit live retained messages matching filter,
// and removes expired ones it meets. A wildcard filter walks the topic
// index, so its cost follows the filter and the matches, not the number of
// retained messages.
func (r *retainedStore) matching(filter string, limit int) []*session.Message {
	now := time.Now()
	var out, expired []*session.Message
	r.mu.RLock()
	if !topic.HasWildcard(filter) {
		if m, ok := r.msgs[filter]; ok {
			out = append(out, m)
		}
	} else {
		r.index.Match(filter, func(_ string, m *session.Message) bool {
			if m.Expired(now) {
				expired = append(expired, m)
				return true
			}
			out = append(out, m)
			return len(out) < limit
		})
	}
	r.mu.RUnlock()
	live := out[:0]
	for _, m := range out {
		if m.Expired(now) {
			expired = append(expired, m)
		} else {
			live = append(live, m)
		}
	}
	if len(expired) > 0 {
		r.mu.Lock()
		for _, m := range expired {
			if r.msgs[m.Topic] == m {
				r.removeLocked(m)
			}
		}
		r.mu.Unlock()
	}
	return live
}

// sendRetained delivers the retained messages matching a new subscription,
// with the retain flag set [MQTT-3.3.1-8], each passing the receive check.
// It sends at most what the session can hold (its inflight window and its
// queue): more would be dropped anyway, and a 9-byte "SUBSCRIBE #" must
// not cost the broker a walk over every retained message.
func (b *Broker) sendRetained(sub *subscription) {
	limit := int(b.lim.MaxInflight) + b.lim.MaxQueuedMessages
	for _, m := range b.retained.matching(sub.opts.Filter, limit) {
		if !b.mayReceive(sub.sess, m) {
			continue
		}
		sub.sess.deliver(session.Delivery{Msg: m, QoS: min(m.QoS, sub.opts.QoS), Retain: true, SubIDs: sub.subIDs})
	}
}
