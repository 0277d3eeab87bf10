// Package auditlog is Moat's tamper-evident audit log: an audit.Sink that
// writes records (the format of package audit) to a file, chained by
// SHA-256, rotated by size and age, optionally copied to syslog, and
// verified by Verify.
//
// # Writing
//
// Record never blocks: it puts the event on a bounded queue (QueueSize)
// and returns; when the queue is full the event is dropped and counted,
// and the count is written as an audit.suppressed record ("queue full")
// as soon as the writer gets to it. One writer goroutine owns the file: it
// takes what is queued in a batch (up to 1024 events), decides which
// events to write (see Aggregation), appends their lines, then writes the
// batch with one write and one fsync. A record is durable when the batch
// that holds it is: at most one batch is lost in a crash. Flush forces the
// due work and an fsync now; Close writes what is pending, an audit.closed
// record, and syncs.
//
// # Files
//
// The live file is Options.Path (0600, in a directory created 0700). When
// a record would make it larger than MaxSize, or its first record is older
// than MaxAge, it is renamed to STEM-YYYYMMDDTHHMMSSZ-SEQ.EXT (SEQ: its
// first record; the time: the rotation's) and a new file started; the new
// file's first record chains to the last record of the old one, so the
// chain spans files. At most MaxFiles rotated files are kept; the oldest
// are deleted. The disk used is bounded by (MaxFiles+1) * MaxSize.
//
// Opening an existing log resumes its chain from the last line of the
// live file (or of the newest rotated file when the live one is empty).
// If that tail does not check out (an incomplete last line after a crash,
// a line that does not parse, a last record that does not chain to the
// one before it) the file is moved aside under a rotated name, and the new
// file begins with an audit.recovered record that says what was found and
// chains to the last intact record: the log never silently continues a
// broken chain. Every open writes an audit.opened record. After a write
// error the writer closes the file, counts what it could not write, and
// reopens the same way a second later.
//
// # Aggregation
//
// Under attack the log must stay readable and the disk must not fill. An
// event identical to one written less than Window ago (same kind,
// listener, remote address without the port, and reason) is counted, not
// written; when the window ends one audit.suppressed record gives the
// count and the key. At most MaxKeys windows are tracked. On top, at most
// MaxPerSecond events are written per second; the rest are counted by kind
// and summarized when the second ends. Configuration and admin events
// (config.*, admin.action) are never collapsed or capped. An auth-failure
// flood therefore yields at most MaxPerSecond records a second plus their
// summaries, and every event is either written or counted in exactly one
// summary.
//
// The writer writes the fields it is given; callers must never put a
// secret in an Event (see package audit). It writes no payloads.
package auditlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

// Defaults for the zero Options fields.
const (
	DefaultMaxSize      = 64 << 20
	DefaultMaxFiles     = 10
	DefaultWindow       = time.Second
	DefaultMaxPerSecond = 1000
	DefaultMaxKeys      = 4096
	DefaultQueueSize    = 4096
)

// noReason is the reason name of records without a reason (code 0).
var noReason = packet.ReasonCode(0).String()

// maxBatch bounds the events one batch takes from the queue.
const maxBatch = 1024

// retryAfter is how long the writer waits before reopening after a write
// error.
const retryAfter = time.Second

