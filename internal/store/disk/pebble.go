package disk

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleEngine keeps the records in a Pebble LSM tree. Pebble's commit
// pipeline is the group commit: concurrent Apply calls with Sync share one
// WAL fsync.
type pebbleEngine struct {
	db       *pebble.DB
	readOnly bool
}

var _ engine = (*pebbleEngine)(nil)

// pebbleLogger sends Pebble's errors to the store's log function and drops
// its informational lines. Fatalf panics: a library must not exit the
// process, and Pebble calls it only on a broken invariant or when it
// cannot write its log or manifest (an I/O error, a full disk), where
// carrying on could acknowledge writes that are not on disk.
type pebbleLogger struct{ logf func(string, ...any) }

func (pebbleLogger) Infof(string, ...any) {}

func (l pebbleLogger) Errorf(format string, args ...any) {
	if l.logf != nil {
		l.logf(format, args...)
	}
}

func (pebbleLogger) Fatalf(format string, args ...any) {
	panic("pebble: " + fmt.Sprintf(format, args...))
}

func openPebble(dir string, o engineOptions) (engine, error) {
	logger := pebbleLogger{o.logf}
	opts := &pebble.Options{
		ReadOnly: o.readOnly,
		Logger:   logger,
		EventListener: &pebble.EventListener{
			// Pebble's default is fatal; the read that found the damage
			// returns an error naming it, and Check lists it.
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				logger.Errorf("on-disk corruption in %s: %s", info.Path, firstLine(info.Details))
			},
		},
	}
	if o.readOnly {
		opts.ErrorIfNotExists = true
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		err = pebbleErr("opening", err)
		var ee *engineError
		if errors.As(err, &ee) && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
			ee.maybe = true
		}
		return nil, err
	}
	return &pebbleEngine{db: db, readOnly: o.readOnly}, nil
}

// pebbleErr wraps a Pebble error; a lock held by another process becomes
// ErrInUse.
func pebbleErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if isLockErr(err) {
		return fmt.Errorf("%s: %w", op, ErrInUse)
	}
	return &engineError{op: op, err: err, corrupted: pebble.IsCorruptionError(err) || errors.Is(err, pebble.ErrCorruption)}
}

func (e *pebbleEngine) write(b *kvBatch, durable bool) error {
	pb := e.db.NewBatch()
	defer pb.Close()
	for _, op := range b.ops {
		var err error
		switch op.kind {
		case kvSet:
			err = pb.Set(op.key, op.val, nil)
		case kvDelete:
			err = pb.Delete(op.key, nil)
		case kvDeletePrefix:
			err = pb.DeleteRange(op.key, prefixEnd(op.key), nil)
		}
		if err != nil {
			return pebbleErr("writing", err)
		}
	}
	opts := pebble.NoSync
	if durable {
		opts = pebble.Sync
	}
	return pebbleErr("writing", e.db.Apply(pb, opts))
}

func (e *pebbleEngine) get(key []byte) ([]byte, error) {
	v, closer, err := e.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, pebbleErr("reading "+recordName(key), err)
	}
	v = append([]byte(nil), v...)
	return v, closer.Close()
}

func (e *pebbleEngine) scan(prefix []byte, fn func(k, v []byte) error) (err error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return pebbleErr("reading "+string(prefix), err)
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = pebbleErr("reading "+string(prefix), cerr)
		}
	}()
	for ok := it.First(); ok; ok = it.Next() {
		v, verr := it.ValueAndErr()
		if verr != nil {
			return pebbleErr("reading "+recordName(it.Key()), verr)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	return pebbleErr("reading "+string(prefix), it.Error())
}

func (e *pebbleEngine) checkpoint(dir string) error {
	return pebbleErr("checkpoint", e.db.Checkpoint(dir, pebble.WithFlushedWAL()))
}

func (e *pebbleEngine) sync() error {
	return pebbleErr("syncing", e.db.LogData(nil, pebble.Sync))
}

// close flushes the memtable first (unless read-only), so that after a
// clean shutdown every record is in checksummed, size-checked table files
// and the write-ahead log holds nothing: a truncated log can then only
// lose writes that a crash interrupted, never acknowledged ones.
func (e *pebbleEngine) close() error {
	var err error
	if !e.readOnly {
		err = pebbleErr("flushing", e.db.Flush())
	}
	if cerr := pebbleErr("closing", e.db.Close()); err == nil {
		err = cerr
	}
	return err
}
