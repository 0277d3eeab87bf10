package metrics

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Labeled is a set of counters keyed by a label value from a small, fixed
// vocabulary (authentication methods, refusal reasons): a map under a
// lock, for paths that are not hot. At most MaxLabels values are kept;
// further ones are counted under "other", so a caller that passes client
// input cannot grow it.
type Labeled struct {
	mu sync.Mutex
	m  map[string]*atomic.Uint64
}

// MaxLabels bounds the label values of a Labeled.
const MaxLabels = 64

// Add counts n under label.
func (l *Labeled) Add(label string, n uint64) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*atomic.Uint64)
	}
	c, ok := l.m[label]
	if !ok {
		if len(l.m) >= MaxLabels {
			label = "other"
			c, ok = l.m[label]
		}
		if !ok {
			c = new(atomic.Uint64)
			l.m[label] = c
		}
	}
	l.mu.Unlock()
	c.Add(n)
}

// Values copies the counters, sorted by label.
func (l *Labeled) Values() []LabelValue {
	l.mu.Lock()
	out := make([]LabelValue, 0, len(l.m))
	for k, v := range l.m {
		out = append(out, LabelValue{Label: k, Value: v.Load()})
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

// LabelValue is one counter of a Labeled.
type LabelValue struct {
	Label string
	Value uint64
}

// LatencyBuckets are the upper bounds, in seconds, of Histogram.
var LatencyBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram is a lock-free latency histogram over LatencyBuckets, cheap
// enough for the delivery path (a few atomic adds).
type Histogram struct {
	buckets [len(LatencyBuckets) + 1]atomic.Uint64 // the last is +Inf
	sumNs   atomic.Uint64
}

// Observe records one duration; negative ones count as zero.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	s := d.Seconds()
	i := sort.SearchFloat64s(LatencyBuckets[:], s)
	h.buckets[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// Snapshot returns the cumulative counts per bucket (as Prometheus wants
// them), the total count and the sum in seconds.
func (h *Histogram) Snapshot() (cumulative []uint64, count uint64, sum float64) {
	cumulative = make([]uint64, len(LatencyBuckets))
	var acc uint64
	for i := range LatencyBuckets {
		acc += h.buckets[i].Load()
		cumulative[i] = acc
	}
	count = acc + h.buckets[len(LatencyBuckets)].Load()
	return cumulative, count, float64(h.sumNs.Load()) / 1e9
}
