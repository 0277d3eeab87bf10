package broker

import (
	"errors"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/topic"
)

// Durability: every write the broker makes goes through write. With
// Options.BatchWrites (a durable store) writes are handed to the store
// writer (storewriter.go), which applies those of every connection in
// batches with ApplyNoSync, and are counted. With Options.HoldAcks (strict
// mode) an acknowledgement that promises durability (PUBACK, PUBREC,
// PUBCOMP, SUBACK, UNSUBACK, CONNACK of a persistent session) is held by
// its connection until its writes are applied and a Sync covering them
// returned. A connection holds the acknowledgements of everything it read
// in one go and pays one Sync for them, and concurrent Syncs of many
// connections share one disk sync in the store: group commit without a
// timer.
//
// Without BatchWrites (the memory store) writes use Apply at once and
// acknowledgements are never held.

// errStoreClosed is the error of a write after Shutdown closed the store.
var errStoreClosed = errors.New("store closed")

// write performs or hands in one store write. An error is the store's (or,
// batched, the first error of the store writer).
func (b *Broker) write(op store.Op) error {
	if b.writer == nil {
		batch := store.Batch{Ops: []store.Op{op}}
		return b.store.Apply(&batch)
	}
	n, err := b.writer.add(op)
	if err != nil {
		return err
	}
	// Counts leave in order: add numbered this write n under the writer's
	// lock, so written only grows.
	for {
		cur := b.written.Load()
		if cur >= n || b.written.CompareAndSwap(cur, n) {
			return nil
		}
	}
}

// writeMark is the count of writes made so far: an acknowledgement that
// depends on them is released once durableTo(mark) returned.
func (b *Broker) writeMark() uint64 { return b.written.Load() }

// markSince is the mark an acknowledgement must wait for when the writes
// counted after before may be its own; 0 when nothing was written since.
// Writes of other connections in between only make it wait for a little
// more: the sync is shared.
func (b *Broker) markSince(before uint64) uint64 {
	if now := b.written.Load(); now != before {
		return now
	}
	return 0
}

// durableTo returns once every write counted up to mark is durable. Many
// callers may wait at once; each Sync covers every write that returned
// before it started.
func (b *Broker) durableTo(mark uint64) error {
	if !b.holdAcks || b.synced.Load() >= mark {
		return nil
	}
	target := b.written.Load()
	if err := b.writer.waitApplied(target); err != nil {
		return err
	}
	if err := b.store.Sync(); err != nil {
		return err
	}
	for {
		cur := b.synced.Load()
		if cur >= target || b.synced.CompareAndSwap(cur, target) {
			return nil
		}
	}
}

// ackAfter sends an acknowledgement once the writes up to mark are durable
// (mark 0: none). Acknowledgements leave in the order they were made, so
// one that needs no write still waits behind a held one.
func (c *conn) ackAfter(it outItem, mark uint64) {
	if len(c.held) == 0 && (mark == 0 || c.b.synced.Load() >= mark) {
		c.enqueue(it)
		return
	}
	c.held = append(c.held, it)
	c.heldMark = max(c.heldMark, mark)
}

// maxHeldAcks bounds the acknowledgements a connection holds before it
// syncs even though more of its packets are already buffered.
const maxHeldAcks = 256

// releaseHeld syncs the store up to the connection's held mark and sends
// the held acknowledgements.
func (c *conn) releaseHeld() error {
	if len(c.held) == 0 {
		return nil
	}
	if err := c.b.durableTo(c.heldMark); err != nil {
		return c.syncFailed(err)
	}
	for _, it := range c.held {
		c.enqueue(it)
	}
	clear(c.held)
	c.held = c.held[:0]
	c.heldMark = 0
	if cap(c.held) > maxHeldAcks {
		c.held = nil
	}
	return nil
}

// syncFailed ends the connection after a failed store sync: nothing that
// was not made durable is acknowledged, and the client resends it.
func (c *conn) syncFailed(err error) error {
	c.b.log.Error("store: sync failed; acknowledgements withheld and connection closed",
		"client_id", c.clientID, "remote", c.info.Remote, "error", err)
	c.b.record(audit.Event{Kind: audit.ClientDisconnected, Listener: c.info.Listener, Remote: c.info.Remote,
		ClientID: c.clientID, Identity: c.identityName(), Reason: packet.ImplementationSpecificError,
		Detail: "store sync failed: " + err.Error()})
	clear(c.held)
	c.held, c.heldMark = c.held[:0], 0
	return fail(packet.ImplementationSpecificError, "store unavailable")
}

// syncBeforeControl sends what is held and makes the writes since before
// durable, so that the SUBACK or UNSUBACK that follows is not sent before
// the change it confirms is on disk.
func (c *conn) syncBeforeControl(before uint64) error {
	if err := c.releaseHeld(); err != nil {
		return err
	}
	if err := c.b.durableTo(c.b.markSince(before)); err != nil {
		return c.syncFailed(err)
	}
	return nil
}

// RestoreReport counts what Restore brought back.
type RestoreReport struct {
	Sessions, Queued, Retained int
	// Expired counts sessions and retained messages that expired while the
	// broker was down; Orphans queues found without a session record.
	Expired, Orphans int
	// ReplayState is set when the signed-topics replay state of a clean
	// shutdown was loaded (no restart window).
	ReplayState bool
}