// Options configure a Log. Only Path is required.
type Options struct {
	// Path is the live file, e.g. /var/lib/moat/audit/audit.log.
	Path string
	// MaxSize rotates the live file before a record would make it larger,
	// in bytes. 0: DefaultMaxSize.
	MaxSize int64
	// MaxAge rotates the live file once its first record is this old.
	// 0: no rotation by age.
	MaxAge time.Duration
	// MaxFiles is how many rotated files are kept; older ones are deleted.
	// 0: DefaultMaxFiles; negative: keep all (the disk is then unbounded).
	MaxFiles int
	// Window is how long identical events are collapsed after the first.
	// 0: DefaultWindow.
	Window time.Duration
	// MaxPerSecond caps the events written per second. 0:
	// DefaultMaxPerSecond.
	MaxPerSecond int
	// MaxKeys bounds the collapsing windows open at once. 0:
	// DefaultMaxKeys.
	MaxKeys int
	// QueueSize bounds the events waiting for the writer. 0:
	// DefaultQueueSize.
	QueueSize int
	// Syslog, when set, also sends every record to a syslog server.
	Syslog *SyslogOptions
	// Clock is the time source for records without a time, windows, the
	// rate cap and rotation by age (default time.Now); tests inject one.
	// It should not go backwards.
	Clock func() time.Time
	// Logger receives the log's own problems (write errors, syslog
	// failures), once per episode. nil: discarded.
	Logger *slog.Logger

	// openFile opens the live file (tests inject write errors).
	openFile func(name string, flag int, perm os.FileMode) (logFile, error)
}

// logFile is what the writer needs of the live file.
type logFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
	Chmod(mode os.FileMode) error
}

