// Package store defines the persistence seam: what the broker writes so that
// sessions, their QoS 1/2 queues and retained messages survive a restart,
// and what it reads back at start-up (Load).
//
// The broker core runs with Memory, which keeps nothing beyond the process;
// the durable backend (internal/store/disk) implements the same interface and
// passes the same contract tests (internal/store/storetest).
//
// Every write returns an error: a broker that promises durability sends an
// acknowledgement only after the write it depends on succeeded. A durable
// backend documents when a write that returned nil is on disk (disk: at
// once in strict mode, within the flush interval in relaxed mode). No
// backend keeps a reference to its arguments once a call returns.
package store

import (
	"time"

	"github.com/moatmq/moat/internal/auth"
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
	// Groups, Method, Anonymous and Topics complete the owner's identity,
	// so that a session restored at start-up is checked at delivery as its
	// owner was while it is offline: group rules still grant, a token's
	// topics claim still narrows.
	Groups    []string
	Method    string
	Anonymous bool
	Topics    *auth.TopicGrant
}

// Store persists broker state. Implementations are safe for concurrent use.
type Store interface {
	// SaveSession writes s, replacing the client's previous record. It
	// leaves the client's queue as it is.
	SaveSession(s *Session) error
	// DeleteSession forgets the client's session record and every message
	// queued for it.
	DeleteSession(clientID string) error
	// Enqueue records a QoS 1/2 message bound for an offline or
	// back-pressured persistent session; seq orders the session's queue.
	// Enqueueing an existing (clientID, seq) replaces the message.
	Enqueue(clientID string, seq uint64, m *session.Message) error
	// Dequeue forgets a message once the client acknowledged it. Dequeueing
	// a message that is not there is not an error.
	Dequeue(clientID string, seq uint64) error
	// SetRetained writes the retained message of m.Topic, replacing the
	// topic's previous one.
	SetRetained(m *session.Message) error
	// DeleteRetained forgets the retained message of topic, if any.
	DeleteRetained(topic string) error
	// Apply performs every write of b, in order, atomically: after a crash
	// either all of them are found or none. It has the durability of a
	// single write, so the writes of a fan-out share one disk sync.
	Apply(b *Batch) error
	// ApplyNoSync performs b like Apply but may return before it is on
	// disk, in any mode: b is visible at once and becomes durable with the
	// next Sync that starts after ApplyNoSync returned. Writes reach the
	// disk in the order they returned. It lets one connection pipeline many
	// writes and pay one Sync before the acknowledgements they hold back.
	ApplyNoSync(b *Batch) error
	// Sync returns once every write that returned before the call is as
	// durable as the backend's mode promises (disk: on disk in strict
	// mode; at once in relaxed mode). Concurrent Syncs share one disk sync.
	Sync() error
	// Load returns everything the store holds. The broker calls it once, at
	// start-up, before any write. A record that cannot be read is an error
	// naming it, never silently skipped.
	Load() (*Snapshot, error)
	// Close makes every write durable and releases the store. Writes after
	// Close fail.
	Close() error
}

// Snapshot is the content of a store, as returned by Load.
type Snapshot struct {
	Sessions []Restored         // ordered by client id (bytewise)
	Retained []*session.Message // ordered by topic (bytewise)
	// State holds the named state records (SetState), for example the
	// signed-topics replay state saved at a clean shutdown.
	State map[string][]byte
}

// Restored is one client's stored state.
type Restored struct {
	ClientID string
	// Session is nil when messages were queued for the client but no
	// session record was saved (the broker crashed while the session was
	// connected); the broker decides what to do with such a queue.
	Session *Session
	Queue   []Queued // ordered by Seq
	// Inbound lists the client's QoS 2 packet ids that were received and
	// acknowledged with PUBREC but not yet released (PUBREL), ascending: a
	// resent PUBLISH with one of them is not delivered again.
	Inbound []uint16
}

// Queued is a message of a session's queue.
type Queued struct {
	Seq uint64
	Msg *session.Message
}

// OpKind is the kind of a write in a Batch.
type OpKind uint8

