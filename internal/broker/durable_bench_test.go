package broker_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
)

// BenchmarkPersistentQoS1 measures QoS 1 messages from publishers to
// subscribers with persistent sessions (session expiry 1 h), in pairs, with
// the store in memory, strict and relaxed mode, alternately in one run. In
// the durable modes every message is written to the store (enqueued) and
// deleted again (at the subscriber's PUBACK); in strict mode the
// publisher's PUBACK waits for the disk.
//
//	go test -run '^$' -bench PersistentQoS1 -benchtime 20000x -count 3 ./internal/broker/
func BenchmarkPersistentQoS1(b *testing.B) {
	for _, pairs := range []int{1, 16} {
		for _, mode := range []string{"memory", "strict", "relaxed"} {
			b.Run(fmt.Sprintf("pairs%d/%s", pairs, mode), func(b *testing.B) {
				addr, _ := testutil.Start(b, func(c *config.Config) { c.Store.Mode = mode })
				benchPersistentPairs(b, addr, pairs)
			})
		}
	}
}

func benchPersistentPairs(b *testing.B, addr string, pairs int) {
	per := max(b.N/pairs, 1)
	type pair struct{ pub, sub *rawClient }
	ps := make([]pair, pairs)
	for i := range ps {
		sub := dialRawSession(b, addr, fmt.Sprintf("psub%d", i), 3600)
		sub.subscribe(b, fmt.Sprintf("p/%d", i), 1)
		ps[i] = pair{pub: dialRaw(b, addr, fmt.Sprintf("ppub%d", i)), sub: sub}
	}
	payload := make([]byte, 64)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, 3*pairs)
	for i, p := range ps {
		acked := make(chan struct{}, benchWindow)
		for range benchWindow {
			acked <- struct{}{}
		}
		wg.Add(3)
		go func() { // publisher
			defer wg.Done()
			topic := fmt.Sprintf("p/%d", i)
			for n := range per {
				if len(acked) == 0 {
					if err := p.pub.w.Flush(); err != nil {
						errs <- err
						return
					}
				}
				<-acked
				buf, _ := packet.Append(nil, &packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(n%60000 + 1), Payload: payload}, packet.V5)
				if _, err := p.pub.w.Write(buf); err != nil {
					errs <- err
					return
				}
			}
			if err := p.pub.w.Flush(); err != nil {
				errs <- err
			}
		}()
		go func() { // the publisher's PUBACKs
			defer wg.Done()
			for range per {
				pk, err := p.pub.r.ReadPacket(packet.V5)
				if err != nil {
					errs <- err
					return
				}
				if _, ok := pk.(*packet.Puback); !ok {
					errs <- fmt.Errorf("publisher got %T", pk)
					return
				}
			}
		}()
		go func() { // subscriber
			defer wg.Done()
			for n := range per {
				pk, err := p.sub.r.ReadPacket(packet.V5)
				if err != nil {
					errs <- err
					return
				}
				pub, ok := pk.(*packet.Publish)
				if !ok {
					errs <- fmt.Errorf("subscriber got %T", pk)
					return
				}
				// The publisher runs at most benchWindow messages ahead of
				// deliveries, so that no queue bound of the broker sheds.
				acked <- struct{}{}
				buf, _ := packet.Append(nil, &packet.Puback{PacketID: pub.PacketID}, packet.V5)
				if _, err := p.sub.w.Write(buf); err != nil {
					errs <- err
					return
				}
				if p.sub.r.Buffered() == 0 || n == per-1 {
					if err := p.sub.w.Flush(); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(per*pairs)/b.Elapsed().Seconds(), "msgs/s")
}

// dialRawSession is dialRaw with a persistent session.
func dialRawSession(tb testing.TB, addr, id string, expiry uint32) *rawClient {
	tb.Helper()
	cp := &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, ClientID: id}
	cp.Properties.SessionExpiryInterval = expiry
	cp.Properties.Set(packet.PropSessionExpiryInterval)
	return dialConnect(tb, addr, cp)
}
