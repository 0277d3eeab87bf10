package broker

import (
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
)

// This file holds the broker's query functions for administrators (the
// local admin socket, later the admin API). They return value snapshots
// and never hold a lock while the caller works with the result.

// RetainedInfo describes one retained message for an administrator: who
// set it and when, never its payload.
type RetainedInfo struct {
	Topic   string    `json:"topic"`
	QoS     byte      `json:"qos"`
	Size    int       `json:"size"`             // payload bytes
	SetBy   string    `json:"set_by,omitempty"` // identity of the publisher; empty for the broker's own
	SetAt   time.Time `json:"set_at"`
	Expires time.Time `json:"expires,omitzero"` // zero: kept until replaced or deleted
}

// Retained lists the live retained messages whose topic matches filter,
// sorted by topic, at most limit of them (0: all), and how many matched
// in total. As for subscribers, "#" and "+" do not match $ topics
// [MQTT-4.7.2-1]: ask for "$SYS/#" explicitly.
func (b *Broker) Retained(filter string, limit int) (list []RetainedInfo, total int) {
	now := time.Now()
	r := b.retained
	r.mu.RLock()
	r.index.Match(filter, func(t string, m *session.Message) bool {
		if !m.Expired(now) {
			list = append(list, RetainedInfo{Topic: t, QoS: m.QoS, Size: len(m.Payload), SetBy: m.SetBy,
				SetAt: m.Created, Expires: m.Expiry})
		}
		return true
	})
	r.mu.RUnlock()
	slices.SortFunc(list, func(a, b RetainedInfo) int { return strings.Compare(a.Topic, b.Topic) })
	total = len(list)
	if limit > 0 && len(list) > limit {
		list = list[:limit:limit]
	}
	return list, total
}

// PurgeRetained deletes the retained messages whose topic matches filter
// and returns how many it deleted. A message the store fails to delete is
// kept, and the first such error returned with the count of the others.
func (b *Broker) PurgeRetained(filter string) (int, error) {
	r := b.retained
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	var first error
	var matched []*session.Message
	r.index.Match(filter, func(_ string, m *session.Message) bool {
		matched = append(matched, m)
		return true
	})
	for _, m := range matched {
		if err := b.write(store.Op{Kind: store.OpDeleteRetained, Topic: m.Topic}); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		r.removeLocked(m)
		n++
	}
	if err := b.durableTo(b.writeMark()); err != nil && first == nil {
		first = err
	}
	return n, first
}

// ClientInfo describes one session for an administrator.
type ClientInfo struct {
	ClientID      string `json:"client_id"`
	Identity      string `json:"identity,omitempty"`
	Connected     bool   `json:"connected"`
	Listener      string `json:"listener,omitempty"`
	Remote        string `json:"remote,omitempty"`
	Version       int    `json:"protocol_version"`
	Subscriptions int    `json:"subscriptions"`
	Queued        int    `json:"queued"`   // messages waiting in the session queue
	Inflight      int    `json:"inflight"` // QoS 1/2 deliveries awaiting acknowledgement
	ExpirySeconds int64  `json:"session_expiry_seconds"`
}

// ClientQuery selects sessions: client ids starting with Prefix, only
// connected ones when Connected, those after the client id After (for
// paging), at most Limit (0: all).
type ClientQuery struct {
	Prefix    string
	Connected bool
	After     string
	Limit     int
}

// Clients lists the sessions q selects, sorted by client id, and whether
// more follow.
func (b *Broker) Clients(q ClientQuery) (list []ClientInfo, more bool) {
	b.mu.Lock()
	sessions := make([]*Session, 0, len(b.sessions))
	for id, s := range b.sessions {
		if strings.HasPrefix(id, q.Prefix) && id > q.After {
			sessions = append(sessions, s)
		}
	}
	b.mu.Unlock()
	slices.SortFunc(sessions, func(a, b *Session) int { return strings.Compare(a.id, b.id) })
	for _, s := range sessions {
		ci := s.info()
		if q.Connected && !ci.Connected {
			continue
		}
		if q.Limit > 0 && len(list) == q.Limit {
			return list, true
		}
		list = append(list, ci)
	}
	return list, false
}

// info snapshots s.
func (s *Session) info() ClientInfo {
	ci := ClientInfo{ClientID: s.id}
	if subj := s.subject.Load(); subj != nil && subj.Identity != nil {
		ci.Identity = subj.Identity.Name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ci.Version = int(s.version)
	ci.Subscriptions = len(s.subs)
	ci.Queued = s.queue.Len()
	ci.Inflight = s.inflight.Len()
	ci.ExpirySeconds = int64(s.expiry / time.Second)
	if c := s.conn; c != nil {
		ci.Connected, ci.Listener, ci.Remote = true, c.info.Listener, c.info.Remote.String()
	}
	return ci
}

// SubscriptionInfo is one subscription of a session.
type SubscriptionInfo struct {
	Filter         string `json:"filter"`
	QoS            byte   `json:"qos"`
	NoLocal        bool   `json:"no_local,omitempty"`
	RetainAsPub    bool   `json:"retain_as_published,omitempty"`
	RetainHandling byte   `json:"retain_handling,omitempty"`
}

// Subscriptions lists the subscriptions of a session, sorted by filter;
// false when there is no such session.
func (b *Broker) Subscriptions(clientID string) ([]SubscriptionInfo, bool) {
	b.mu.Lock()
	s, ok := b.sessions[clientID]
	b.mu.Unlock()
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	out := make([]SubscriptionInfo, 0, len(s.subs))
	for _, sub := range s.subs {
		o := sub.opts
		out = append(out, SubscriptionInfo{Filter: sub.filter, QoS: o.QoS, NoLocal: o.NoLocal,
			RetainAsPub: o.RetainAsPublished, RetainHandling: o.RetainHandling})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b SubscriptionInfo) int { return strings.Compare(a.Filter, b.Filter) })
	return out, true
}

// Kick disconnects the client's connection (MQTT 5: DISCONNECT 0x98,
// administrative action); its session stays, as its expiry says. It
// reports whether the client was connected.
func (b *Broker) Kick(clientID, why string) bool {
	b.mu.Lock()
	s, ok := b.sessions[clientID]
	b.mu.Unlock()
	if !ok {
		return false
	}
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.kick(packet.AdministrativeAction, why)
	return true
}

// QueuedMessages reports the messages waiting in every session's queue.
func (b *Broker) QueuedMessages() int {
	b.mu.Lock()
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	n := 0
	for _, s := range sessions {
		s.mu.Lock()
		n += s.queue.Len()
		s.mu.Unlock()
	}
	return n
}
