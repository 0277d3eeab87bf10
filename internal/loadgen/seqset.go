package loadgen

import "sync/atomic"

// seqPageBits is the number of sequence numbers one page of a seqSet
// covers (8 KiB of bits).
const (
	seqPageBits  = 1 << 16
	seqPageWords = seqPageBits / 64
)

type seqPage [seqPageWords]uint64

// seqSet records which sequence numbers of one publisher one group of
// receivers has seen, so that loss and duplicates are counted exactly.
// Pages are allocated when the first number in their range arrives, so its
// memory follows what was delivered, and it never holds more than limit
// numbers. It is safe for concurrent use: the consumers of a shared
// subscription mark the same set.
type seqSet struct {
	pages []atomic.Pointer[seqPage]
	limit uint32
}

// newSeqSet returns a set for sequence numbers 0..limit-1.
func newSeqSet(limit uint32) *seqSet {
	n := (uint64(limit) + seqPageBits - 1) / seqPageBits
	return &seqSet{pages: make([]atomic.Pointer[seqPage], n), limit: limit}
}

// mark records seq. It reports whether seq was new, and ok false when seq
// is out of range (not recorded).
func (s *seqSet) mark(seq uint32) (fresh, ok bool) {
	if seq >= s.limit {
		return false, false
	}
	slot := &s.pages[seq/seqPageBits]
	p := slot.Load()
	if p == nil {
		p = new(seqPage)
		if !slot.CompareAndSwap(nil, p) {
			p = slot.Load()
		}
	}
	bit := seq % seqPageBits
	mask := uint64(1) << (bit % 64)
	old := atomic.OrUint64(&p[bit/64], mask)
	return old&mask == 0, true
}
