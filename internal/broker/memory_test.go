package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// Over the memory budget, new connections get 0x89 and QoS 0 deliveries
// are shed (counted), while QoS 1 still flows to connected clients; under
// it again, everything is back.
func TestMemoryBudget(t *testing.T) {
	m := &metrics.Metrics{}
	addr, b := startBroker(t, broker.Options{Metrics: m})
	sub := dial(t, addr, v5("sub"))
	sub.read(t, packet.V5)
	sub.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t/#", QoS: 1}}}, packet.V5)
	sub.read(t, packet.V5)

	broker.SetOverMemoryBudgetForTest(b, true)
	late := dial(t, addr, v5("late"))
	if ack := late.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.ServerBusy {
		t.Fatalf("CONNACK %v, want 0x89 over the budget", ack.ReasonCode)
	}
	b.Publish("t/qos0", []byte("shed"), 0, false)
	b.Publish("t/qos1", []byte("kept"), 1, false)
	p, ok := sub.read(t, packet.V5).(*packet.Publish)
	if !ok || p.Topic != "t/qos1" {
		t.Fatalf("got %v, want only the QoS 1 message", p)
	}
	if got := m.Snapshot().Dropped["memory_budget"]; got != 1 {
		t.Fatalf("memory_budget drops %d, want 1", got)
	}

	broker.SetOverMemoryBudgetForTest(b, false)
	again := dial(t, addr, v5("again"))
	if ack := again.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v under the budget", ack.ReasonCode)
	}
}

// WatchMemory sets the state from the real memory in use: a budget of one
// byte is exceeded at once.
func TestWatchMemory(t *testing.T) {
	_, b := startBroker(t, broker.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.WatchMemory(ctx, 1, 10*time.Millisecond)
	poll.Until(t, 5*time.Second, "a one-byte budget is exceeded", b.OverMemoryBudget)
	if broker.MemoryInUse() == 0 {
		t.Fatal("no memory in use reported")
	}
}

// An MQTT 5 keep alive below mqtt.min_keep_alive is raised to it, and
// the client is told in CONNACK (Server Keep Alive); one above it, or 0,
// is left alone.
func TestMinKeepAlive(t *testing.T) {
	addr, _ := startBrokerWith(t, broker.Options{}, func(l *broker.Limits) { l.MinKeepAlive = 30 * time.Second })
	for _, tc := range []struct {
		ka   uint16
		want uint16 // 0: no Server Keep Alive
	}{{1, 30}, {60, 0}, {0, 0}} {
		cp := v5("ka")
		cp.KeepAlive = tc.ka
		c := dial(t, addr, cp)
		ack := c.read(t, packet.V5).(*packet.Connack)
		has := ack.Properties.Has(packet.PropServerKeepAlive)
		if (tc.want == 0 && has) || (tc.want != 0 && (!has || ack.Properties.ServerKeepAlive != tc.want)) {
			t.Errorf("keep alive %d: Server Keep Alive %v %d, want %d", tc.ka, has, ack.Properties.ServerKeepAlive, tc.want)
		}
	}
}
