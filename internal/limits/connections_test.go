package limits

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func ap(s string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(s), 1883) }

func TestFirewall(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	var refused []string
	f := NewFirewall(map[string]FirewallRules{
		"lan":  {Allow: pfx("10.0.0.0/8", "2001:db8::/32"), Deny: pfx("10.66.0.0/16")},
		"open": {Deny: pfx("192.0.2.7/32")},
	}, func(l string, r netip.AddrPort, _ string) { refused = append(refused, l+" "+r.Addr().String()) })
	for _, tc := range []struct {
		listener, addr string
		want           bool
	}{
		{"lan", "10.1.2.3", true},
		{"lan", "::ffff:10.1.2.3", true}, // IPv4-mapped is the IPv4 address
		{"lan", "10.66.1.1", false},      // deny wins over allow
		{"lan", "192.168.1.1", false},    // not in the allow list
		{"lan", "2001:db8::1", true},
		{"lan", "2001:db9::1", false},
		{"open", "192.0.2.7", false},
		{"open", "192.0.2.8", true},
		{"other", "192.0.2.7", true}, // a listener without rules
	} {
		if got := f.Accept(tc.listener, ap(tc.addr)); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.listener, tc.addr, got, tc.want)
		}
	}
	if len(refused) != 4 {
		t.Errorf("refusals reported: %v", refused)
	}
	// Update replaces the rules for new connections.
	f.Update(map[string]FirewallRules{"other": {Deny: pfx("0.0.0.0/0")}})
	if f.Accept("other", ap("192.0.2.8")) || !f.Accept("lan", ap("192.168.1.1")) {
		t.Error("Update did not replace the rules")
	}
}

func TestConnectionsCounts(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewConnections(ConnectionLimits{Max: 3, MaxPerAddress: 2}, clk.now, nil)
	a, b := ap("192.0.2.1"), ap("192.0.2.2")
	for i := range 2 {
		if !c.Accept("l", a) {
			t.Fatalf("connection %d from a refused", i+1)
		}
	}
	if c.Accept("l", a) {
		t.Fatal("third from a admitted past max_connections_per_address")
	}
	if !c.Accept("l", b) {
		t.Fatal("first from b refused")
	}
	if c.Accept("l", b) {
		t.Fatal("admitted past max_connections")
	}
	c.Released("l", a)
	if !c.Accept("l", b) {
		t.Fatal("a released slot was not reused")
	}
	if got := c.Open(); got != 3 {
		t.Fatalf("open %d, want 3", got)
	}
	// IPv6 sources are counted per /64.
	c.Update(ConnectionLimits{MaxPerAddress: 1})
	if !c.Accept("l", ap("2001:db8:0:1::1")) || c.Accept("l", ap("2001:db8:0:1::2")) || !c.Accept("l", ap("2001:db8:0:2::1")) {
		t.Fatal("IPv6 /64 counting")
	}
}

func TestConnectionsRates(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewConnections(ConnectionLimits{RatePerAddress: 10, BurstPerAddress: 3, Rate: 1, Burst: 5}, clk.now, nil)
	a := ap("192.0.2.1")
	for i := range 3 {
		if !c.Accept("l", a) {
			t.Fatalf("burst connection %d refused", i)
		}
	}
	if c.Accept("l", a) {
		t.Fatal("admitted past the per-address burst")
	}
	clk.advance(100 * time.Millisecond) // one token at 10/s
	if !c.Accept("l", a) || c.Accept("l", a) {
		t.Fatal("per-address refill")
	}
	// The global bucket (burst 5, 1/s): a took 4 tokens and 0.1 came
	// back, so one more source gets in and the next is refused.
	if !c.Accept("l", ap("192.0.2.2")) || c.Accept("l", ap("192.0.2.3")) {
		t.Fatal("global burst")
	}
}

// An attacker with endless addresses cannot grow the source map past its
// bound: new sources share one overflow entry, and idle ones are forgotten.
func TestConnectionsBoundedSources(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewConnections(ConnectionLimits{MaxPerAddress: 1 << 30, RatePerAddress: 1, BurstPerAddress: 1}, clk.now, nil)
	for i := range MaxTrackedSources + 100 {
		c.Accept("l", ap(fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)))
	}
	if n := len(c.sources); n > MaxTrackedSources+1 {
		t.Fatalf("%d sources tracked, bound %d", n, MaxTrackedSources)
	}
	// Released sources whose buckets refilled are forgotten at once.
	for i := range 1000 {
		c.Released("l", ap(fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)))
	}
	clk.advance(2 * time.Second)
	c.Accept("l", ap("2001:db8:ffff:ffff::1"))
	if n := len(c.sources); n > MaxTrackedSources {
		t.Fatalf("%d sources after releases, bound %d", n, MaxTrackedSources)
	}
}
