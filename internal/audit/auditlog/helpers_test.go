package auditlog

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

// fakeClock is a settable clock, safe for concurrent use. block makes the
// next Now wait until released, to hold the writer still.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	gate    chan struct{}
	entered chan struct{}
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	gate, entered := c.gate, c.entered
	c.gate, c.entered = nil, nil
	c.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// block makes the next call of Now wait; entered is closed when a caller
// waits, release lets it go.
func (c *fakeClock) block() (entered <-chan struct{}, release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate, c.entered = make(chan struct{}), make(chan struct{})
	gate := c.gate
	return c.entered, func() { close(gate) }
}

// openTest opens a log in a fresh directory (unless o.Path is set) with a
// fake clock (unless o.Clock is set).
func openTest(t *testing.T, o Options) (*Log, *fakeClock) {
	t.Helper()
	clock := newClock()
	if o.Clock == nil {
		o.Clock = clock.Now
	}
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "audit", "audit.log")
	}
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, clock
}

// authFailure is an auth failure from ip:port.
func authFailure(ip string, port uint16) audit.Event {
	return audit.Event{Kind: audit.AuthFailure, Listener: "tls",
		Remote: netip.AddrPortFrom(netip.MustParseAddr(ip), port), ClientID: "c", Identity: "mallory",
		Method: "password", Reason: packet.BadUserNameOrPassword, Detail: "wrong password"}
}

// ipN is a distinct IPv4 address for each n.
func ipN(n int) string {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}).String()
}

// readLines returns a file's lines (without newlines); the file must end
// with a newline.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	return bytes.Split(b[:len(b)-1], []byte("\n"))
}

// readRecords parses every line of the given files, in order.
func readRecords(t *testing.T, paths ...string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, p := range paths {
		for i, line := range readLines(t, p) {
			r, err := audit.ParseRecord(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", p, i+1, err)
			}
			out = append(out, r)
		}
	}
	return out
}

// logFiles lists the files of dir, rotated ones first by first seq, the
// live file last.
func logFiles(t *testing.T, dir string) []string {
	t.Helper()
	nm := newNaming(filepath.Join(dir, "audit.log"))
	rot, err := nm.list()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rot {
		out = append(out, r.path)
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.log")); err == nil {
		out = append(out, filepath.Join(dir, "audit.log"))
	}
	return out
}

// tally sums what the records say about events of kind k: written one by
// one, and counted in audit.suppressed records (those of kind k, and those
// of unknown kind when anyOf).
func tally(recs []audit.Record, k audit.Kind, anyOf bool) (written, counted uint64) {
	for _, r := range recs {
		switch {
		case r.Kind == k:
			written++
		case r.Kind == audit.Suppressed && (r.SuppressedKind == k || (anyOf && r.SuppressedKind == "")):
			counted += r.Count
		}
	}
	return written, counted
}

func mustVerify(t *testing.T, paths ...string) Report {
	t.Helper()
	rep, err := Verify(paths...)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}
