// Package disk is Moat's durable store: sessions, queued QoS 1/2 messages
// and retained messages in an embedded key-value engine in the data
// directory, every value encrypted with AES-256-GCM when a key is given.
//
// Durability: in Strict mode (the default) a write returns only once it is
// on disk, and concurrent writers share one fsync (group commit). In
// Relaxed mode a write returns once the engine has it and reaches the disk
// within FlushInterval: a crash of the machine, or of the process, can lose
// the writes of the last interval.
//
// The on-disk layout (layout.go), the record keys (keys.go), the record
// encoding (record.go) and the envelope (seal.go) are versioned together
// by the format record (format.go). docs/durability.md is the operator's
// view.
package disk

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
)

// Mode is the durability mode of a store.
type Mode uint8

// The durability modes.
const (
	// Strict: a write returns once it is on disk. The default.
	Strict Mode = iota
	// Relaxed: a write returns once the engine has it; the store is synced
	// every FlushInterval.
	Relaxed
)

func (m Mode) String() string {
	switch m {
	case Strict:
		return "strict"
	case Relaxed:
		return "relaxed"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses "strict" or "relaxed".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "strict":
		return Strict, nil
	case "relaxed":
		return Relaxed, nil
	}
	return 0, fmt.Errorf("durability mode %q: want strict or relaxed", s)
}

// Options configure Open.
type Options struct {
	// Dir is the store's own directory (conventionally DATA_DIR/store, see
	// DefaultDir), created with mode 0700 when missing.
	Dir string
	// Mode is the durability mode; the zero value is Strict.
	Mode Mode
	// FlushInterval bounds how long a Relaxed write waits to reach the
	// disk. Zero means one second. Unused in Strict mode.
	FlushInterval time.Duration
	// Key is the 32-byte AES-256 store key (see LoadKey), or nil to keep
	// values in the clear with checksums only. A store is encrypted or not
	// from its creation (RotateKey changes that); the broker requires a key
	// unless its configuration explicitly allows a clear store.
	Key []byte
	// Logger receives the engine's error reports; nil discards them. The
	// key is never logged.
	Logger *slog.Logger
}

// String renders o with the key redacted: only whether there is one.
func (o Options) String() string {
	return fmt.Sprintf("disk.Options{Dir: %q, Mode: %v, FlushInterval: %v, Key: %s}", o.Dir, o.Mode, o.FlushInterval, keyState(o.Key))
}

// GoString is String, so that %#v does not print the key either.
func (o Options) GoString() string { return o.String() }

// LogValue implements slog.LogValuer with the key redacted.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(slog.String("dir", o.Dir), slog.String("mode", o.Mode.String()),
		slog.Duration("flush_interval", o.FlushInterval), slog.String("key", keyState(o.Key)))
}

func keyState(k []byte) string {
	if k == nil {
		return "none"
	}
	return "[redacted]"
}

// DefaultDir is the store directory inside a data directory.
func DefaultDir(dataDir string) string { return filepath.Join(dataDir, "store") }

// Store is the durable store. It implements store.Store and is safe for
// concurrent use.
type Store struct {
	dir  string
	gen  string
	mode Mode
	eng  engine
	seal *sealer

	// mu is held shared by every write and Load, exclusively by Close, so
	// that Close waits for writes in flight.
	mu       sync.RWMutex
	closed   bool
	readOnly bool // opened by openReadOnly: no writes, no sync

	dirty atomic.Bool // a relaxed write since the last sync
	// written counts strict-mode writes that returned without a sync;
	// synced is the highest count known durable. Sync skips the disk when
	// nothing was written since.
	written, synced atomic.Uint64

	stop, done chan struct{} // the relaxed mode's flusher; nil in strict mode
}

var _ store.Store = (*Store)(nil)

func (o *Options) check() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("store: no directory given")
	case o.Key != nil && len(o.Key) != KeySize:
		return fmt.Errorf("store: the key must be %d bytes, got %d", KeySize, len(o.Key))
	case o.Mode != Strict && o.Mode != Relaxed:
		return fmt.Errorf("store: unknown durability mode %v", o.Mode)
	case o.FlushInterval < 0:
		return fmt.Errorf("store: negative flush interval %v", o.FlushInterval)
	}
	return nil
}

