package tlsconf

import (
	"crypto/rand"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"
)

// Session ticket keys. Tickets let a client resume a session without a new
// certificate signature (TLS 1.3 and 1.2); whoever holds a ticket key can
// decrypt the tickets it sealed, and with TLS 1.2 the sessions resumed
// from them, so the keys live in memory only, are random, and are rotated
// more often than Go's automatic keys (a new key every day, each accepted
// for 7 days).
const (
	// ticketKeyRotation is how long one key seals new tickets.
	ticketKeyRotation = time.Hour
	// ticketKeyCount is how many keys are accepted: a ticket resumes for
	// at most ticketKeyCount x ticketKeyRotation (one day) after it was
	// issued, whatever lifetime the ticket announces.
	ticketKeyCount = 24
)

// ticketKeys rotates the session ticket keys of one tls.Config. It needs
// no goroutine: rotate runs at the start of every handshake and does work
// only when the newest key has served its hour. The keys survive
// certificate reloads (they belong to the listener's outer config, which
// Go consults when the per-handshake config sets none), and a restart
// discards them.
type ticketKeys struct {
	now  func() time.Time // time.Now; a test clock in tests
	next atomic.Int64     // unix nanoseconds at which the newest key retires

	mu   sync.Mutex // guards keys; held while keys are replaced
	keys [][32]byte // newest first; at most ticketKeyCount
}

// rotate installs a new key in c when the newest one has served its
// hour, dropping the oldest beyond ticketKeyCount. Safe for concurrent use;
// the common case is one atomic load.
func (t *ticketKeys) rotate(c *tls.Config) error {
	now := t.now()
	if now.UnixNano() < t.next.Load() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.UnixNano() < t.next.Load() {
		return nil // another handshake rotated first
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return err
	}
	keys := make([][32]byte, 0, ticketKeyCount)
	keys = append(keys, k)
	keys = append(keys, t.keys[:min(len(t.keys), ticketKeyCount-1)]...)
	c.SetSessionTicketKeys(keys)
	t.keys = keys
	t.next.Store(now.Add(ticketKeyRotation).UnixNano())
	return nil
}
