package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear: values below 2*histSub nanoseconds have a
// bucket each; above, every power of two is split into histSub equal
// buckets, so a bucket's width is at most 1/histSub (about 3%) of its
// values. Values above histMax are counted in the last bucket. The size is
// fixed (histBuckets counters, 9 KiB) whatever the number of samples.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histMaxBits = 40 // 2^40 ns, about 18 minutes
	histMax     = 1<<histMaxBits - 1
	histBuckets = (histMaxBits - histSubBits + 1) * histSub
)

// Histogram counts durations in log-linear buckets. Its memory is fixed
// (about 9 KiB); quantiles are exact to within one bucket, about 3% of the
// value. The zero value is empty and ready to use. A Histogram is not safe
// for concurrent use: each receiver owns one, and they are merged at the
// end.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max int64
}

// histIndex returns the bucket of v (0 <= v <= histMax).
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	return shift*histSub + int(v>>shift)
}

// histBounds returns the smallest and largest value of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	shift := i/histSub - 1
	m := uint64(i - shift*histSub)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one duration; negative durations count as 0 and durations
// beyond about 18 minutes as that bound.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if v > histMax {
		v = histMax
	}
	h.counts[histIndex(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count reports the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max reports the largest sample (exact), 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min reports the smallest sample (exact), 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean reports the mean of the samples, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile reports the value below which a fraction q (0..1) of the
// samples fall: the middle of the bucket holding that sample, clamped to
// the exact minimum and maximum (the maximum itself for the last sample).
// It is 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histBounds(i)
			mid := int64(lo + (hi-lo)/2)
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