func (o *Options) engineOptions(readOnly bool) engineOptions {
	eo := engineOptions{readOnly: readOnly}
	if l := o.Logger; l != nil {
		eo.logf = func(format string, args ...any) {
			l.Error("store: engine error", "error", fmt.Sprintf(format, args...))
		}
	}
	return eo
}

func (o *Options) openEngine(dir string, readOnly bool) (engine, error) {
	return openPebble(dir, o.engineOptions(readOnly))
}

// Open opens the store in o.Dir, creating it when the directory is missing
// or empty. It verifies the format and the key before it writes anything:
// with a wrong key it fails with ErrWrongKey and changes nothing; a store
// of an older format is migrated, one of a newer format refused.
func Open(o Options) (*Store, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	gen, created, err := prepareDir(o.Dir, true)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", o.Dir, err)
	}
	if !created {
		// Verify the format and the key read-only first, so that a wrong
		// key or a newer format leaves every file as it was (an engine
		// opened for writing may rewrite its logs and manifest).
		ro, err := openReadOnly(&o)
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", o.Dir, err)
		}
		if err := ro.Close(); err != nil {
			return nil, fmt.Errorf("store %s: %w", o.Dir, err)
		}
	}
	s, err := openGen(&o, gen, created)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", o.Dir, err)
	}
	if err := removeStale(o.Dir, gen); err != nil {
		s.eng.close()
		return nil, fmt.Errorf("store %s: removing what an interrupted rotation left: %w", o.Dir, err)
	}
	if o.Mode == Relaxed {
		every := o.FlushInterval
		if every == 0 {
			every = defaultFlushInterval
		}
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.flusher(every, o.Logger)
	}
	return s, nil
}

// openGen opens generation gen of o.Dir for writing and prepares it (a new
// store when fresh).
func openGen(o *Options, gen string, fresh bool) (*Store, error) {
	eng, err := o.openEngine(filepath.Join(o.Dir, gen), false)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: o.Dir, gen: gen, mode: o.Mode, eng: eng, seal: newSealer(o.Key)}
	if err := s.prepare(fresh); err != nil {
		eng.close()
		return nil, err
	}
	return s, nil
}

// openReadOnly opens the live generation of o.Dir without writing
// anything, for Check and Recover: the format and the key are verified,
// an old format is read as it is.
func openReadOnly(o *Options) (*Store, error) {
	gen, _, err := prepareDir(o.Dir, false)
	if err != nil {
		return nil, err
	}
	eng, err := o.openEngine(filepath.Join(o.Dir, gen), true)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: o.Dir, gen: gen, mode: Strict, eng: eng, seal: newSealer(o.Key), readOnly: true}
	v, _, err := readFormat(eng)
	if err == nil && v > formatVersion {
		err = fmt.Errorf("%w: format %d, this Moat reads up to %d; run a newer Moat", ErrNewerFormat, v, formatVersion)
	}
	if err == nil {
		err = checkKey(eng, s.seal)
	}
	if err != nil {
		eng.close()
		return nil, err
	}
	return s, nil
}

// flusher syncs a relaxed store every interval in which it was written.
func (s *Store) flusher(every time.Duration, log *slog.Logger) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.dirty.Swap(false) {
				if err := s.eng.sync(); err != nil && log != nil {
					log.Error("store: periodic sync failed", "dir", s.dir, "error", err)
				}
			}
		}
	}
}

