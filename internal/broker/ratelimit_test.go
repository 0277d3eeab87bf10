package broker_test

import (
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
)

// A client over its publish rate is slowed down (back-pressure), and
// loses nothing: every message is acknowledged.
func TestPublishRateBackpressure(t *testing.T) {
	m := &metrics.Metrics{}
	addr, _ := startBrokerWith(t, broker.Options{Metrics: m}, func(l *broker.Limits) {
		l.Publish = broker.PublishLimits{Rate: 50, Burst: 5, Sustain: time.Minute}
	})
	c := dial(t, addr, v5("fast"))
	c.read(t, packet.V5)
	const n = 30
	for i := range n {
		c.send(t, &packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("x")}, packet.V5)
	}
	for i := range n {
		if ack, ok := c.read(t, packet.V5).(*packet.Puback); !ok || ack.PacketID != uint16(i+1) {
			t.Fatalf("PUBACK %d: %v", i+1, ack)
		}
	}
	// The burst passes; most of the rest waited (some may have come after
	// a refill).
	if got := m.Throttled.Load(); got < n/2 {
		t.Fatalf("%d publishes throttled, want most of the %d beyond the burst", got, n-5)
	}
}

// A client that stays over its rate longer than Sustain is disconnected
// with 0x96; over its identity's rate, with 0x97. Both are audited.
func TestPublishRateSustainedDisconnects(t *testing.T) {
	byUser := authFunc(func(r *auth.Request) auth.Result {
		return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: r.Username, Method: "test"}}
	})
	for _, tc := range []struct {
		name   string
		limits broker.PublishLimits
		want   packet.ReasonCode
	}{
		{"connection", broker.PublishLimits{Rate: 20, Burst: 1, Sustain: 200 * time.Millisecond}, packet.MessageRateTooHigh},
		{"bytes", broker.PublishLimits{BytesRate: 200, BytesBurst: 100, Sustain: 200 * time.Millisecond}, packet.MessageRateTooHigh},
		{"identity", broker.PublishLimits{IdentityRate: 20, IdentityBurst: 1, Sustain: 200 * time.Millisecond}, packet.QuotaExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			addr, _ := startBrokerWith(t, broker.Options{Auth: auth.Chain{byUser}, Audit: rec}, func(l *broker.Limits) {
				l.Publish = tc.limits
			})
			cp := v5("flooder")
			cp.Username, cp.UsernameFlag = "device-1", true
			c := dial(t, addr, cp)
			c.read(t, packet.V5)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf, _ := packet.Append(nil, &packet.Publish{Topic: "t", Payload: make([]byte, 50)}, packet.V5)
				for {
					if _, err := c.nc.Write(buf); err != nil {
						return
					}
				}
			}()
			for {
				pk := c.read(t, packet.V5)
				if d, ok := pk.(*packet.Disconnect); ok {
					if d.ReasonCode != tc.want {
						t.Fatalf("DISCONNECT %v, want %v", d.ReasonCode, tc.want)
					}
					break
				}
			}
			c.nc.Close()
			<-done
			if !rec.has(audit.RateLimited, tc.want) {
				t.Fatal("the disconnect is not audited")
			}
		})
	}
}
