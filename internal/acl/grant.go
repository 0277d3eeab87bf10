package acl

import (
	"github.com/moatmq/moat/internal/topic"
)

// Granted narrows another authorizer by the topic grant a credential
// carries (auth.Identity.Topics, from a token's topics claim): a request
// outside the grant is denied whatever the policy says; inside it, Next
// decides. Identities without a grant are left to Next alone.
type Granted struct {
	Next Authorizer
}

var _ Authorizer = Granted{}

// Authorize implements Authorizer.
func (g Granted) Authorize(s *Subject, r Request) Result {
	if s != nil && s.Identity != nil && s.Identity.Topics != nil && !inGrant(s, r) {
		return Result{Rule: "token topics claim"}
	}
	return g.Next.Authorize(s, r)
}

// inGrant reports whether r is within the subject's grant.
func inGrant(s *Subject, r Request) bool {
	grant := s.Identity.Topics
	switch r.Action {
	case Publish, Retain:
		for _, f := range grant.Publish {
			if topic.MatchFilter(f, r.Topic) {
				return true
			}
		}
	case Subscribe:
		filter := r.Topic
		if _, inner, ok, err := topic.ParseShared(filter); ok && err == nil {
			filter = inner
		}
		for _, f := range grant.Subscribe {
			if topic.Covers(f, filter) {
				return true
			}
		}
	case Receive:
		for _, f := range grant.Subscribe {
			if topic.MatchFilter(f, r.Topic) {
				return true
			}
		}
	}
	return false
}