// SaveSession implements store.Store.
func (s *Store) SaveSession(sess *store.Session) error {
	return s.apply1(store.Op{Kind: store.OpSaveSession, ClientID: sess.ClientID, Session: sess})
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(clientID string) error {
	return s.apply1(store.Op{Kind: store.OpDeleteSession, ClientID: clientID})
}

// Enqueue implements store.Store.
func (s *Store) Enqueue(clientID string, seq uint64, m *session.Message) error {
	return s.apply1(store.Op{Kind: store.OpEnqueue, ClientID: clientID, Seq: seq, Msg: m})
}

// Dequeue implements store.Store.
func (s *Store) Dequeue(clientID string, seq uint64) error {
	return s.apply1(store.Op{Kind: store.OpDequeue, ClientID: clientID, Seq: seq})
}

// SetRetained implements store.Store.
func (s *Store) SetRetained(m *session.Message) error {
	return s.apply1(store.Op{Kind: store.OpSetRetained, Topic: m.Topic, Msg: m})
}

// DeleteRetained implements store.Store.
func (s *Store) DeleteRetained(topic string) error {
	return s.apply1(store.Op{Kind: store.OpDeleteRetained, Topic: topic})
}

func (s *Store) apply1(op store.Op) error {
	return s.Apply(&store.Batch{Ops: []store.Op{op}})
}

// Apply implements store.Store. Values are encoded and sealed by the
// calling goroutine; only the engine write is shared.
func (s *Store) Apply(b *store.Batch) error { return s.apply(b, s.mode == Strict) }

// ApplyNoSync implements store.Store.
func (s *Store) ApplyNoSync(b *store.Batch) error { return s.apply(b, false) }

// Sync implements store.Store: in strict mode it syncs the engine,
// sharing the sync with concurrent callers; in relaxed mode it returns at
// once (the flusher syncs).
func (s *Store) Sync() error {
	if s.mode == Relaxed {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	target := s.written.Load()
	if s.synced.Load() >= target {
		return nil
	}
	if err := s.eng.sync(); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	for {
		cur := s.synced.Load()
		if cur >= target || s.synced.CompareAndSwap(cur, target) {
			return nil
		}
	}
}

func (s *Store) apply(b *store.Batch, durable bool) error {
	kb := &kvBatch{ops: make([]kvOp, 0, len(b.Ops)+1)}
	var scratch []byte
	for i := range b.Ops {
		op := &b.Ops[i]
		switch op.Kind {
		case store.OpSaveSession:
			if op.Session == nil {
				return fmt.Errorf("store: SaveSession without a session")
			}
			k := sessionKey(op.Session.ClientID)
			scratch = encodeSession(scratch[:0], op.Session)
			kb.set(k, s.seal.seal(nil, k, scratch))
		case store.OpDeleteSession:
			kb.delete(sessionKey(op.ClientID))
			kb.deletePrefix(queuePrefix(op.ClientID))
			kb.deletePrefix(clientPrefix(prefixInbound, op.ClientID))
		case store.OpEnqueue:
			if op.Msg == nil {
				return fmt.Errorf("store: Enqueue without a message")
			}
			k := queueKey(op.ClientID, op.Seq)
			scratch = encodeMessage(scratch[:0], op.Msg)
			kb.set(k, s.seal.seal(nil, k, scratch))
		case store.OpDequeue:
			kb.delete(queueKey(op.ClientID, op.Seq))
		case store.OpSetRetained:
			if op.Msg == nil {
				return fmt.Errorf("store: SetRetained without a message")
			}
			k := retainedKey(op.Msg.Topic)
			scratch = encodeMessage(scratch[:0], op.Msg)
			kb.set(k, s.seal.seal(nil, k, scratch))
		case store.OpDeleteRetained:
			kb.delete(retainedKey(op.Topic))
		case store.OpSetState, store.OpDeleteState:
			if op.Topic == "" || len(op.Topic) > 255 || len(op.Value) > 64<<20 {
				return fmt.Errorf("store: state record %q: name must be 1 to 255 bytes, value at most 64 MiB", op.Topic)
			}
			k := append([]byte(prefixState), op.Topic...)
			if op.Kind == store.OpDeleteState {
				kb.delete(k)
				break
			}
			scratch = append(append(scratch[:0], kindState), op.Value...)
			kb.set(k, s.seal.seal(nil, k, scratch))
		case store.OpAddInbound, store.OpRemoveInbound:
			if op.Seq == 0 || op.Seq > 0xffff {
				return fmt.Errorf("store: inbound packet id %d out of range", op.Seq)
			}
			k := inboundKey(op.ClientID, uint16(op.Seq))
			if op.Kind == store.OpRemoveInbound {
				kb.delete(k)
				break
			}
			kb.set(k, s.seal.seal(nil, k, []byte{kindInbound}))
		default:
			return fmt.Errorf("store: unknown write kind %d", op.Kind)
		}
	}
	if len(kb.ops) == 0 {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.mode == Relaxed {
		s.dirty.Store(true)
	}
	if err := s.eng.write(kb, durable); err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	if !durable {
		s.written.Add(1)
	}
	return nil
}

// Load implements store.Store: it reads and decrypts every record. The
// first record that cannot be read ends it with an error naming the record
// and the recovery command.
func (s *Store) Load() (*store.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	snap, err := s.load(nil)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.dir, err)
	}
	return snap, nil
}

// load reads every record into a snapshot. With onBad nil, the first bad
// record is the error; otherwise onBad is told about each bad record and
// the load goes on.
func (s *Store) load(onBad func(key []byte, err error)) (*store.Snapshot, error) {
	byClient := make(map[string]*store.Restored)
	client := func(id string) *store.Restored {
		r := byClient[id]
		if r == nil {
			r = &store.Restored{ClientID: id}
			byClient[id] = r
		}
		return r
	}
	snap := &store.Snapshot{}
	err := s.scanRecords(onBad, func(k, plain []byte) error {
		switch {
		case strings.HasPrefix(string(k), prefixSession):
			id := string(k[len(prefixSession):])
			sess, err := decodeSession(id, plain)
			if err != nil {
				return err
			}
			client(id).Session = sess
		case strings.HasPrefix(string(k), prefixQueue):
			id, seq, ok := parseQueueKey(k)
			if !ok {
				return errMalformed
			}
			m, err := decodeMessage(plain)
			if err != nil {
				return err
			}
			r := client(id)
			r.Queue = append(r.Queue, store.Queued{Seq: seq, Msg: m})
		case strings.HasPrefix(string(k), prefixInbound):
			id, pid, ok := parseInboundKey(k)
			if !ok || len(plain) != 1 || plain[0] != kindInbound {
				return errMalformed
			}
			r := client(id)
			r.Inbound = append(r.Inbound, pid)
		case strings.HasPrefix(string(k), prefixState):
			if len(plain) == 0 || plain[0] != kindState {
				return errMalformed
			}
			if snap.State == nil {
				snap.State = make(map[string][]byte)
			}
			snap.State[string(k[len(prefixState):])] = bytes.Clone(plain[1:])
		case strings.HasPrefix(string(k), prefixRetained):
			m, err := decodeMessage(plain)
			if err != nil {
				return err
			}
			if m.Topic != string(k[len(prefixRetained):]) {
				return errMalformed
			}
			snap.Retained = append(snap.Retained, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	snap.Sessions = make([]store.Restored, 0, len(byClient))
	for _, r := range byClient {
		snap.Sessions = append(snap.Sessions, *r)
	}
	slices.SortFunc(snap.Sessions, func(a, b store.Restored) int { return strings.Compare(a.ClientID, b.ClientID) })
	return snap, nil
}

// scanRecords calls fn with the key and plaintext of every data record.
// A record that fails to open or that fn fails to decode is reported to
// onBad, or, with onBad nil, ends the scan as a *CorruptError.
func (s *Store) scanRecords(onBad func(key []byte, err error), fn func(k, plain []byte) error) error {
	for _, p := range dataPrefixes {
		err := s.eng.scan([]byte(p), func(k, v []byte) error {
			plain, err := s.seal.open(k, v)
			if err == nil {
				if err = fn(k, plain); err != nil {
					err = corrupt(k, err.Error())
				}
			}
			if err != nil {
				if onBad == nil {
					return fmt.Errorf("%w; %s", err, recoveryHint)
				}
				onBad(k, err)
			}
			return nil
		})
		if err != nil {
			if onBad == nil {
				return err
			}
			onBad([]byte(p), err)
		}
	}
	return nil
}

// Close implements store.Store: it syncs and closes the engine. A second
// Close returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	var err error
	if !s.readOnly {
		err = s.eng.sync()
	}
	if cerr := s.eng.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.dir, err)
	}
	return nil
}
