package broker

import (
	"sync"
	"time"

	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/topic"
)

// retainedStore holds the last retained message of each topic, bounded in
// count. Its lock is taken after Session.mu when both are held.
type retainedStore struct {
	mu      sync.RWMutex
	msgs    map[string]*session.Message
	max     int
	metrics *metrics.Metrics
}

func newRetainedStore(max int, m *metrics.Metrics) *retainedStore {
	return &retainedStore{msgs: make(map[string]*session.Message), max: max, metrics: m}
}

// retain sets, replaces or (empty payload) deletes the retained message of
// m's topic [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7]. A new topic beyond
// the store's bound is not retained (the message is still routed).
func (b *Broker) retain(m *session.Message) {
	r := b.retained
	r.mu.Lock()
	defer r.mu.Unlock()
	_, exists := r.msgs[m.Topic]
	if len(m.Payload) == 0 {
		if exists {
			delete(r.msgs, m.Topic)
			r.metrics.RetainedMessages.Add(-1)
			if err := b.store.DeleteRetained(m.Topic); err != nil {
				b.log.Error("store: deleting retained failed", "topic", m.Topic, "error", err)
			}
		}
		return
	}
	if !exists && len(r.msgs) >= r.max {
		r.metrics.Drop(metrics.DropQueueFull)
		return
	}
	if err := b.store.SetRetained(m); err != nil {
		b.log.Error("store: retaining failed; message not retained", "topic", m.Topic, "error", err)
		r.metrics.Drop(metrics.DropStoreFailed)
		return
	}
	if !exists {
		r.metrics.RetainedMessages.Add(1)
	}
	r.msgs[m.Topic] = m
}

// matching returns the live retained messages matching filter, and removes
// expired ones.
func (r *retainedStore) matching(filter string) []*session.Message {
	now := time.Now()
	var out, expired []*session.Message
	r.mu.RLock()
	if !topic.HasWildcard(filter) {
		if m, ok := r.msgs[filter]; ok {
			out = append(out, m)
		}
	} else {
		for t, m := range r.msgs {
			if topic.MatchFilter(filter, t) {
				out = append(out, m)
			}
		}
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
				delete(r.msgs, m.Topic)
				r.metrics.RetainedMessages.Add(-1)
			}
		}
		r.mu.Unlock()
	}
	return live
}

// sendRetained delivers the retained messages matching a new subscription,
// with the retain flag set [MQTT-3.3.1-8], each passing the receive check.
func (b *Broker) sendRetained(sub *subscription) {
	for _, m := range b.retained.matching(sub.opts.Filter) {
		if !b.mayReceive(sub.sess, m) {
			continue
		}
		sub.sess.deliver(session.Delivery{Msg: m, QoS: min(m.QoS, sub.opts.QoS), Retain: true, SubIDs: sub.subIDs})
	}
}
