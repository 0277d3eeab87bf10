package broker_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// TestIdleConnectionsHaveNoWriter: an idle connection holds one goroutine
// (its reader), not two: the writer starts when something is queued and
// ends once the queue is empty, and a connection that was idle still gets
// what is sent to it, in order.
func TestIdleConnectionsHaveNoWriter(t *testing.T) {
	addr, _ := startBroker(t, broker.Options{})
	const n = 40
	base := runtime.NumGoroutine()
	clients := make([]*rawClient, n)
	for i := range clients {
		c := dial(t, addr, v5(fmt.Sprintf("idle-%d", i)))
		if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		clients[i] = c
	}
	// n readers; n writers would double it. A little slack for the
	// runtime's own goroutines.
	poll.Until(t, 5*time.Second, "one goroutine per idle connection", func() bool {
		return runtime.NumGoroutine()-base <= n+5
	})

	sub, pub := clients[0], clients[1]
	sub.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "idle/t", QoS: 1}}}, packet.V5)
	if _, ok := sub.read(t, packet.V5).(*packet.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	for round := range 3 { // the writers end between rounds
		for i := range 5 {
			pub.send(t, &packet.Publish{QoS: 1, PacketID: uint16(round*5 + i + 1), Topic: "idle/t",
				Payload: []byte{byte(round), byte(i)}}, packet.V5)
		}
		for i := range 5 {
			if ack, ok := pub.read(t, packet.V5).(*packet.Puback); !ok || ack.PacketID != uint16(round*5+i+1) {
				t.Fatalf("round %d: want PUBACK %d, got %v", round, round*5+i+1, ack)
			}
			p, ok := sub.read(t, packet.V5).(*packet.Publish)
			if !ok || p.Payload[0] != byte(round) || p.Payload[1] != byte(i) {
				t.Fatalf("round %d: want message %d, got %v", round, i, p)
			}
			sub.send(t, &packet.Puback{PacketID: p.PacketID}, packet.V5)
		}
		poll.Until(t, 5*time.Second, "writers end once their queues are empty", func() bool {
			return runtime.NumGoroutine()-base <= n+5
		})
	}
	// A ping of an idle connection is still answered.
	clients[n-1].send(t, &packet.Pingreq{}, packet.V5)
	if _, ok := clients[n-1].read(t, packet.V5).(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
}
