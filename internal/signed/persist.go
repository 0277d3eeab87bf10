package signed

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/moatmq/moat/internal/binread"
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
	r := stateReader{binread.New(state, errReplayState)}
	if r.Byte() != replayStateVersion {
		return errReplayState
	}
	keep := r.int()
	windows := make(map[replayKey]window)
	for n := r.Count(); n > 0 && r.Err() == nil; n-- {
		k := r.key()
		w := window{epoch: r.Uvarint(), top: r.Uvarint(), bits: r.Uvarint(), lastIat: r.Varint()}
		windows[k] = w
	}
	var nonces []nonceEntry
	for n := r.Count(); n > 0 && r.Err() == nil; n-- {
		e := nonceEntry{key: nonceKey{replayKey: r.key()}}
		copy(e.key.nonce[:], r.Raw(NonceSize))
		e.expires = r.Varint()
		nonces = append(nonces, e)
	}
	if r.End() != nil {
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
type stateReader struct{ binread.Reader }

// int reads a uvarint small enough for an int32.
func (r *stateReader) int() int64 { return int64(r.Max(math.MaxInt32)) }

func (r *stateReader) key() replayKey {
	id := string(r.Raw(r.Uvarint()))
	kid := string(r.Raw(r.Uvarint()))
	return replayKey{identity: id, kid: kid}
}
