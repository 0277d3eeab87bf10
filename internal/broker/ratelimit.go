package broker

import (
	"fmt"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

// PublishLimits bound what clients publish, per connection and per
// identity (all its connections together). A zero rate means no limit. A
// client over a limit is slowed down first: its connection is not read
// until it is back within the rate, so its TCP window fills and it waits
// (back-pressure). A client that stays over a limit, throttled without a
// break for longer than Sustain, is disconnected: DISCONNECT 0x96
// (message rate too high) for its connection's limits, 0x97 (quota
// exceeded) for its identity's.
type PublishLimits struct {
	Rate, Burst                 float64 // PUBLISH packets per second, per connection
	BytesRate, BytesBurst       float64 // PUBLISH bytes per second, per connection
	IdentityRate, IdentityBurst float64 // PUBLISH packets per second, per identity
	Sustain                     time.Duration
}

// SetPublishLimits replaces the publish limits; connections apply them
// from their next PUBLISH.
func (b *Broker) SetPublishLimits(p PublishLimits) {
	b.pubLim.Store(&p)
}

// throttle applies the publish limits to a PUBLISH of size bytes: it
// waits out a debt, or fails when the client has been over a limit for
// longer than Sustain.
func (c *conn) throttle(size int) error {
	p := c.b.pubLim.Load()
	if p == nil || (p.Rate <= 0 && p.BytesRate <= 0 && p.IdentityRate <= 0) {
		return nil
	}
	now := time.Now()
	wait := max(c.pubMsgs.Take(now, 1, p.Rate, p.Burst), c.pubBytes.Take(now, float64(size), p.BytesRate, p.BytesBurst))
	var idWait time.Duration
	if c.idBucket != nil && p.IdentityRate > 0 {
		idWait = c.idBucket.Take(now, 1, p.IdentityRate, p.IdentityBurst)
	}
	w := max(wait, idWait)
	if w <= 0 {
		c.throttled = 0 // back within every rate
		return nil
	}
	c.throttled += w
	if p.Sustain > 0 && c.throttled > p.Sustain {
		code, which := packet.MessageRateTooHigh, "the connection's publish rate"
		if idWait > wait {
			code, which = packet.QuotaExceeded, "the identity's publish rate"
		}
		why := fmt.Sprintf("over %s for more than %s", which, p.Sustain)
		c.b.record(audit.Event{Kind: audit.RateLimited, Listener: c.info.Listener, Remote: c.info.Remote,
			ClientID: c.clientID, Identity: c.identityName(), Reason: code, Detail: why})
		return fail(code, why)
	}
	c.b.metrics.Throttled.Add(1)
	c.b.pause(w)
	return nil
}

// acquireIdentityBucket shares the identity's publish bucket with its
// other connections; releaseIdentityBucket gives it back.
func (c *conn) acquireIdentityBucket(name string) {
	c.idKey = name
	c.idBucket = c.b.idBuckets.Acquire(name)
}

func (c *conn) releaseIdentityBucket() {
	if c.idBucket != nil {
		c.b.idBuckets.Release(c.idKey)
		c.idBucket = nil
	}
}
