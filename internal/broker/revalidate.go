package broker

import (
	"fmt"

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
		removed += b.revalidateSession(s, "subscription revoked by a policy reload: ")
	}
	if removed > 0 {
		b.log.Info("policy reload revoked subscriptions", "subscriptions", removed)
	}
	return removed
}

// revalidateSession removes the subscriptions of s that its owner may no
// longer hold and lowers those granted above the QoS now allowed,
// auditing each change with why and the filter. It returns how many
// subscriptions it removed.
func (b *Broker) revalidateSession(s *Session, why string) int {
	subj := s.subject.Load()
	type change struct {
		sub    *subscription
		maxQoS byte
		revoke bool
	}
	var changes []change
	s.mu.Lock()
	for _, sub := range s.subs {
		var res acl.Result
		if subj != nil {
			res = b.acl.Authorize(subj, acl.Request{Action: acl.Subscribe, Topic: sub.filter, QoS: sub.opts.QoS})
		}
		switch {
		case !res.Allowed:
			changes = append(changes, change{sub: sub, revoke: true})
		case res.MaxQoS < sub.opts.QoS:
			changes = append(changes, change{sub: sub, maxQoS: res.MaxQoS})
		}
	}
	s.mu.Unlock()
	removed := 0
	for _, ch := range changes {
		ev := audit.Event{Kind: audit.ACLDenied, ClientID: s.id, Reason: packet.NotAuthorized, Detail: why + ch.sub.filter}
		if subj != nil && subj.Identity != nil {
			ev.Identity = subj.Identity.Name
		}
		if ch.revoke {
			if !s.removeSubscription(ch.sub.filter) {
				continue
			}
			removed++
		} else {
			if !s.lowerQoS(ch.sub, ch.maxQoS) {
				continue
			}
			ev.Reason = packet.GrantedQoS0 + packet.ReasonCode(ch.maxQoS)
			ev.Detail = fmt.Sprintf("%s%s: QoS lowered to %d", why, ch.sub.filter, ch.maxQoS)
		}
		b.record(ev)
	}
	return removed
}

// lowerQoS replaces old, if it is still the session's subscription on its
// filter, with a copy granted at most qos. The topic tree then routes with
// the copy.
func (s *Session) lowerQoS(old *subscription, qos byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.subs[old.filter] != old {
		return false
	}
	c := *old
	c.opts.QoS = qos
	s.subs[c.filter] = &c
	s.b.subs.Add(c.filter, s.id, &c)
	_ = s.saveLocked() // logged; memory holds the lower QoS either way
	return true
}
