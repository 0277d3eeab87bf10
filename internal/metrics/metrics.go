// Package metrics holds Moat's counters. Counters are atomics updated on the
// hot path without locks; readers take value snapshots. The Prometheus
// exposition (a later issue) reads snapshots and never touches the broker.
package metrics

import (
	"sync/atomic"

	"github.com/moatmq/moat/internal/packet"
)

// DropReason says why a message was not delivered. Values are stable
// metric labels.
type DropReason uint8

// Drop reasons.
const (
	DropQueueFull     DropReason = iota // session queue over its bound
	DropSlowConsumer                    // QoS 0 shed because the client does not read
	DropTooLarge                        // over the client's Maximum Packet Size
	DropExpired                         // message expiry interval elapsed
	DropNotAuthorized                   // receive denied by the ACL
	DropStoreFailed                     // the store could not record it
	DropMemory                          // QoS 0 shed above the memory budget
	numDropReasons
)

var dropNames = [numDropReasons]string{"queue_full", "slow_consumer", "too_large", "expired", "not_authorized", "store_failed", "memory_budget"}

func (r DropReason) String() string { return dropNames[r] }

// Metrics is the broker's counter set. The zero value is ready to use.
type Metrics struct {
	ConnectionsCurrent atomic.Int64
	ConnectionsTotal   atomic.Uint64
	SessionsCurrent    atomic.Int64
	Subscriptions      atomic.Int64
	RetainedMessages   atomic.Int64
	MessagesIn         [3]atomic.Uint64 // by QoS
	MessagesOut        [3]atomic.Uint64 // by QoS
	BytesIn            atomic.Uint64
	BytesOut           atomic.Uint64
	Dropped            [numDropReasons]atomic.Uint64
	// Refused counts refused connections and server-initiated disconnects
	// by reason code.
	Refused     [256]atomic.Uint64
	Disconnects [256]atomic.Uint64
	// Panics counts connection handlers that panicked (bugs).
	Panics atomic.Uint64

	// Auth counts authentication outcomes by "method/result" (result ok
	// or failed).
	Auth Labeled
	// ACLDenied counts refusals of the ACL by action (publish,
	// subscribe, receive, retain, will).
	ACLDenied Labeled
	// AcceptRefused counts connections closed at accept by reason
	// (firewall, limits, ban).
	AcceptRefused Labeled
	// TLSHandshakes and TLSHandshakeFailures count TLS handshakes on the
	// MQTT listeners.
	TLSHandshakes        atomic.Uint64
	TLSHandshakeFailures atomic.Uint64
	// SignedRefused counts messages refused on signed topics, by reason.
	SignedRefused Labeled
	// SlowConsumers counts connections cut because they stopped reading
	// for longer than the write timeout.
	SlowConsumers atomic.Uint64
	// Throttled counts PUBLISH packets that waited for the publish rate
	// limits (back-pressure).
	Throttled atomic.Uint64
	// BansApplied counts bans applied by the brute-force defence.
	BansApplied atomic.Uint64
	// Latency is the time from a PUBLISH's arrival to its delivery being
	// written to a subscriber.
	Latency Histogram
}

// Drop counts one dropped message.
func (m *Metrics) Drop(r DropReason) { m.Dropped[r].Add(1) }

// Snapshot is a consistent-enough copy of the counters for reporting.
type Snapshot struct {
	ConnectionsCurrent int64
	ConnectionsTotal   uint64
	SessionsCurrent    int64
	Subscriptions      int64
	RetainedMessages   int64
	MessagesIn         [3]uint64
	MessagesOut        [3]uint64
	BytesIn, BytesOut  uint64
	Dropped            map[string]uint64
	Refused            map[packet.ReasonCode]uint64
	Disconnects        map[packet.ReasonCode]uint64
}

// Snapshot copies the counters.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{
		ConnectionsCurrent: m.ConnectionsCurrent.Load(),
		ConnectionsTotal:   m.ConnectionsTotal.Load(),
		SessionsCurrent:    m.SessionsCurrent.Load(),
		Subscriptions:      m.Subscriptions.Load(),
		RetainedMessages:   m.RetainedMessages.Load(),
		BytesIn:            m.BytesIn.Load(),
		BytesOut:           m.BytesOut.Load(),
		Dropped:            map[string]uint64{},
		Refused:            map[packet.ReasonCode]uint64{},
		Disconnects:        map[packet.ReasonCode]uint64{},
	}
	for q := range 3 {
		s.MessagesIn[q] = m.MessagesIn[q].Load()
		s.MessagesOut[q] = m.MessagesOut[q].Load()
	}
	for r := range numDropReasons {
		if v := m.Dropped[r].Load(); v > 0 {
			s.Dropped[r.String()] = v
		}
	}
	for i := range 256 {
		if v := m.Refused[i].Load(); v > 0 {
			s.Refused[packet.ReasonCode(i)] = v
		}
		if v := m.Disconnects[i].Load(); v > 0 {
			s.Disconnects[packet.ReasonCode(i)] = v
		}
	}
	return s
}
