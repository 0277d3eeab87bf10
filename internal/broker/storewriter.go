package broker

import (
	"log/slog"
	"sync"

	"github.com/moatmq/moat/internal/store"
)

// maxPendingWrites bounds the writes waiting for the store writer: past it
// the connections that write wait for it (back-pressure on publishers).
const maxPendingWrites = 1 << 16

// storeWriter applies the broker's store writes in batches on its own
// goroutine, in the order they were handed in: every connection's writes
// of a moment share one ApplyNoSync, as the Syncs share one disk sync.
// Handed-in writes are counted; waitApplied(n) returns once the first n are
// in the store (or the store failed: the error sticks, so nothing written
// after a failure is ever reported applied).
//
// mu guards every field below it; it is a leaf lock, never held while the
// store is called.
type storeWriter struct {
	st  store.Store
	log *slog.Logger

	mu      sync.Mutex
	work    sync.Cond // the writer waits for pending writes
	changed sync.Cond // waiters wait for applied to advance, or room
	pending []store.Op
	queued  uint64 // writes handed in
	applied uint64 // writes in the store
	err     error  // the first failure; sticky
	closed  bool
	done    chan struct{}
}

func newStoreWriter(st store.Store, log *slog.Logger) *storeWriter {
	w := &storeWriter{st: st, log: log, done: make(chan struct{})}
	w.work.L, w.changed.L = &w.mu, &w.mu
	go w.run()
	return w
}

// add hands in one write and returns its count, or the sticky error.
func (w *storeWriter) add(op store.Op) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.pending) >= maxPendingWrites && w.err == nil && !w.closed {
		w.changed.Wait()
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errStoreClosed
	}
	w.pending = append(w.pending, op)
	w.queued++
	if len(w.pending) == 1 {
		w.work.Signal()
	}
	return w.queued, nil
}

// waitApplied returns once the first n writes are in the store.
func (w *storeWriter) waitApplied(n uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.applied < n && w.err == nil {
		w.changed.Wait()
	}
	return w.err
}

// run applies what is pending, as one batch, until close.
func (w *storeWriter) run() {
	defer close(w.done)
	var batch store.Batch
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && !w.closed {
			w.work.Wait()
		}
		if len(w.pending) == 0 {
			w.mu.Unlock()
			return
		}
		batch.Ops, w.pending = w.pending, batch.Ops[:0]
		upto := w.queued
		w.mu.Unlock()

		err := w.st.ApplyNoSync(&batch)
		batch.Reset() // drop the references to messages
		if cap(batch.Ops) > maxPendingWrites/4 {
			batch.Ops = nil
		}

		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
			w.log.Error("store: write failed; nothing more is acknowledged as durable", "error", err)
		}
		if w.err == nil {
			w.applied = upto
		}
		w.changed.Broadcast()
		w.mu.Unlock()
	}
}

// close applies what is pending and stops the writer.
func (w *storeWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.work.Signal()
	w.changed.Broadcast()
	w.mu.Unlock()
	<-w.done
}