// Restore loads a store snapshot into a broker that has not served yet:
// persistent sessions go offline with their subscriptions, queues and
// pending inbound QoS 2 ids, their expiry counted from when they went
// offline (from now for a session that was connected when the broker
// stopped); retained messages come back with their owners and expiry.
// What expired meanwhile is deleted from the store.
func (b *Broker) Restore(snap *store.Snapshot) (RestoreReport, error) {
	var rep RestoreReport
	now := time.Now()
	for _, m := range snap.Retained {
		if m.Expired(now) {
			rep.Expired++
			if err := b.write(store.Op{Kind: store.OpDeleteRetained, Topic: m.Topic}); err != nil {
				return rep, err
			}
			continue
		}
		b.retained.restore(m)
		rep.Retained++
	}
	for i := range snap.Sessions {
		r := &snap.Sessions[i]
		rec := r.Session
		left := time.Duration(0)
		if rec != nil {
			since := rec.Disconnected
			if since.IsZero() || since.After(now) {
				since = now
			}
			left = rec.ExpiryAfter - now.Sub(since)
		}
		if rec == nil || left <= 0 {
			if rec == nil {
				rep.Orphans++
				b.log.Warn("store: messages queued for a client without a session record; deleted", "client_id", r.ClientID, "messages", len(r.Queue))
			} else {
				rep.Expired++
			}
			if err := b.write(store.Op{Kind: store.OpDeleteSession, ClientID: r.ClientID}); err != nil {
				return rep, err
			}
			continue
		}
		b.restoreSession(r, now, left)
		rep.Sessions++
		rep.Queued += len(r.Queue)
	}
	if state, ok := snap.State[replayStateName]; ok {
		// Saved at the last clean shutdown. Used once: deleted (durably,
		// before anything is served) so that after a crash the restart
		// window applies again instead of a stale state.
		if b.signed != nil {
			if err := b.signed.ImportReplay(state); err != nil {
				b.log.Warn("store: the saved signed-topics replay state is unreadable; the restart window applies", "error", err)
			} else {
				rep.ReplayState = true
			}
		}
		if err := b.write(store.Op{Kind: store.OpDeleteState, Topic: replayStateName}); err != nil {
			return rep, err
		}
	}
	return rep, b.durableTo(b.writeMark())
}

// replayStateName is the store's state record of the signed-topics replay
// state, saved at a clean shutdown.
const replayStateName = "signed/replay"

// saveReplayState writes the signed-topics replay state at a clean
// shutdown, once no connection can add to it.
func (b *Broker) saveReplayState() {
	if b.signed == nil {
		return
	}
	batch := store.Batch{}
	batch.SetState(replayStateName, b.signed.ExportReplay())
	if err := b.store.Apply(&batch); err != nil {
		b.log.Error("store: saving the signed-topics replay state failed; the restart window will apply", "error", err)
	}
}

// restoreSession rebuilds one offline session.
func (b *Broker) restoreSession(r *store.Restored, now time.Time, left time.Duration) {
	rec := r.Session
	s := newSession(b, r.ClientID)
	s.version = rec.Version
	s.expiry = rec.ExpiryAfter
	s.offlineSince = now.Add(left - rec.ExpiryAfter)
	subj := &acl.Subject{ClientID: r.ClientID, Username: rec.Identity}
	if rec.Identity != "" || rec.Anonymous {
		subj.Identity = &auth.Identity{Name: rec.Identity, Groups: rec.Groups, Method: rec.Method, Anonymous: rec.Anonymous, Topics: rec.Topics}
	} // else the session had no owner: any identity may take it, as before
	s.subject.Store(subj)
	for _, st := range rec.Subscriptions {
		sub := &subscription{sess: s, filter: st.Filter, opts: st.Opts}
		if st.SubID != 0 {
			sub.subIDs = []uint32{st.SubID}
		}
		if g, f, ok, err := topic.ParseShared(st.Filter); err == nil && ok {
			sub.shared = g + "\x00" + f
		}
		s.subs[st.Filter] = sub
		if b.subs.Add(st.Filter, s.id, sub) {
			b.metrics.Subscriptions.Add(1)
		}
	}
	for _, q := range r.Queue {
		d := session.Delivery{Msg: q.Msg, QoS: q.Msg.QoS, Retain: q.Msg.Retain, StoreSeq: q.Seq, SubIDs: s.subIDsFor(q.Msg.Topic)}
		s.storeSeq = max(s.storeSeq, q.Seq)
		s.queue.Push(d)
	}
	for _, pid := range r.Inbound {
		s.inQoS2[pid] = struct{}{}
	}
	s.expiryT = time.AfterFunc(left, func() { b.expire(s) })
	b.mu.Lock()
	b.sessions[s.id] = s
	b.mu.Unlock()
	b.metrics.SessionsCurrent.Add(1)
}

// subIDsFor returns the subscription identifiers of the session's
// subscriptions that match topicName, for a restored delivery.
func (s *Session) subIDsFor(topicName string) []uint32 {
	var ids []uint32
	for _, sub := range s.subs {
		filter := sub.filter
		if _, inner, ok := strings.Cut(sub.shared, "\x00"); ok {
			filter = inner
		}
		if len(sub.subIDs) > 0 && topic.MatchFilter(filter, topicName) {
			ids = append(ids, sub.subIDs...)
		}
	}
	return ids
}
