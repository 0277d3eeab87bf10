package disk

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Report is what Check and Recover found.
type Report struct {
	Dir        string
	Generation string // the live generation directory
	Format     uint64
	Encrypted  bool
	KeyID      string // hex; identifies the key without revealing it ("" when clear)
	Bytes      int64  // size of the live generation's files

	// Readable records by kind (for Recover: copied).
	Sessions, Queued, Retained, Inbound int
	// Problems lists the records or key ranges that could not be read, at
	// most maxProblems of them; ProblemCount counts them all.
	Problems     []Problem
	ProblemCount int
}

// Problem is a record (or, for engine failures, a key range) that could
// not be read, and why.
type Problem struct {
	Record string
	Err    string
}

// OK reports whether every record could be read.
func (r *Report) OK() bool { return r.ProblemCount == 0 }

const maxProblems = 1000

func (r *Report) problem(key []byte, err error) {
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		var ce *CorruptError
		if errors.As(err, &ce) {
			r.Problems = append(r.Problems, Problem{Record: ce.Record, Err: ce.Reason})
		} else {
			r.Problems = append(r.Problems, Problem{Record: recordName(key), Err: err.Error()})
		}
	}
}

func (s *Store) describe(r *Report) {
	r.Dir, r.Generation = s.dir, s.gen
	r.Format, _, _ = readFormat(s.eng)
	r.Encrypted = s.seal.encrypted()
	if r.Encrypted {
		r.KeyID = hex.EncodeToString(keyID(s.seal.master))
	}
	r.Bytes, _ = dirSize(filepath.Join(s.dir, s.gen))
}

// Check reads and decrypts every record of the store in dir without
// changing anything, and reports what it found. The error is for a store
// that cannot be checked at all: missing, in use, a wrong key, a newer
// format. Damaged records are in the report (see Recover).
func Check(dir string, key []byte) (*Report, error) {
	o := Options{Dir: dir, Key: key}
	if err := o.check(); err != nil {
		return nil, err
	}
	s, err := openReadOnly(&o)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	defer s.Close()
	r := &Report{}
	s.describe(r)
	if _, _, err := readFormat(s.eng); err != nil {
		r.problem(keyFormat, err)
	}
	snap, err := s.load(r.problem)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	r.Retained = len(snap.Retained)
	for _, c := range snap.Sessions {
		if c.Session != nil {
			r.Sessions++
		}
		r.Queued += len(c.Queue)
		r.Inbound += len(c.Inbound)
	}
	return r, nil
}

