package loadgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

func TestHistogramBuckets(t *testing.T) {
	// Buckets tile the range: each starts one past the previous end, and
	// every value falls in the bucket whose bounds hold it.
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := histBounds(i)
		if int64(lo) != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d = [%d, %d]: indexes %d, %d", i, lo, hi, histIndex(lo), histIndex(hi))
		}
		if lo >= 2*histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-9 {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its values", i, lo, hi, histSub)
		}
		prevHi = int64(hi)
	}
	if prevHi != histMax {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, histMax)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	// 1..100000 µs, shuffled: the q-quantile is q*100000 µs, within 3%.
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		vals[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	var a, b Histogram
	for i, v := range vals {
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	h.Merge(&a)
	h.Merge(&b)
	if h.Count() != 100_000 || h.Min() != time.Microsecond || h.Max() != 100*time.Millisecond {
		t.Fatalf("count %d, min %v, max %v", h.Count(), h.Min(), h.Max())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := q * 100_000 * float64(time.Microsecond)
		if got := float64(h.Quantile(q)); got < want*0.97 || got > want*1.03 {
			t.Errorf("q%v = %v, want %v within 3%%", q, time.Duration(got), time.Duration(want))
		}
	}
	if h.Quantile(1) != h.Max() || h.Quantile(0) != h.Min() {
		t.Errorf("q0 %v, q1 %v", h.Quantile(0), h.Quantile(1))
	}
	// Out of range values are clamped, not lost.
	var c Histogram
	c.Record(-time.Second)
	c.Record(100 * time.Hour)
	if c.Count() != 2 || c.Min() != 0 || c.Max() != histMax {
		t.Errorf("clamped: count %d, min %v, max %v", c.Count(), c.Min(), c.Max())
	}
}

func TestSeqSet(t *testing.T) {
	s := newSeqSet(200_000)
	if len(s.pages) != 4 {
		t.Fatalf("%d pages for 200000 numbers", len(s.pages))
	}
	for _, seq := range []uint32{0, 1, 65535, 65536, 199_999} {
		if fresh, ok := s.mark(seq); !fresh || !ok {
			t.Errorf("first mark(%d) = %v, %v", seq, fresh, ok)
		}
		if fresh, ok := s.mark(seq); fresh || !ok {
			t.Errorf("second mark(%d) = %v, %v", seq, fresh, ok)
		}
	}
	if _, ok := s.mark(200_000); ok {
		t.Error("mark beyond the limit accepted")
	}
	if s.pages[2].Load() != nil {
		t.Error("a page was allocated for numbers never seen")
	}
	// Concurrent marks (shared subscriptions): each number is fresh once.
	c := newSeqSet(1 << 18)
	var wg sync.WaitGroup
	fresh := make([]int, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range uint32(1 << 18) {
				if f, _ := c.mark(i); f {
					fresh[g]++
				}
			}
		})
	}
	wg.Wait()
	if n := fresh[0] + fresh[1] + fresh[2] + fresh[3]; n != 1<<18 {
		t.Errorf("%d fresh marks, want %d", n, 1<<18)
	}
}

