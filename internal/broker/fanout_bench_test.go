package broker_test

import (
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
)

// fanoutWindow is how many messages the publisher may run ahead of the
// average subscriber: well under the default queue of 1,000 messages, so
// that no QoS 0 message is shed.
const fanoutWindow = 16

// BenchmarkFanOut measures one QoS 0 message published by one client and
// delivered to N subscribers of its topic over loopback (an op is one
// published message, so ns/op covers N deliveries). The clients allocate
// nothing per message (the publisher encodes into one buffer, subscribers
// read fixed-size packets into one buffer without decoding), so
// allocs/delivery counts the broker's allocations per forwarded message;
// the goal for QoS 0 is zero in steady state.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers%d", n), func(b *testing.B) { benchFanOut(b, n) })
	}
}

func benchFanOut(b *testing.B, n int) {
	addr, _ := testutil.Start(b, func(c *config.Config) {
		// Every client comes from 127.0.0.1: lift the per-address bounds.
		zero, rate := 0, 0.0
		c.Limits.MaxConnectionsPerAddress = &zero
		c.Limits.ConnectionRatePerAddress = &rate
	})
	p := packet.Publish{Topic: "bench/fanout", Payload: make([]byte, 16)}
	size := len(packet.AppendPublish(nil, &p, packet.V5))

	var delivered atomic.Int64
	errs := make(chan error, n)
	subs := make([]*rawClient, n)
	for i := range subs {
		subs[i] = dialRaw(b, addr, fmt.Sprintf("sub%d", i))
		subs[i].subscribe(b, "bench/#", 0)
	}
	pub := dialRaw(b, addr, "pub")
	// Every subscriber reads exactly want packets of size bytes.
	want := make(chan int, n)
	for _, s := range subs {
		go func() {
			total := <-want
			buf := make([]byte, 16<<10)
			for got := 0; got < total*size; {
				k, err := s.nc.Read(buf[:min(len(buf), total*size-got)])
				if err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					errs <- err
					return
				}
				got += k
				delivered.Add(int64(k))
			}
			errs <- nil
		}()
	}
	for range subs {
		want <- b.N
	}

	var buf []byte
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		buf = packet.AppendPublish(buf[:0], &p, packet.V5)
		if _, err := pub.w.Write(buf); err != nil {
			b.Fatal(err)
		}
		if i%fanoutWindow == fanoutWindow-1 || i == b.N-1 {
			pub.flush(b)
			stall := time.Now().Add(30 * time.Second)
			for int64(i+1-fanoutWindow)*int64(n*size) > delivered.Load() {
				if time.Now().After(stall) {
					b.Fatalf("no progress for 30 s: %d of %d bytes delivered (messages lost?)",
						delivered.Load(), int64(i+1)*int64(n*size))
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	for range subs {
		select {
		case err := <-errs:
			if err != nil {
				b.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			b.Fatalf("timed out: %d of %d bytes delivered", delivered.Load(), int64(b.N)*int64(n*size))
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/deliveries, "allocs/delivery")
}