// copyRecords copies every readable record of src into dst, re-sealed
// with dst's key, in batches, and syncs dst. Unreadable records go to
// onBad, or with onBad nil stop the copy with an error.
func copyRecords(src, dst *Store, r *Report, onBad func([]byte, error)) error {
	const batchBytes = 4 << 20
	b := &kvBatch{}
	flush := func() error {
		if len(b.ops) == 0 {
			return nil
		}
		err := dst.eng.write(b, false)
		b = &kvBatch{}
		return err
	}
	err := src.scanRecords(onBad, func(k, plain []byte) error {
		// Decode before copying: a record that does not decode is damage,
		// not something to carry into the new store.
		var err error
		switch {
		case strings.HasPrefix(string(k), prefixSession):
			_, err = decodeSession(string(k[len(prefixSession):]), plain)
			r.Sessions++
		case strings.HasPrefix(string(k), prefixQueue):
			if _, _, ok := parseQueueKey(k); !ok {
				return errMalformed
			}
			_, err = decodeMessage(plain)
			r.Queued++
		case strings.HasPrefix(string(k), prefixInbound):
			if _, _, ok := parseInboundKey(k); !ok || len(plain) != 1 || plain[0] != kindInbound {
				return errMalformed
			}
			r.Inbound++
		case strings.HasPrefix(string(k), prefixState):
			if len(plain) == 0 || plain[0] != kindState {
				return errMalformed
			}
		default:
			_, err = decodeMessage(plain)
			r.Retained++
		}
		if err != nil {
			return err
		}
		key := append([]byte(nil), k...)
		b.set(key, dst.seal.seal(nil, key, plain))
		if b.bytes >= batchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = dst.eng.sync()
	}
	return err
}

// Recover copies every readable record of the store in dir into a new
// store in into (which must be missing or empty), encrypted with the same
// key, and reports what it copied and what it could not read. The damaged
// store is left as it is. To put the copy in place, stop the broker, move
// dir aside and move into to dir.
func Recover(dir string, key []byte, into string) (*Report, error) {
	o := Options{Dir: dir, Key: key}
	if err := o.check(); err != nil {
		return nil, err
	}
	if abs(dir) == abs(into) {
		return nil, fmt.Errorf("store %s: recover into a different directory", dir)
	}
	src, err := openReadOnly(&o)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	defer src.Close()
	if entries, err := os.ReadDir(into); len(entries) > 0 || (err != nil && !errors.Is(err, os.ErrNotExist)) {
		if err == nil {
			err = errors.New("not empty; recover into a new directory")
		}
		return nil, fmt.Errorf("store %s: %w", into, err)
	}
	dst, err := Open(Options{Dir: into, Key: key})
	if err != nil {
		return nil, err
	}
	r := &Report{}
	err = copyRecords(src, dst, r, r.problem)
	dst.describe(r)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: copying into %s: %w", dir, into, err)
	}
	r.Bytes, _ = dirSize(filepath.Join(dst.dir, dst.gen))
	return r, nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// RotateKey re-encrypts the store in dir from oldKey to newKey (either may
// be nil: a clear store is encrypted, an encrypted one decrypted). The
// store must not be in use.
//
// It copies every record into a new generation directory beside the live
// one, syncs it, then switches ACTIVE to it atomically and removes the old
// generation. A crash before the switch leaves the store under oldKey (the
// partial copy is removed by the next Open); after it, under newKey. Every
// record must be readable: a damaged store is refused (Recover it first).
func RotateKey(dir string, oldKey, newKey []byte) error {
	o := Options{Dir: dir, Key: oldKey}
	if err := o.check(); err != nil {
		return err
	}
	if newKey != nil && len(newKey) != KeySize {
		return fmt.Errorf("store: the new key must be %d bytes, got %d", KeySize, len(newKey))
	}
	src, err := Open(o)
	if err != nil {
		return err
	}
	defer src.Close()
	next, err := nextGen(dir)
	if err != nil {
		return fmt.Errorf("store %s: %w", dir, err)
	}
	no := Options{Dir: dir, Key: newKey}
	dst, err := openGen(&no, next, true)
	if err != nil {
		return fmt.Errorf("store %s: creating %s: %w", dir, next, err)
	}
	err = copyRecords(src, dst, &Report{}, nil)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = src.Close()
	}
	if err == nil {
		err = writeActive(dir, next)
	}
	if err != nil {
		if live, ok, _ := readActive(dir); ok && live == next {
			return fmt.Errorf("store %s: the key was rotated but syncing the directory failed: %w", dir, err)
		}
		os.RemoveAll(filepath.Join(dir, next))
		return fmt.Errorf("store %s: rotating the key (the store is unchanged, under the old key): %w", dir, err)
	}
	if err := removeStale(dir, next); err != nil {
		return fmt.Errorf("store %s: the key was rotated but removing the old generation failed: %w", dir, err)
	}
	return nil
}

// Backup writes a consistent copy of the open store, every write that
// returned before the call included, to a new store directory into (which
// must not exist), without stopping writers. The copy opens with the same
// key. Its table files are hard links where the file system allows, so it
// costs little space until the store compacts; copy it elsewhere (for
// example with tar) to make it a backup.
func (s *Store) Backup(into string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if _, err := os.Stat(into); !errors.Is(err, os.ErrNotExist) {
		if err == nil {
			err = os.ErrExist
		}
		return fmt.Errorf("store backup %s: %w", into, err)
	}
	if err := os.MkdirAll(into, 0o700); err != nil {
		return fmt.Errorf("store backup: %w", err)
	}
	gen := genName(1)
	err := s.eng.checkpoint(filepath.Join(into, gen))
	if err == nil {
		err = writeActive(into, gen)
	}
	if err != nil {
		os.RemoveAll(into)
		return fmt.Errorf("store %s: backup to %s: %w", s.dir, into, err)
	}
	return nil
}