func TestParseProc(t *testing.T) {
	// A command name with spaces and parentheses; utime 150, stime 50.
	stat := "4242 (moat (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 12 0 100 1000000 2000 18446744073709551615\n"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 2*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 2s", cpu, err)
	}
	if _, err := parseStatCPU([]byte("4242 (moat) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
	status := "Name:\tmoat\nVmPeak:\t  2000 kB\nVmRSS:\t    1234 kB\nThreads:\t12\n"
	rss, err := parseStatusKB([]byte(status), "VmRSS:")
	if err != nil || rss != 1234<<10 {
		t.Errorf("VmRSS = %d, %v", rss, err)
	}
	if _, err := parseStatusKB([]byte("Name:\tx\n"), "VmRSS:"); err == nil {
		t.Error("missing VmRSS accepted")
	}

	// readProc and watchProc on a fake /proc.
	root := t.TempDir()
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })
	write := func(stat, status string) {
		if err := os.MkdirAll(filepath.Join(root, "7"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string]string{"stat": stat, "status": status} {
			if err := os.WriteFile(filepath.Join(root, "7", name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(stat, status)
	w := watchProc(7, time.Hour)
	write(strings.Replace(stat, " 150 50 ", " 250 150 ", 1), strings.Replace(status, "1234", "2234", 1))
	b, err := w.end()
	if err != nil {
		t.Fatal(err)
	}
	if b.CPUSeconds != 2 || b.RSSStart != 1234<<10 || b.RSSEnd != 2234<<10 || b.RSSPeak != 2234<<10 {
		t.Errorf("broker stats %+v", b)
	}
	if b, err := watchProc(0, time.Hour).end(); b != nil || err != nil {
		t.Errorf("no pid: %v, %v", b, err)
	}
	if _, err := watchProc(8, time.Hour).end(); err == nil {
		t.Error("missing process: no error")
	}
}

// TestDeliverCounts feeds a receiver messages by hand: new, repeated,
// foreign and out of range.
func TestDeliverCounts(t *testing.T) {
	cfg := &Config{Scenario: FanIn, Clients: 2, Messages: 10}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f := newFlow(cfg)
	r := f.recvs[0]
	msg := func(pub, seq uint32, size int) *packet.Publish {
		pl := make([]byte, size)
		binary.LittleEndian.PutUint64(pl[offTime:], uint64(nanotime()-int64(time.Millisecond)))
		binary.LittleEndian.PutUint32(pl[offPub:], pub)
		binary.LittleEndian.PutUint32(pl[offSeq:], seq)
		return &packet.Publish{Payload: pl}
	}
	msgs := []*packet.Publish{msg(0, 0, 16), msg(0, 1, 16), msg(1, 0, 32), msg(0, 1, 16),
		msg(2, 0, 16), msg(0, 10, 16), {Payload: []byte("short")}}
	now := nanotime()
	for _, m := range msgs {
		r.deliver(m, now)
	}
	if r.unique != 3 || r.dups != 1 || r.unexpected != 3 {
		t.Errorf("unique %d, dups %d, unexpected %d; want 3, 1, 3", r.unique, r.dups, r.unexpected)
	}
	if f.pubs[0].delivered.Load() != 4 || f.pubs[1].delivered.Load() != 1 {
		t.Errorf("delivered %d, %d", f.pubs[0].delivered.Load(), f.pubs[1].delivered.Load())
	}
	if r.hist.Count() != 3 || r.hist.Min() < time.Millisecond {
		t.Errorf("latency: %d samples, min %v", r.hist.Count(), r.hist.Min())
	}
}

func TestFlowLayout(t *testing.T) {
	for _, tc := range []struct {
		s                  Scenario
		clients, pubs      int
		wantPubs, wantRecv int
		wantK              int64
		wantWindow         int64
		wantGroups         int
	}{
		{FanIn, 10, 1, 10, 1, 1, 80, 1},
		{Pairs, 20, 1, 20, 20, 1, 800, 20},
		{FanOut, 1000, 1, 1, 1000, 1000, 20, 1000},
		{Shared, 4, 2, 2, 4, 1, 1600, 1},
	} {
		cfg := &Config{Scenario: tc.s, Clients: tc.clients, Publishers: tc.pubs}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		f := newFlow(cfg)
		groups := map[*group]bool{}
		for _, r := range f.recvs {
			groups[r.g] = true
		}
		if len(f.pubs) != tc.wantPubs || len(f.recvs) != tc.wantRecv || f.pubs[0].k != tc.wantK ||
			f.window != tc.wantWindow || len(groups) != tc.wantGroups {
			t.Errorf("%s: %d pubs, %d receivers, k %d, window %d, %d groups", tc.s, len(f.pubs), len(f.recvs),
				f.pubs[0].k, f.window, len(groups))
		}
	}
}

func TestFlowFailures(t *testing.T) {
	ok := &MessageStats{Expected: 10, Received: 10, Duplicates: 2}
	if f := flowFailures(1, ok, 0); len(f) != 0 {
		t.Errorf("QoS 1 duplicates are not a failure: %q", f)
	}
	if f := flowFailures(2, ok, 0); len(f) != 1 || !strings.Contains(f[0], "exactly once") {
		t.Errorf("QoS 2 duplicates: %q", f)
	}
	lost := &MessageStats{Expected: 10, Received: 9, Lost: 1}
	if f := flowFailures(0, lost, 0); len(f) != 0 {
		t.Errorf("QoS 0 loss is measured, not a failure: %q", f)
	}
	if f := flowFailures(1, lost, 1); len(f) != 2 {
		t.Errorf("QoS 1 loss and a connection error: %q", f)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scenario: "nope"}, "unknown scenario"},
		{Config{Scenario: Pairs, QoS: 3}, "QoS 3"},
		{Config{Scenario: Pairs, PayloadSize: 8}, "payload size"},
		{Config{Scenario: Pairs, Publishers: 2}, "shared scenario only"},
		{Config{Scenario: Pairs, Clients: MaxClients + 1}, "at most"},
		{Config{Scenario: Pairs, Password: []byte("x")}, "needs a user name"},
		{Config{Scenario: Pairs, Topic: "a/#"}, "wildcards"},
		{Config{Scenario: Idle, Addr: "10.0.0.1:1883", SourceSpread: 4}, "loopback"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	c := Config{Scenario: Idle, SourceSpread: -1}
	if err := c.Validate(); err != nil || c.SourceSpread != 64 || c.Clients != 10000 || c.Duration != 2*time.Second {
		t.Errorf("idle defaults: %+v, %v", c, err)
	}
	c = Config{Scenario: Pairs, SourceSpread: -1, Addr: "localhost:1883"}
	if err := c.Validate(); err != nil || c.SourceSpread != 0 || c.Version != packet.V5 {
		t.Errorf("pairs defaults: %+v, %v", c, err)
	}
	c = Config{Scenario: ConnRate, Username: "u%d", Users: 3}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := []string{c.user(0), c.user(4)}; !slices.Equal(got, []string{"u0", "u1"}) {
		t.Errorf("users %q", got)
	}
}

func TestReportOutput(t *testing.T) {
	rep := &Report{Scenario: FanIn, Addr: "127.0.0.1:1883",
		Params:   Params{MQTT: "5.0", QoS: 1, Clients: 10, PayloadSize: 16, Window: 80},
		Seconds:  2,
		Messages: &MessageStats{Published: 1_234_567, Expected: 1_234_567, Received: 1_234_567, PerSecond: 617_283},
		Latency:  &LatencyStats{Samples: 3, P50: 1500, P99: 2500, P999: 3000, Max: 4000, Mean: 1600},
		Broker:   &BrokerStats{PID: 1, CPUSeconds: 1.5, CPUPerMsg: 1.2, RSSStart: 10 << 20, RSSEnd: 12 << 20, RSSPeak: 13 << 20},
		Failures: []string{"something broke"},
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10 publishers -> 1 subscriber", "617,283/s", "1,234,567 of 1,234,567",
		"p99 2.5ms", "1.20 µs/msg", "12.0 MiB", "FAILED    something broke"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Messages.PerSecond != 617_283 || back.Latency.P99 != 2500 || back.Broker.CPUPerMsg != 1.2 || back.OK() {
		t.Errorf("JSON round trip: %s", js.String())
	}
}
