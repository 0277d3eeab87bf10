// Package store defines the persistence seam: what the broker writes so that
// sessions, their QoS 1/2 queues and retained messages survive a restart.
// The broker core runs with Memory, which keeps nothing beyond the process;
// the durable backend (a later issue) implements the same interface and
// passes the same contract tests.
//
// Every method returns an error: a broker that promises durability sends an
// acknowledgement only after the write it depends on succeeded.
package store

import (
	"time"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
)

// Subscription is a stored subscription of a session.
type Subscription struct {
	Filter string // as subscribed, $share/ prefix included
	Opts   packet.Subscription
	SubID  uint32
}

// Session is the stored state of a persistent session.
type Session struct {
	ClientID      string
	Identity      string
	Version       packet.Version
	ExpiryAfter   time.Duration // session expiry interval
	Disconnected  time.Time     // zero while connected
	Subscriptions []Subscription
	Will          *session.Message
	WillDelay     time.Duration
}

// Store persists broker state. Implementations are safe for concurrent use.
type Store interface {
	SaveSession(s *Session) error
	DeleteSession(clientID string) error
	// Enqueue records a QoS 1/2 message bound for an offline or
	// back-pressured persistent session; seq orders the session's queue.
	Enqueue(clientID string, seq uint64, m *session.Message) error
	// Dequeue forgets a message once the client acknowledged it.
	Dequeue(clientID string, seq uint64) error
	SetRetained(m *session.Message) error
	DeleteRetained(topic string) error
	Close() error
}

// Memory is the store of the broker core: the broker's own in-memory state
// is the only copy, so every write succeeds and nothing survives a restart.
type Memory struct{}

var _ Store = Memory{}

// SaveSession implements Store.
func (Memory) SaveSession(*Session) error { return nil }

// DeleteSession implements Store.
func (Memory) DeleteSession(string) error { return nil }

// Enqueue implements Store.
func (Memory) Enqueue(string, uint64, *session.Message) error { return nil }

// Dequeue implements Store.
func (Memory) Dequeue(string, uint64) error { return nil }

// SetRetained implements Store.
func (Memory) SetRetained(*session.Message) error { return nil }

// DeleteRetained implements Store.
func (Memory) DeleteRetained(string) error { return nil }

// Close implements Store.
func (Memory) Close() error { return nil }
