package broker

import (
	"context"
	"runtime/metrics"
	"time"

	mmetrics "github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
)

// The memory budget: above it, new connections are refused with CONNACK
// 0x89 (server busy) and QoS 0 deliveries are shed (counted as
// memory_budget drops), so that the broker keeps serving the clients it
// has instead of being killed for memory. Memory is what the Go runtime
// holds from the system and has not released, sampled periodically.

// memorySamples are read at each check.
var memorySamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// MemoryInUse reports the memory the process holds from the system
// (Go's view, excluding memory returned to the system).
func MemoryInUse() uint64 {
	s := make([]metrics.Sample, len(memorySamples))
	copy(s, memorySamples)
	metrics.Read(s)
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}

// WatchMemory checks the memory in use against budget every interval
// until ctx ends, setting the broker's over-budget state. A zero budget
// does nothing.
func (b *Broker) WatchMemory(ctx context.Context, budget uint64, interval time.Duration) {
	if budget == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		over := MemoryInUse() > budget
		if over != b.memOver.Load() {
			b.memOver.Store(over)
			if over {
				b.log.Warn("memory budget exceeded: refusing new connections (0x89), shedding QoS 0", "budget", budget)
			} else {
				b.log.Info("memory back under budget", "budget", budget)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-b.quit:
			return
		case <-t.C:
		}
	}
}

// OverMemoryBudget reports whether the last check found the memory
// budget exceeded.
func (b *Broker) OverMemoryBudget() bool { return b.memOver.Load() }

// memoryRefusal is the CONNACK reason for a new connection while over the
// budget, or 0.
func (b *Broker) memoryRefusal() packet.ReasonCode {
	if b.memOver.Load() {
		return packet.ServerBusy
	}
	return 0
}

// shedQoS0 reports whether a QoS 0 delivery is to be dropped for memory,
// counting it.
func (b *Broker) shedQoS0() bool {
	if b.memOver.Load() {
		b.metrics.Drop(mmetrics.DropMemory)
		return true
	}
	return false
}
