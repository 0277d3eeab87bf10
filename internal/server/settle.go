package server

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Settling returns the memory of a burst to the system once the broker is
// quiet again. A burst of connections (TLS handshakes, CONNECT exchanges)
// or of password verifications (argon2id allocates 64 MiB per login by
// default) leaves garbage that Go collects only when the heap doubles or
// after two idle minutes, and that it returns to the system slowly after
// that: a broker that just accepted 10,000 idle clients would hold for
// minutes about twice the memory they need. After at least settleBurst
// bytes allocated and then settleQuiet without more than settleTrickle
// allocated per second, the broker runs one collection and hands the free
// memory back (debug.FreeOSMemory). A broker under steady traffic never
// settles; one that is idle settles once per burst. A burst must also be
// half the live heap at least: a collection costs in proportion to the
// live heap, and a large broker hit by small waves of connections would
// otherwise collect far more often than Go would.
const (
	settleBurst   = 32 << 20
	settleQuiet   = 2 * time.Second
	settleTrickle = 1 << 20
	settleTick    = 500 * time.Millisecond
)

// settler decides when to settle from the cumulative bytes allocated,
// sampled every tick.
type settler struct {
	burst   uint64    // bytes allocated since the last settle
	last    uint64    // cumulative bytes at the last sample
	quietAt time.Time // start of the current quiet stretch; zero when busy
}

// observe takes a sample (the cumulative bytes allocated and the live heap
// after the last collection, at now) and tells whether to settle now.
func (st *settler) observe(allocated, live uint64, now time.Time, tick time.Duration) bool {
	delta := allocated - st.last // the first sample counts what start-up allocated
	st.last = allocated
	st.burst += delta
	if float64(delta) > float64(settleTrickle)*tick.Seconds() {
		st.quietAt = time.Time{}
		return false
	}
	if st.quietAt.IsZero() {
		st.quietAt = now
		return false
	}
	if st.burst < max(settleBurst, live/2) || now.Sub(st.quietAt) < settleQuiet {
		return false
	}
	st.burst = 0
	st.quietAt = time.Time{}
	return true
}

// settleMemory samples the bytes allocated every settleTick until ctx ends
// and settles when the settler says so.
func (s *Server) settleMemory(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var st settler
	t := time.NewTicker(settleTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 || sample[1].Value.Kind() != metrics.KindUint64 {
				return // not supported by this runtime
			}
			if st.observe(sample[0].Value.Uint64(), sample[1].Value.Uint64(), now, settleTick) {
				began := time.Now()
				debug.FreeOSMemory()
				s.log.Debug("memory settled after a burst", "took", time.Since(began))
			}
		}
	}
}
