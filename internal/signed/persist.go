package signed

import (
	"encoding/binary"
	"errors"
	"math"
)

// The replay state can be saved at a clean shutdown and loaded at the next
// start, so that signed messages issued shortly before a planned restart
// are not refused (ReasonRestart) after it: the saved state refuses their
// replays instead. Only a state saved after every message it covers was
// recorded is sound, and only once: the broker deletes the saved copy
// as it loads it, so that after a crash the restart window applies again.
//
// Encoding (version 1): a version byte, keep (uvarint); the windows: count,
// then identity, kid (uvarint length and bytes), epoch, top, bits
// (uvarint), lastIat (varint); the nonces: count, then identity, kid,
// the nonce (NonceSize bytes) and expires (varint).
const replayStateVersion = 1

var errReplayState = errors.New("signed: malformed replay state")

// ExportReplay returns the verifier's replay state in the encoding above.
func (v *Verifier) ExportReplay() []byte {
	s := v.replay
	s.mu.Lock()
	defer s.mu.Unlock()
	b := []byte{replayStateVersion}
	b = binary.AppendUvarint(b, uint64(s.keep))
	b = binary.AppendUvarint(b, uint64(len(s.windows)))
	for k, w := range s.windows {
		b = appendReplayKey(b, k)
		b = binary.AppendUvarint(b, w.epoch)
		b = binary.AppendUvarint(b, w.top)
		b = binary.AppendUvarint(b, w.bits)
		b = binary.AppendVarint(b, w.lastIat)
	}
	b = binary.AppendUvarint(b, uint64(len(s.heap)))
	for _, e := range s.heap {
		b = appendReplayKey(b, e.key.replayKey)
		b = append(b, e.key.nonce[:]...)
		b = binary.AppendVarint(b, e.expires)
	}
	return b
}

func appendReplayKey(b []byte, k replayKey) []byte {
	b = binary.AppendUvarint(b, uint64(len(k.identity)))
	b = append(b, k.identity...)
	b = binary.AppendUvarint(b, uint64(len(k.kid)))
	return append(b, k.kid...)
}

// ImportReplay adds a state saved by ExportReplay at a clean shutdown and
// lifts the restart window: the state now knows every message accepted
// before. What can no longer match at the verifier's time is dropped; the
// bounds of the policy in force apply at the next message as always. A
// malformed state is an error and changes nothing.
func (v *Verifier) ImportReplay(state []byte) error {
	r := stateReader{b: state}
	if r.byte() != replayStateVersion {
		return errReplayState
	}
	keep := r.int()
	windows := make(map[replayKey]window)
	for n := r.count(); n > 0 && r.err == nil; n-- {
		k := r.key()
		w := window{epoch: r.uvarint(), top: r.uvarint(), bits: r.uvarint(), lastIat: r.varint()}
		windows[k] = w
	}
	var nonces []nonceEntry
	for n := r.count(); n > 0 && r.err == nil; n-- {
		e := nonceEntry{key: nonceKey{replayKey: r.key()}}
		copy(e.key.nonce[:], r.raw(NonceSize))
		e.expires = r.varint()
		nonces = append(nonces, e)
	}
	if r.err != nil || len(r.b) != 0 {
		return errReplayState
	}
	now := v.now().Unix()
	s := v.replay
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keep = max(s.keep, keep)
	for k, w := range windows {
		if now <= w.lastIat+s.keep {
			if cur, ok := s.windows[k]; !ok || cur.epoch < w.epoch {
				s.windows[k] = w
			}
		}
	}
	for _, e := range nonces {
		if e.expires >= now {
			if _, seen := s.nonces[e.key]; !seen {
				s.nonces[e.key] = struct{}{}
				s.perKey[e.key.replayKey]++
				s.push(e)
			}
		}
	}
	v.start.Store(math.MinInt64 / 2) // no restart window: the state is complete
	return nil
}

// stateReader decodes ExportReplay's encoding; the first failure sticks.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail() {
	if r.err == nil {
		r.err = errReplayState
	}
	r.b = nil
}

func (r *stateReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *stateReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) int() int64 {
	v := r.uvarint()
	if v > math.MaxInt32 {
		r.fail()
		return 0
	}
	return int64(v)
}

// count reads an entry count; every entry takes more than a byte, so a
// count beyond what is left is malformed (and never allocated).
func (r *stateReader) count() int {
	v := r.uvarint()
	if v > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *stateReader) raw(n int) []byte {
	if n > len(r.b) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) key() replayKey {
	id := string(r.raw(int(min(r.uvarint(), uint64(len(r.b)+1)))))
	kid := string(r.raw(int(min(r.uvarint(), uint64(len(r.b)+1)))))
	return replayKey{identity: id, kid: kid}
}
