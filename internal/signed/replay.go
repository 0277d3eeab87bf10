package signed

import "sync"

// WindowSize is the width of a sequence window: a sequence number up to
// WindowSize-1 below the highest one seen in the epoch is accepted once.
const WindowSize = 64

// replayKey is one key of one identity. Its strings are those of the
// registry's Key, so building it does not allocate.
type replayKey struct{ identity, kid string }

// window is the sequence state of one key (RFC 4303 section 3.4.3's
// anti-replay window): bit i of bits is set when seq top-i was accepted in
// epoch. lastIat is the latest issue time accepted: once the clock is past
// lastIat plus the skew, nothing the window holds can pass the freshness
// check again, so the window may be forgotten.
type window struct {
	epoch, top, bits uint64
	lastIat          int64
}

// admit applies (epoch, seq) to w and reports whether it is new.
func (w *window) admit(epoch, seq uint64, iat int64) Reason {
	switch {
	case epoch < w.epoch:
		return ReasonTooOld
	case epoch > w.epoch:
		*w = window{epoch: epoch, top: seq, bits: 1}
	case seq > w.top:
		if d := seq - w.top; d >= WindowSize {
			w.bits = 1
		} else {
			w.bits = w.bits<<d | 1
		}
		w.top = seq
	default:
		d := w.top - seq
		if d >= WindowSize {
			return ReasonTooOld
		}
		if w.bits&(1<<d) != 0 {
			return ReasonReplayed
		}
		w.bits |= 1 << d
	}
	w.lastIat = max(w.lastIat, iat)
	return OK
}

type nonceKey struct {
	replayKey
	nonce [NonceSize]byte
}

// nonceEntry is in the expiry heap: the nonce may be forgotten once the
// clock is past expires (its issue time plus the skew kept).
type nonceEntry struct {
	key     nonceKey
	expires int64
}

// replayStore holds the sequence windows and the nonce cache of every key.
// mu guards every field; it is a leaf lock, held for O(log n) per message
// and O(n) for a sweep, at most once a second.
type replayStore struct {
	mu      sync.Mutex
	windows map[replayKey]window
	nonces  map[nonceKey]struct{}
	heap    []nonceEntry // min-heap on expires
	perKey  map[replayKey]int
	// keep is the skew, in seconds, that state is kept for: the largest
	// skew of any policy the verifier has had, so that a reload to a larger
	// skew cannot revive a message whose state a smaller one let go.
	keep      int64
	lastSweep int64
}

func newReplayStore() *replayStore {
	return &replayStore{
		windows: make(map[replayKey]window),
		nonces:  make(map[nonceKey]struct{}),
		perKey:  make(map[replayKey]int),
	}
}

func (s *replayStore) raiseKeep(skew int64) {
	s.mu.Lock()
	s.keep = max(s.keep, skew)
	s.mu.Unlock()
}

// admitSeq checks and records (epoch, seq) for k at Unix time now. At the
// bound it first forgets dead windows (once a second at most) and refuses
// if none was.
func (s *replayStore) admitSeq(k replayKey, epoch, seq uint64, iat, now int64, maxWindows int) Reason {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.windows[k]
	if !ok {
		if len(s.windows) >= maxWindows {
			s.sweepWindowsLocked(now)
			if len(s.windows) >= maxWindows {
				return ReasonReplayFull
			}
		}
		s.windows[k] = window{epoch: epoch, top: seq, bits: 1, lastIat: iat}
		return OK
	}
	if why := w.admit(epoch, seq, iat); why != OK {
		return why
	}
	s.windows[k] = w
	return OK
}

// sweepWindowsLocked forgets the windows nothing fresh can match, at most
// once per second of now.
func (s *replayStore) sweepWindowsLocked(now int64) {
	if now == s.lastSweep {
		return
	}
	s.lastSweep = now
	for k, w := range s.windows {
		if now > w.lastIat+s.keep {
			delete(s.windows, k)
		}
	}
}

// admitNonce checks and records a nonce for k. Expired nonces are forgotten
// first; a full cache, or a key at its share, refuses.
func (s *replayStore) admitNonce(k replayKey, nonce []byte, iat, now int64, maxNonces, maxPerKey int) Reason {
	nk := nonceKey{replayKey: k}
	copy(nk.nonce[:], nonce)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireNoncesLocked(now)
	if _, seen := s.nonces[nk]; seen {
		return ReasonReplayed
	}
	if len(s.nonces) >= maxNonces || s.perKey[k] >= maxPerKey {
		return ReasonReplayFull
	}
	s.nonces[nk] = struct{}{}
	s.perKey[k]++
	s.push(nonceEntry{key: nk, expires: iat + s.keep})
	return OK
}

func (s *replayStore) expireNoncesLocked(now int64) {
	for len(s.heap) > 0 && s.heap[0].expires < now {
		e := s.pop()
		delete(s.nonces, e.key)
		if s.perKey[e.key.replayKey]--; s.perKey[e.key.replayKey] <= 0 {
			delete(s.perKey, e.key.replayKey)
		}
	}
}

// sweep forgets every window and nonce that can no longer match.
func (s *replayStore) sweep(now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSweep = now - 1
	s.sweepWindowsLocked(now)
	s.expireNoncesLocked(now)
}

func (s *replayStore) push(e nonceEntry) {
	s.heap = append(s.heap, e)
	h := s.heap
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].expires <= h[i].expires {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (s *replayStore) pop() nonceEntry {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = nonceEntry{}
	h = h[:last]
	for i := 0; ; {
		small := i
		if l := 2*i + 1; l < len(h) && h[l].expires < h[small].expires {
			small = l
		}
		if r := 2*i + 2; r < len(h) && h[r].expires < h[small].expires {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	s.heap = h
	return top
}

// Stats is a snapshot of the replay store, for metrics.
type Stats struct {
	Windows int // sequence windows held
	Nonces  int // nonces held
}

func (s *replayStore) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Windows: len(s.windows), Nonces: len(s.nonces)}
}
