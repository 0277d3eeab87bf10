// Package session holds the per-client state that outlives a connection:
// subscriptions, the outbound inflight window with its packet identifiers,
// the bounded queue of messages waiting for a slot or for the client to come
// back, inbound QoS 2 state, the will, and expiry. It has no goroutines and
// no network code: the broker drives it under Session.Mu.
package session

import (
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Message is an application message inside the broker. It is immutable once
// routed and shared by every subscriber it is delivered to.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte // QoS as published
	Retain  bool // retain flag as published
	// Properties holds only what is forwarded to subscribers: payload format,
	// message expiry, content type, response topic, correlation data and
	// user properties.
	Properties packet.Properties
	Created    time.Time
	Expiry     time.Time // zero: never expires
	// Publisher is the client id of the sender (for No Local); empty for
	// messages the broker makes.
	Publisher string
	// SetBy is the identity of the sender, recorded with retained messages
	// for administrators (never forwarded); empty for the broker's own.
	SetBy string
}

// Expired reports whether the message expired at now.
func (m *Message) Expired(now time.Time) bool {
	return !m.Expiry.IsZero() && !now.Before(m.Expiry)
}

// RemainingExpiry is the Message Expiry Interval to forward at now, in whole
// seconds rounded up so that a live message never goes out with 0.
func (m *Message) RemainingExpiry(now time.Time) uint32 {
	d := m.Expiry.Sub(now)
	if d <= 0 {
		return 0
	}
	return uint32((d + time.Second - 1) / time.Second)
}

// Size is the message's weight in queue byte budgets.
func (m *Message) Size() int {
	return len(m.Topic) + len(m.Payload) + 64
}