func openOSFile(name string, flag int, perm os.FileMode) (logFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("audit log closed")

// Stats are the log's counters, as a snapshot.
type Stats struct {
	// Seq is the seq of the last record written.
	Seq uint64
	// Written counts records written to the file (summaries included).
	Written uint64
	// Collapsed counts events folded into a summary (repeats, rate cap).
	Collapsed uint64
	// Dropped counts events dropped because the queue was full.
	Dropped uint64
	// Lost counts records that could not be written (write errors).
	Lost uint64
	// Invalid counts events refused for their kind.
	Invalid uint64
	// SyslogSent and SyslogDropped count records sent to syslog and
	// records that could not be (queue full, connection down).
	SyslogSent, SyslogDropped uint64
}

// loss causes, reported as audit.suppressed records.
const (
	lossQueue = iota
	lossSyslog
	lossWrite
	lossInvalid
	nLoss
)

var lossDetail = [nLoss]string{
	lossQueue:   "queue full: events dropped before they reached the log",
	lossSyslog:  "syslog: records written here but not delivered to syslog",
	lossWrite:   "write failed: records that could not be written",
	lossInvalid: "invalid: events refused for an empty, malformed or reserved kind",
}

type loss struct {
	pending uint64
	last    time.Time // last report
}

// lineMeta describes one line waiting in the batch buffer.
type lineMeta struct {
	end  int // offset after its newline
	seq  uint64
	kind audit.Kind
	time time.Time
}

// Log is the audit log. Record, Flush, Stats and Close are safe for
// concurrent use; everything else belongs to the writer goroutine.
type Log struct {
	o     Options
	nm    naming
	clock func() time.Time
	log   *slog.Logger
	sys   *syslogSender // nil without syslog

	ch        chan audit.Event
	flushReq  chan chan error
	quit      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	queueDrops                                  atomic.Uint64 // not yet reported
	seq, written, collapsed, dropped, lost, bad atomic.Uint64

	// Writer state.
	f         logFile // nil while broken
	err       error   // the write error that broke the file
	retryAt   time.Time
	size      int64     // bytes in the live file, the batch included
	fileFirst uint64    // seq of the live file's first record
	fileStart time.Time // when its first record was written; zero: none yet
	pos       chainPos  // the last record emitted
	buf       []byte    // the batch
	lines     []lineMeta
	scratch   []byte
	agg       *aggregator
	losses    [nLoss]loss
	now       time.Time // the current step's time
	emitFn    func(audit.Record)
}

var _ audit.Sink = (*Log)(nil)

// Open opens (or creates) the log at o.Path, resumes its chain, writes an
// audit.opened (or audit.recovered) record and starts the writer.
func Open(o Options) (*Log, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	l := &Log{
		o: o, nm: newNaming(o.Path), clock: o.Clock, log: o.Logger,
		ch:       make(chan audit.Event, o.QueueSize),
		flushReq: make(chan chan error),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		agg:      newAggregator(o.Window, o.MaxPerSecond, o.MaxKeys),
	}
	l.emitFn = func(r audit.Record) { l.emit(r) }
	if o.Syslog != nil {
		s, err := newSyslog(*o.Syslog, o.Logger)
		if err != nil {
			return nil, err
		}
		l.sys = s
	}
	if err := os.MkdirAll(l.nm.dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	l.now = l.clock()
	if err := l.openFile(""); err != nil {
		if l.sys != nil {
			l.sys.close()
		}
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if l.sys != nil {
		l.sys.start()
	}
	go l.run()
	return l, nil
}

func (o *Options) fill() error {
	switch {
	case o.Path == "":
		return errors.New("audit log: no path")
	case o.MaxSize < 0 || o.MaxAge < 0 || o.Window < 0 || o.MaxPerSecond < 0 || o.MaxKeys < 0 || o.QueueSize < 0:
		return errors.New("audit log: negative size, age, window or limit")
	}
	o.Path = filepath.Clean(o.Path)
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.MaxPerSecond == 0 {
		o.MaxPerSecond = DefaultMaxPerSecond
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.openFile == nil {
		o.openFile = openOSFile
	}
	return nil
}

// Record queues e for the writer and returns at once. When the queue is
// full, or after Close, e is dropped (counted, and reported in the log
// while it is open).
func (l *Log) Record(e audit.Event) {
	if l.closed.Load() {
		return
	}
	select {
	case l.ch <- e:
	default:
		l.queueDrops.Add(1)
		l.dropped.Add(1)
	}
}

// Flush makes the writer take everything queued before the call, write
// the summaries and counts that are due by the clock, and fsync. It
// returns the write error that keeps the file broken, if any.
func (l *Log) Flush() error {
	if l.closed.Load() {
		return ErrClosed
	}
	reply := make(chan error, 1)
	select {
	case l.flushReq <- reply:
	case <-l.done:
		return ErrClosed
	}
	return <-reply
}

// Close writes everything pending (every open summary included) and an
// audit.closed record, syncs and closes the file, and stops syslog after
// sending what it can (at most a few seconds). Events recorded during or
// after Close are not written. It is safe to call more than once.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.quit)
		<-l.done
	})
	return l.closeErr
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	s := Stats{Seq: l.seq.Load(), Written: l.written.Load(), Collapsed: l.collapsed.Load(),
		Dropped: l.dropped.Load(), Lost: l.lost.Load(), Invalid: l.bad.Load()}
	if l.sys != nil {
		s.SyslogSent, s.SyslogDropped = l.sys.sent.Load(), l.sys.dropped.Load()
	}
	return s
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(max(l.o.Window, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case e := <-l.ch:
			l.step()
			l.handle(&e)
			l.drain(maxBatch - 1)
			l.commit()
		case <-tick.C:
			l.step()
			l.commit()
		case reply := <-l.flushReq:
			l.step()
			l.drain(-1)
			l.step()
			l.commit()
			reply <- l.err
		case <-l.quit:
			l.finish()
			return
		}
	}
}

// drain handles up to n queued events (n < 0: all), without waiting.
func (l *Log) drain(n int) {
	for ; n != 0; n-- {
		select {
		case e := <-l.ch:
			l.handle(&e)
		default:
			return
		}
	}
}

// step reads the clock and does the due work: reopening a broken file,
// ending windows, reporting losses, rotating by age.
func (l *Log) step() {
	l.now = l.clock()
	if l.f == nil && !l.now.Before(l.retryAt) {
		if err := l.openFile("writing failed: " + l.err.Error()); err != nil {
			l.fail(err)
		}
	}
	l.agg.expire(l.now, l.emitFn)
	l.reportLosses(false)
	if l.f != nil && l.rotateDue(0) {
		if err := l.rotate(); err != nil {
			l.fail(err)
		}
	}
}

// validKind reports whether a caller's kind is acceptable: dotted
// segments of [a-z0-9_], at most 64 bytes, not under the reserved
// "audit." prefix.
func validKind(k audit.Kind) bool {
	if len(k) == 0 || len(k) > 64 || strings.HasPrefix(string(k), "audit.") {
		return false
	}
	segStart := true
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '.':
			if segStart {
				return false
			}
			segStart = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			segStart = false
		default:
			return false
		}
	}
	return !segStart
}