// The write kinds, one per write method of Store.
const (
	OpSaveSession OpKind = iota + 1
	OpDeleteSession
	OpEnqueue
	OpDequeue
	OpSetRetained
	OpDeleteRetained
	OpAddInbound
	OpRemoveInbound
	OpSetState
	OpDeleteState
)

// Op is one write of a Batch. Which fields are set depends on Kind: Session
// for OpSaveSession; ClientID for OpDeleteSession; ClientID, Seq and Msg for
// OpEnqueue; ClientID and Seq for OpDequeue; Msg for OpSetRetained; Topic
// for OpDeleteRetained; ClientID and Seq (the packet id) for OpAddInbound
// and OpRemoveInbound; Topic (the record's name) and Value for OpSetState;
// Topic for OpDeleteState.
type Op struct {
	Kind     OpKind
	ClientID string
	Seq      uint64
	Session  *Session
	Msg      *session.Message
	Topic    string
	Value    []byte
}

// Batch collects writes for Store.Apply. The zero value is an empty batch;
// a batch may be reused after Reset.
type Batch struct {
	Ops []Op
}

// SaveSession adds a SaveSession write.
func (b *Batch) SaveSession(s *Session) {
	b.Ops = append(b.Ops, Op{Kind: OpSaveSession, ClientID: s.ClientID, Session: s})
}

// DeleteSession adds a DeleteSession write.
func (b *Batch) DeleteSession(clientID string) {
	b.Ops = append(b.Ops, Op{Kind: OpDeleteSession, ClientID: clientID})
}

// Enqueue adds an Enqueue write.
func (b *Batch) Enqueue(clientID string, seq uint64, m *session.Message) {
	b.Ops = append(b.Ops, Op{Kind: OpEnqueue, ClientID: clientID, Seq: seq, Msg: m})
}

// Dequeue adds a Dequeue write.
func (b *Batch) Dequeue(clientID string, seq uint64) {
	b.Ops = append(b.Ops, Op{Kind: OpDequeue, ClientID: clientID, Seq: seq})
}

// SetRetained adds a SetRetained write.
func (b *Batch) SetRetained(m *session.Message) {
	b.Ops = append(b.Ops, Op{Kind: OpSetRetained, Topic: m.Topic, Msg: m})
}

// DeleteRetained adds a DeleteRetained write.
func (b *Batch) DeleteRetained(topic string) {
	b.Ops = append(b.Ops, Op{Kind: OpDeleteRetained, Topic: topic})
}

// AddInbound records that the client's QoS 2 PUBLISH with packet id id was
// received and is awaiting PUBREL. DeleteSession forgets it too.
func (b *Batch) AddInbound(clientID string, id uint16) {
	b.Ops = append(b.Ops, Op{Kind: OpAddInbound, ClientID: clientID, Seq: uint64(id)})
}

// RemoveInbound forgets an inbound QoS 2 packet id once PUBREL arrived.
func (b *Batch) RemoveInbound(clientID string, id uint16) {
	b.Ops = append(b.Ops, Op{Kind: OpRemoveInbound, ClientID: clientID, Seq: uint64(id)})
}

// SetState writes the named state record (name at most 255 bytes, value
// at most 64 MiB), replacing the previous one.
func (b *Batch) SetState(name string, value []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpSetState, Topic: name, Value: value})
}

// DeleteState forgets the named state record, if any.
func (b *Batch) DeleteState(name string) {
	b.Ops = append(b.Ops, Op{Kind: OpDeleteState, Topic: name})
}

// Len is the number of writes in b.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties b, keeping its capacity.
func (b *Batch) Reset() {
	clear(b.Ops)
	b.Ops = b.Ops[:0]
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

// Apply implements Store.
func (Memory) Apply(*Batch) error { return nil }

// ApplyNoSync implements Store.
func (Memory) ApplyNoSync(*Batch) error { return nil }

// Sync implements Store.
func (Memory) Sync() error { return nil }

// Load implements Store: a memory store restores nothing.
func (Memory) Load() (*Snapshot, error) { return &Snapshot{}, nil }

// Close implements Store.
func (Memory) Close() error { return nil }
