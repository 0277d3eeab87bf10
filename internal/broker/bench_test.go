package broker_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
)

// rawClient is a minimal MQTT 5 client on Moat's codec, for benchmarks.
type rawClient struct {
	nc net.Conn
	r  *packet.Reader
	w  *bufio.Writer
}

func dialRaw(tb testing.TB, addr, id string) *rawClient {
	tb.Helper()
	return dialConnect(tb, addr, &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, ClientID: id})
}

// dialConnect connects a benchmark client with cp and checks the CONNACK.
func dialConnect(tb testing.TB, addr string, cp *packet.Connect) *rawClient {
	tb.Helper()
	nc, err := benchDial(addr, benchTLS(tb, nil))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	c := &rawClient{nc: nc, r: packet.NewReader(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
	c.r.SetMaxPacketSize(packet.MaxPacketSize)
	c.write(tb, cp)
	c.flush(tb)
	pk, err := c.r.ReadPacket(packet.V5)
	if err != nil {
		tb.Fatal(err)
	}
	if ack, ok := pk.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		tb.Fatalf("CONNACK: %+v", pk)
	}
	return c
}

func (c *rawClient) write(tb testing.TB, p packet.Packet) {
	buf, err := packet.Append(nil, p, packet.V5)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.w.Write(buf); err != nil {
		tb.Fatal(err)
	}
}

func (c *rawClient) flush(tb testing.TB) {
	if err := c.w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func (c *rawClient) subscribe(tb testing.TB, filter string, qos byte) {
	c.write(tb, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	c.flush(tb)
	pk, err := c.r.ReadPacket(packet.V5)
	if err != nil {
		tb.Fatal(err)
	}
	if _, ok := pk.(*packet.Suback); !ok {
		tb.Fatalf("want SUBACK, got %T", pk)
	}
}

// BenchmarkPublishThroughBroker measures one message published by one
// client, routed, and delivered to one subscriber over loopback. The
// allocs/op figure counts every allocation of the process per message:
// client encode and decode included. With MOAT_BENCH_ADDR=host:port the
// same clients run against an external broker (a separate Moat process, or
// Mosquitto) and allocs/op then counts the clients only; scripts/bench-core
// uses that to compare Moat with Mosquitto in one run.
func BenchmarkPublishThroughBroker(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		for _, size := range []int{16, 1024} {
			b.Run(fmt.Sprintf("qos%d/payload%d", qos, size), func(b *testing.B) {
				benchPublish(b, qos, size)
			})
		}
	}
}

// benchWindow is how far the publisher may run ahead of the subscriber.
const benchWindow = 256

func benchPublish(b *testing.B, qos byte, size int) {
	addr := os.Getenv("MOAT_BENCH_ADDR")
	if addr == "" {
		addr, _ = testutil.Start(b, nil)
	}
	benchPublishAt(b, addr, qos, size)
}

// BenchmarkPublishWithPolicy compares the broker with no ACL policy and
// with a policy of 10,000 rules (per-user and per-group rules, and the one
// that lets the benchmark's clients through), alternately in one run:
//
//	go test -run '^$' -bench PublishWithPolicy -count 5 ./internal/broker/
func BenchmarkPublishWithPolicy(b *testing.B) {
	var rules strings.Builder
	rules.WriteString("version: 1\nrules:\n  - allow: [all]\n    who: [all]\n    topics: [\"bench/#\"]\n")
	for i := range 9999 {
		if i%2 == 0 {
			fmt.Fprintf(&rules, "  - allow: [publish, subscribe, receive]\n    who: [\"user:u%d\"]\n    topics: [\"devices/u%d/#\", \"tenants/%%u/+/state\"]\n", i, i)
		} else {
			fmt.Fprintf(&rules, "  - deny: [publish]\n    who: [\"group:g%d\"]\n    topics: [\"fleet/g%d/+/cmd/#\"]\n", i, i)
		}
	}
	path := filepath.Join(b.TempDir(), "acl.yaml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, qos := range []byte{0, 1} {
		for _, policy := range []string{"none", "10k-rules"} {
			b.Run(fmt.Sprintf("qos%d/%s", qos, policy), func(b *testing.B) {
				addr, _ := testutil.Start(b, func(c *config.Config) {
					if policy != "none" {
						c.ACL.File = path
					}
				})
				benchPublishAt(b, addr, qos, 16)
			})
		}
	}
}

// BenchmarkPublishWithLimits compares throughput with every limit on
// (publish rates per connection and identity set high enough never to
// throttle, so their code runs on every PUBLISH; the memory budget
// watched; connection limits at accept) against no limits. Run the two
// variants alternately and compare in the same run.
func BenchmarkPublishWithLimits(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		for _, limited := range []bool{false, true} {
			name := fmt.Sprintf("qos%d/limits-off", qos)
			if limited {
				name = fmt.Sprintf("qos%d/limits-on", qos)
			}
			b.Run(name, func(b *testing.B) {
				addr, _ := testutil.Start(b, func(c *config.Config) {
					l := &c.Limits
					off, zero := 0, 0.0
					if !limited {
						l.MaxConnections, l.MaxConnectionsPerAddress, l.ConnectionRatePerAddress = &off, &off, &zero
						l.MemoryBudget = "off"
						return
					}
					l.PublishRate, l.PublishBytesRate, l.IdentityPublishRate = 1e9, 1<<40, 1e9
					l.MemoryBudget = "auto"
				})
				benchPublishAt(b, addr, qos, 16)
			})
		}
	}
}

// benchPublishAt runs the publish benchmark against the broker at addr.
func benchPublishAt(b *testing.B, addr string, qos byte, size int) {
	sub := dialRaw(b, addr, "sub")
	sub.subscribe(b, "bench/#", qos)
	pub := dialRaw(b, addr, "pub")
	payload := make([]byte, size)

	var received atomic.Int64
	done := make(chan error, 1)
	go func() {
		// Subscriber: read b.N publishes, acknowledging QoS 1.
		var ack []byte
		for i := 0; i < b.N; i++ {
			pk, err := sub.r.ReadPacket(packet.V5)
			if err != nil {
				done <- err
				return
			}
			p, ok := pk.(*packet.Publish)
			if !ok {
				done <- fmt.Errorf("subscriber got %T", pk)
				return
			}
			received.Add(1)
			if p.QoS == 1 {
				ack = packet.AppendPuback(ack[:0], p.PacketID, 0, nil, packet.V5)
				if _, err := sub.nc.Write(ack); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	// Publisher acks (QoS 1) are drained concurrently.
	if qos == 1 {
		go func() {
			for {
				if _, err := pub.r.ReadPacket(packet.V5); err != nil {
					return
				}
			}
		}()
	}
	p := packet.Publish{Topic: "bench/topic", QoS: qos, Payload: payload}
	var buf []byte
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if qos > 0 {
			p.PacketID = uint16(i%65535) + 1
		}
		buf = packet.AppendPublish(buf[:0], &p, packet.V5)
		if _, err := pub.w.Write(buf); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			// Flow control: stay within a window of the subscriber so that
			// the broker's bounded queues never shed (that is measured by
			// the slow-consumer tests, not here).
			pub.flush(b)
			stall := time.Now().Add(30 * time.Second)
			for int64(i)-received.Load() > benchWindow {
				if time.Now().After(stall) {
					b.Fatalf("no progress for 30 s: %d of %d delivered (messages lost?)", received.Load(), i)
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	pub.flush(b)
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		b.Fatalf("timed out waiting for deliveries: %d of %d", received.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// benchTLS returns the client TLS configuration when MOAT_BENCH_TLS_CA names
// a CA file (the benchmark then speaks TLS to MOAT_BENCH_ADDR), else nil.
// cache, when set, enables session resumption.
func benchTLS(tb testing.TB, cache tls.ClientSessionCache) *tls.Config {
	path := os.Getenv("MOAT_BENCH_TLS_CA")
	if path == "" {
		return nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatalf("%s: no certificate", path)
	}
	return &tls.Config{RootCAs: pool, ServerName: "localhost", ClientSessionCache: cache}
}

func benchDial(addr string, tc *tls.Config) (net.Conn, error) {
	if tc == nil {
		return net.Dial("tcp", addr)
	}
	return tls.Dial("tcp", addr, tc)
}

// BenchmarkConnect measures new MQTT connections per second: TCP (and TLS
// when MOAT_BENCH_TLS_CA is set) connect, CONNECT, CONNACK, DISCONNECT.
// "full" makes a full TLS handshake each time; "resumed" resumes the TLS
// session. Run against an external broker with MOAT_BENCH_ADDR
// (scripts/bench-tls); without it, against an in-process plain broker.
func BenchmarkConnect(b *testing.B) {
	addr := os.Getenv("MOAT_BENCH_ADDR")
	if addr == "" {
		addr, _ = testutil.Start(b, nil)
	}
	for _, mode := range []string{"full", "resumed"} {
		b.Run(mode, func(b *testing.B) {
			var cache tls.ClientSessionCache
			if mode == "resumed" {
				cache = tls.NewLRUClientSessionCache(64)
			}
			tc := benchTLS(b, cache)
			if tc == nil && mode == "resumed" {
				b.Skip("no TLS")
			}
			cp := &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true}
			disconnect, _ := packet.Append(nil, &packet.Disconnect{}, packet.V311)
			var ack [4]byte
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				nc, err := benchDial(addr, tc)
				if err != nil {
					b.Fatal(err)
				}
				cp.ClientID = "bench-" + strconv.Itoa(i) // no takeovers
				connect, _ := packet.Append(nil, cp, packet.V311)
				if _, err := nc.Write(connect); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(nc, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
					b.Fatalf("CONNACK % x: %v", ack, err)
				}
				_, _ = nc.Write(disconnect)
				nc.Close()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
		})
	}
}
