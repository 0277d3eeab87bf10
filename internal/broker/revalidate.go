package broker

import (
	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

// Revalidate re-checks every session's subscriptions, connected or not,
// against the authorizer, after its policy changed, and removes those it
// no longer allows; each removal is audited. Publish and delivery checks
// consult the authorizer on every message, so they follow a new policy
// without help. It returns the number of subscriptions removed.
//
// Locking: b.mu is released before any session's mu is taken.
func (b *Broker) Revalidate() int {
	b.mu.Lock()
	sessions := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	removed := 0
	for _, s := range sessions {
		subj := s.subject.Load()
		s.mu.Lock()
		var revoked []string
		for f, sub := range s.subs {
			if subj == nil || !b.acl.Authorize(subj, acl.Request{Action: acl.Subscribe, Topic: f, QoS: sub.opts.QoS}).Allowed {
				revoked = append(revoked, f)
			}
		}
		s.mu.Unlock()
		for _, f := range revoked {
			if !s.removeSubscription(f) {
				continue
			}
			removed++
			ev := audit.Event{Kind: audit.ACLDenied, ClientID: s.id, Reason: packet.NotAuthorized,
				Detail: "subscription revoked by a policy reload: " + f}
			if subj != nil && subj.Identity != nil {
				ev.Identity = subj.Identity.Name
			}
			b.record(ev)
		}
	}
	if removed > 0 {
		b.log.Info("policy reload revoked subscriptions", "subscriptions", removed)
	}
	return removed
}