// handle decides about one event and emits it if it is to be written.
func (l *Log) handle(e *audit.Event) {
	if !validKind(e.Kind) {
		l.bad.Add(1)
		l.losses[lossInvalid].pending++
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now
	}
	if !l.agg.admit(l.now, e) {
		l.collapsed.Add(1)
		return
	}
	l.emit(audit.RecordOf(*e))
}

// reportLosses writes the pending loss counts, each at most once per
// window unless force.
func (l *Log) reportLosses(force bool) {
	if l.f == nil {
		return
	}
	l.losses[lossQueue].pending += l.queueDrops.Swap(0)
	if l.sys != nil {
		l.losses[lossSyslog].pending += l.sys.unreported.Swap(0)
	}
	for i := range l.losses {
		ls := &l.losses[i]
		if ls.pending == 0 || !(force || ls.last.IsZero() || expired(l.now, ls.last, l.o.Window)) {
			continue
		}
		n := ls.pending
		ls.pending, ls.last = 0, l.now
		l.emit(audit.Record{Time: l.now, Kind: audit.Suppressed, Count: n, Detail: lossDetail[i],
			ReasonName: noReason})
	}
}

// emit appends r to the batch as the chain's next record, rotating first
// when the line would overflow the file.
func (l *Log) emit(r audit.Record) {
	if l.f == nil {
		l.lost.Add(1)
		l.losses[lossWrite].pending++
		return
	}
	r.Limit()
	r.Seq, r.Prev = l.pos.seq+1, l.pos.hash
	l.scratch = r.AppendJSON(l.scratch[:0])
	if l.rotateDue(int64(len(l.scratch)) + 1) {
		if err := l.rotate(); err != nil {
			l.fail(err)
			l.lost.Add(1)
			l.losses[lossWrite].pending++
			return
		}
	}
	l.buf = append(append(l.buf, l.scratch...), '\n')
	l.lines = append(l.lines, lineMeta{end: len(l.buf), seq: r.Seq, kind: r.Kind, time: r.Time})
	l.pos = chainPos{seq: r.Seq, hash: audit.LineHash(l.scratch)}
	l.size += int64(len(l.scratch)) + 1
	if l.fileStart.IsZero() {
		l.fileStart = l.now
	}
}

// rotateDue reports whether the live file is to be rotated before a line
// of n bytes (0: by age only).
func (l *Log) rotateDue(n int64) bool {
	if l.size == 0 {
		return false
	}
	if n > 0 && l.size+n > l.o.MaxSize {
		return true
	}
	return l.o.MaxAge > 0 && !l.fileStart.IsZero() && l.now.Sub(l.fileStart) >= l.o.MaxAge
}

// commit writes the batch and fsyncs, then hands its lines to syslog.
func (l *Log) commit() {
	if len(l.buf) == 0 {
		return
	}
	defer func() {
		l.buf, l.lines = l.buf[:0], l.lines[:0]
		if cap(l.buf) > 1<<20 {
			l.buf = nil
		}
	}()
	if l.f == nil {
		return
	}
	_, err := l.f.Write(l.buf)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.lost.Add(uint64(len(l.lines)))
		l.losses[lossWrite].pending += uint64(len(l.lines))
		l.fail(err)
		return
	}
	l.written.Add(uint64(len(l.lines)))
	l.seq.Store(l.pos.seq)
	if l.sys != nil {
		start := 0
		for _, m := range l.lines {
			l.sys.send(m, l.buf[start:m.end-1])
			start = m.end
		}
	}
}

