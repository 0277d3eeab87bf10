// Package audit defines Moat's security event record and the Sink seam that
// the tamper-evident audit log (and tests) implement.
package audit

import (
	"net/netip"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Kind is the type of a security event. Values are stable: they appear in
// audit files and metrics labels.
type Kind string

// Event kinds.
const (
	ConnectionAccepted Kind = "connection.accepted"
	ConnectionRefused  Kind = "connection.refused"
	AuthFailure        Kind = "auth.failure"
	ACLDenied          Kind = "acl.denied"
	ProtocolViolation  Kind = "protocol.violation" // malformed or forbidden packet
	SessionTakeover    Kind = "session.takeover"
	ClientDisconnected Kind = "connection.closed" // server-initiated close with a reason
)

// Event is one security-relevant record. Detail never holds a secret or a
// payload.
type Event struct {
	Time     time.Time
	Kind     Kind
	Listener string
	Remote   netip.AddrPort
	ClientID string
	Identity string
	Reason   packet.ReasonCode
	Detail   string
}

// Sink receives events. Record must not block the broker: a sink that
// cannot keep up drops and counts.
type Sink interface {
	Record(e Event)
}

// Discard drops every event; the default until the audit log lands.
type Discard struct{}

// Record implements Sink.
func (Discard) Record(Event) {}

var _ Sink = Discard{}
