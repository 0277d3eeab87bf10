package disk

import (
	"errors"
	"time"
)

// engine is the ordered key-value store under the records: the one place
// that knows which library holds the bytes. Keys and values are opaque to
// it; namespacing, encoding, encryption and durability policy live above.
type engine interface {
	// write applies b atomically; with durable it returns once b is on
	// disk, sharing one sync with concurrent durable writers (group
	// commit). It takes ownership of b.
	write(b *kvBatch, durable bool) error
	// get returns a copy of key's value, or errNotFound.
	get(key []byte) ([]byte, error)
	// scan calls fn for every key with prefix, in key order; k and v are
	// valid only during the call. An error of fn stops the scan and is
	// returned.
	scan(prefix []byte, fn func(k, v []byte) error) error
	// sync makes every write that returned so far durable.
	sync() error
	// checkpoint writes a consistent copy of the engine's files, every
	// write that returned included, to dir (which must not exist).
	checkpoint(dir string) error
	close() error
}

type engineOptions struct {
	readOnly bool
	logf     func(format string, args ...any) // engine errors worth a log line
}

var errNotFound = errors.New("not found")

type kvOpKind uint8

const (
	kvSet kvOpKind = iota
	kvDelete
	kvDeletePrefix // every key starting with key
)

type kvOp struct {
	kind     kvOpKind
	key, val []byte
}

// kvBatch is a list of writes applied in order.
type kvBatch struct {
	ops   []kvOp
	bytes int
}

func (b *kvBatch) set(k, v []byte) {
	b.ops = append(b.ops, kvOp{kind: kvSet, key: k, val: v})
	b.bytes += len(k) + len(v)
}

func (b *kvBatch) delete(k []byte) {
	b.ops = append(b.ops, kvOp{kind: kvDelete, key: k})
	b.bytes += len(k)
}

func (b *kvBatch) deletePrefix(p []byte) {
	b.ops = append(b.ops, kvOp{kind: kvDeletePrefix, key: p})
	b.bytes += len(p)
}

// defaultFlushInterval is the relaxed mode's default.
const defaultFlushInterval = time.Second
