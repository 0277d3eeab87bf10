// Package acl defines how Moat decides what an authenticated client may do:
// the Authorizer seam, consulted at subscribe, publish, delivery (retained
// messages, shared subscriptions and wills included) and retain.
//
// Authorizers fail closed: anything but an explicit allow denies.
package acl

import (
	"strings"

	"github.com/moatmq/moat/internal/auth"
)

// Action is what a client wants to do with a topic.
type Action uint8

// Actions.
const (
	Publish   Action = iota + 1 // send to a topic (wills included)
	Subscribe                   // subscribe to a filter
	Receive                     // have a message delivered
	Retain                      // set or clear a retained message
)

func (a Action) String() string {
	switch a {
	case Publish:
		return "publish"
	case Subscribe:
		return "subscribe"
	case Receive:
		return "receive"
	case Retain:
		return "retain"
	}
	return "unknown"
}

// Subject is who asks. It lives as long as the connection.
type Subject struct {
	ClientID string
	Username string
	Identity *auth.Identity
}

// Request is one question. Topic is a topic name, or a filter for Subscribe.
type Request struct {
	Action  Action
	Topic   string
	QoS     byte
	Payload int // payload size in bytes (publish, retain)
}

// Result answers a Request.
type Result struct {
	Allowed bool
	MaxQoS  byte   // for Subscribe: the highest QoS granted when allowed
	Rule    string // the deciding rule, for audit and `moat acl check`
}

// Authorizer decides. Implementations must be safe for concurrent use and
// fast: Authorize runs on the publish and delivery paths.
type Authorizer interface {
	Authorize(s *Subject, r Request) Result
}

// AllowAll is the authorizer of the broker core until ACL policies land: it
// allows everything except publishing to or retaining under the broker's
// own "$SYS/" topics, which only the broker writes.
type AllowAll struct{}

var _ Authorizer = AllowAll{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(_ *Subject, r Request) Result {
	if res, ok := sysWrite(r); ok {
		return res
	}
	return Result{Allowed: true, MaxQoS: 2, Rule: "builtin: allow all"}
}

// sysWrite denies publishing to or retaining under "$SYS/", which only the
// broker writes, whatever a policy says.
func sysWrite(r Request) (Result, bool) {
	if r.Action == Publish || r.Action == Retain {
		if rule := brokerOnly(r.Topic); rule != "" {
			return Result{Rule: rule}, true
		}
	}
	return Result{}, false
}

// KeysPrefix is where the broker publishes the operator-signed key
// bindings of signed topics (retained, one topic per identity).
const KeysPrefix = "$moat/keys/"

// brokerOnly names the builtin rule for a topic only the broker writes
// ("$SYS", under "$SYS/", under KeysPrefix); "" for any other topic.
func brokerOnly(t string) string {
	switch {
	case t == "$SYS" || strings.HasPrefix(t, "$SYS/"):
		return ruleSYS
	case strings.HasPrefix(t, KeysPrefix):
		return ruleKeys
	}
	return ""
}

// ProtectSYS puts the builtin $SYS rule in front of another authorizer (an
// external one, such as the HTTP backend).
type ProtectSYS struct {
	Next Authorizer
}

var _ Authorizer = ProtectSYS{}

// Authorize implements Authorizer.
func (p ProtectSYS) Authorize(s *Subject, r Request) Result {
	if res, ok := sysWrite(r); ok {
		return res
	}
	return p.Next.Authorize(s, r)
}