// fail marks the file broken after a write error; the writer reopens it
// after retryAfter. The chain position is re-read from the disk then.
func (l *Log) fail(err error) {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if l.err == nil {
		l.log.Error("audit log: writing failed; records are counted and lost until it recovers",
			"path", l.o.Path, "error", err)
	}
	l.err = err
	l.retryAt = l.now.Add(retryAfter)
	l.size = 0
}

// rotate commits the batch, renames the live file to its rotated name,
// starts a new one and prunes old files.
func (l *Log) rotate() error {
	l.commit()
	if l.f == nil {
		return l.err
	}
	name, err := l.nm.free(l.fileFirst, l.now)
	if err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		l.f = nil
		return err
	}
	l.f = nil
	if err := os.Rename(l.o.Path, name); err != nil {
		return err
	}
	f, err := l.o.openFile(l.o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	syncDir(l.nm.dir)
	l.f, l.size, l.fileFirst, l.fileStart = f, 0, l.pos.seq+1, time.Time{}
	if err := l.nm.prune(l.o.MaxFiles); err != nil {
		l.log.Warn("audit log: removing old files", "error", err)
	}
	return nil
}

// openFile opens the live file and resumes the chain, moving a damaged
// file aside; it writes an audit.opened record, or audit.recovered with
// why and what it found.
func (l *Log) openFile(why string) error {
	st, err := inspect(l.o.Path)
	if err != nil {
		return err
	}
	pos := st.pos
	if st.size == 0 || (st.damage != "" && st.firstSeq == 0) {
		if pos, err = l.rotatedTail(); err != nil {
			return err
		}
	}
	if st.damage != "" {
		first := st.firstSeq
		if first == 0 {
			first = pos.seq + 1
		}
		name, err := l.nm.free(first, l.now)
		if err != nil {
			return err
		}
		if err := os.Rename(l.o.Path, name); err != nil {
			return err
		}
		syncDir(l.nm.dir)
		if why != "" {
			why += "; "
		}
		why += fmt.Sprintf("%s: %s; the chain continues from seq %d; the file was moved to %s",
			filepath.Base(l.o.Path), st.damage, pos.seq, filepath.Base(name))
		st = fileState{}
	}
	f, err := l.o.openFile(l.o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	syncDir(l.nm.dir)
	l.f, l.err, l.size, l.pos = f, nil, st.size, pos
	l.fileFirst, l.fileStart = st.firstSeq, st.firstTime
	if st.size == 0 {
		l.fileFirst, l.fileStart = pos.seq+1, time.Time{}
	}
	r := audit.Record{Time: l.now, Kind: audit.LogOpened, ReasonName: noReason,
		Detail: "opened; the chain resumes after seq " + strconv.FormatUint(pos.seq, 10)}
	if pos.seq == 0 {
		r.Detail = "opened; a new chain starts"
	}
	if why != "" {
		r.Kind, r.Detail = audit.LogRecovered, why
		l.log.Warn("audit log: recovered", "path", l.o.Path, "detail", why)
	}
	l.emit(r)
	l.commit()
	if l.f == nil {
		return l.err
	}
	return nil
}

// rotatedTail returns where the newest rotated file's chain ends.
func (l *Log) rotatedTail() (chainPos, error) {
	files, err := l.nm.list()
	if err != nil {
		return chainPos{}, err
	}
	for i := len(files) - 1; i >= 0; i-- {
		st, err := inspect(files[i].path)
		if err != nil {
			return chainPos{}, err
		}
		if st.firstSeq != 0 {
			return st.pos, nil
		}
	}
	return freshChain, nil
}

// finish is the writer's last step on Close.
func (l *Log) finish() {
	l.step()
	l.drain(-1)
	l.now = l.clock()
	l.agg.flush(l.now, l.emitFn)
	l.reportLosses(true)
	l.emit(audit.Record{Time: l.now, Kind: audit.LogClosed, ReasonName: noReason,
		Detail: "closed cleanly"})
	l.commit()
	if l.sys != nil {
		l.sys.close()
	}
	if l.f != nil {
		if err := l.f.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.f = nil
	}
	l.closeErr = l.err
}
