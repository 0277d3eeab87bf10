package scan

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/packet"
)

// fakeBroker serves every accepted connection with handle until the test
// ends, and returns its address.
func fakeBroker(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// silent reads and drops everything, and never answers.
func silent(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// dripping reads the CONNECT, then sends the start of a CONNACK that
// announces 127 bytes and delivers one byte every 100 ms, forever.
func dripping(c net.Conn) {
	go silent(c)
	if _, err := c.Write([]byte{0x20, 0x7f}); err != nil {
		return
	}
	for {
		time.Sleep(100 * time.Millisecond)
		if _, err := c.Write([]byte{0}); err != nil {
			return
		}
	}
}

// flooding accepts every CONNECT and, after any SUBSCRIBE, sends retained
// 16 KiB messages as fast as the connection takes them.
func flooding(c net.Conn) {
	r := packet.NewReader(c, 0)
	pk, err := r.ReadPacket(0)
	connect, ok := pk.(*packet.Connect)
	if err != nil || !ok {
		return
	}
	v := connect.Version
	var mu sync.Mutex
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := c.Write(b)
		return err
	}
	if write(packet.AppendConnack(nil, &packet.Connack{}, v)) != nil {
		return
	}
	flood := packet.AppendPublish(nil, &packet.Publish{Retain: true, Topic: "flood/data", Payload: make([]byte, 16<<10)}, v)
	started := false
	for {
		pk, err := r.ReadPacket(v)
		if err != nil {
			return
		}
		switch p := pk.(type) {
		case *packet.Subscribe:
			codes := make([]packet.ReasonCode, len(p.Subscriptions))
			if write(packet.AppendSuback(nil, &packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}, v)) != nil {
				return
			}
			if !started {
				started = true
				go func() {
					for write(flood) == nil {
					}
				}()
			}
		case *packet.Unsubscribe:
			_ = write(packet.AppendUnsuback(nil, &packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}, v))
		case *packet.Publish:
			if p.QoS == 1 {
				_ = write(packet.AppendPuback(nil, p.PacketID, packet.Success, nil, v))
			}
		case *packet.Disconnect:
			return
		}
	}
}

// TestBoundsSilentBroker: a broker that never answers ends the scan in
// bounded time, as a failed target (host:port) or with every probe timed
// out (mqtt://).
func TestBoundsSilentBroker(t *testing.T) {
	t.Parallel()
	addr := fakeBroker(t, silent)
	o := Options{ProbeTimeout: 300 * time.Millisecond, IdleWait: 500 * time.Millisecond, Intrusive: true, Username: "u", Password: "p"}
	start := time.Now()
	res := run(t, o, addr, "mqtt://"+addr)
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("scan of a silent broker took %s", took)
	}
	if len(res.Failed) != 1 || !strings.Contains(res.Failed[0], "neither a TLS handshake nor an MQTT CONNECT") {
		t.Errorf("Failed = %v", res.Failed)
	}
	none(t, res.Findings, doctor.IDAnonymousExposed, doctor.IDAnyCredentials)
}

// TestBoundsDrippingBroker: a CONNACK that arrives one byte at a time,
// never complete, does not hold a probe past its deadline.
func TestBoundsDrippingBroker(t *testing.T) {
	t.Parallel()
	addr := fakeBroker(t, dripping)
	start := time.Now()
	res := run(t, Options{ProbeTimeout: 400 * time.Millisecond, IdleWait: -1, Username: "u", Password: "p"}, "mqtt://"+addr)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("scan of a dripping broker took %s", took)
	}
	none(t, res.Findings, doctor.IDAnonymousExposed, doctor.IDAnyCredentials)
}

// TestBoundsFloodingBroker: a broker that floods every subscription is
// read up to the caps, not for the whole listening window, and the scan's
// allocations stay bounded.
func TestBoundsFloodingBroker(t *testing.T) {
	addr := fakeBroker(t, flooding)
	o := Options{ProbeTimeout: 2 * time.Second, Listen: 20 * time.Second, IdleWait: -1,
		MaxMessages: 100, MaxBytes: 1 << 20}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := run(t, o, addr)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if took > 15*time.Second {
		t.Errorf("scan of a flooding broker took %s: the caps did not end the collection", took)
	}
	f, ok := find(res.Findings, doctor.IDACLAllowAll)
	if !ok || !strings.Contains(f.Message, "stopped at the scan's cap") {
		t.Errorf("the flood is not reported as capped: %s", f)
	}
	// Two subscriptions of at most 1 MiB each, plus the unsubscribe
	// drains: far below what 20 s of flooding would bring.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("the scan allocated %d MiB while flooded", alloc>>20)
	}
}

// TestBoundsMaxDuration: the whole run stops at MaxDuration, whatever the
// probes' own bounds.
func TestBoundsMaxDuration(t *testing.T) {
	t.Parallel()
	addr := fakeBroker(t, silent)
	start := time.Now()
	res, err := Run(context.Background(), []string{"mqtt://" + addr, "mqtt://" + addr},
		Options{ProbeTimeout: 5 * time.Second, IdleWait: time.Minute, MaxDuration: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Run took %s with MaxDuration 1.5s", took)
	}
	if len(res.Failed) == 0 {
		t.Errorf("the second target should be listed as not scanned: %+v", res)
	}
}

// TestBoundsFloodingIntrusive: the intrusive probes, whose watchers
// subscribe too, are bounded by the same caps under a flood: no probe
// waits out its 20 s listening window, and allocations stay bounded.
func TestBoundsFloodingIntrusive(t *testing.T) {
	addr := fakeBroker(t, flooding)
	o := Options{ProbeTimeout: time.Second, Listen: 20 * time.Second, IdleWait: -1, MaxMessages: 100, MaxBytes: 1 << 20,
		Intrusive: true, Username2: "u2", Password2: "p2", SignedTopic: "plant/moat-scan-test/cmd"}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := run(t, o, addr)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if took > 19*time.Second {
		t.Errorf("intrusive scan of a flooding broker took %s: a probe waited out its window", took)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
		t.Errorf("the scan allocated %d MiB while flooded", alloc>>20)
	}
	if len(res.Failed) > 0 {
		t.Errorf("failed: %v", res.Failed)
	}
}
