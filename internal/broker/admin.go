package broker

import (
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/topic"
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
	for t, m := range r.msgs {
		if m.Expired(now) || !topic.MatchFilter(filter, t) {
			continue
		}
		list = append(list, RetainedInfo{Topic: t, QoS: m.QoS, Size: len(m.Payload), SetBy: m.SetBy,
			SetAt: m.Created, Expires: m.Expiry})
	}
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
	for t, m := range r.msgs {
		if !topic.MatchFilter(filter, t) {
			continue
		}
		if err := b.store.DeleteRetained(t); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		r.removeLocked(m)
		n++
	}
	return n, first
}
