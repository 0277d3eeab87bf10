package test

// Connection limits at accept, end to end: the listener firewall, the
// per-address connection bound, and a SIGHUP-style configuration reload
// that changes both for new connections while established ones stay.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// limitsDial connects from the loopback address src.
func limitsDial(t *testing.T, addr, src string) *rawClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: waitTimeout}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, br: bufio.NewReader(conn), v5: true}
}

// admitted reports whether the broker serves a connection from src: a
// CONNACK for its CONNECT, or the connection closed unread.
func admitted(t *testing.T, addr, src, id string) (*rawClient, bool) {
	t.Helper()
	c := limitsDial(t, addr, src)
	c.sendMaybe(rawConnect{Version: 5, ClientID: id, Clean: true, KeepAlive: 30}.bytes())
	p, err := c.read(waitTimeout)
	if err != nil {
		if errors.Is(err, io.EOF) || isConnReset(err) {
			return c, false
		}
		t.Fatalf("%s from %s: %v", id, src, err)
	}
	if p.Type != tCONNACK {
		t.Fatalf("%s from %s: got %v, want CONNACK", id, src, p)
	}
	return c, true
}

func isConnReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func TestLimits_FirewallAndPerAddress(t *testing.T) {
	var cfg *config.Config
	addr, srv := testutil.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = true
		c.Listeners[0].Firewall = config.Firewall{Deny: []string{"127.0.0.2"}}
		two := 2
		c.Limits.MaxConnectionsPerAddress = &two
		cfg = c
	})
	if _, ok := admitted(t, addr, "127.0.0.2", "denied"); ok {
		t.Fatal("a denied address was served")
	}
	a1, ok1 := admitted(t, addr, "127.0.0.3", "a1")
	_, ok2 := admitted(t, addr, "127.0.0.3", "a2")
	if !ok1 || !ok2 {
		t.Fatal("the first two connections from 127.0.0.3 were refused")
	}
	if _, ok := admitted(t, addr, "127.0.0.3", "a3"); ok {
		t.Fatal("a third connection from 127.0.0.3 was served past max_connections_per_address")
	}
	// Another address is unaffected; a freed slot is reused.
	if _, ok := admitted(t, addr, "127.0.0.4", "b1"); !ok {
		t.Fatal("127.0.0.4 refused")
	}
	a1.conn.Close()
	poll.Until(t, waitTimeout, "a released slot is reused", func() bool {
		c, ok := admitted(t, addr, "127.0.0.3", "a4")
		c.conn.Close()
		return ok
	})

	// A reload moves the firewall: 127.0.0.2 is admitted, 127.0.0.4 is
	// not, and b1's established connection is not touched.
	next := reloadedConfig(t, cfg, func(c *config.Config) {
		c.Listeners[0].Firewall = config.Firewall{Deny: []string{"127.0.0.4/32"}}
	})
	if restart, err := srv.ApplyConfig(next); err != nil || len(restart) != 0 {
		t.Fatalf("ApplyConfig: %v, needs restart: %v", err, restart)
	}
	if _, ok := admitted(t, addr, "127.0.0.2", "now-allowed"); !ok {
		t.Fatal("127.0.0.2 still refused after the reload")
	}
	if _, ok := admitted(t, addr, "127.0.0.4", "now-denied"); ok {
		t.Fatal("127.0.0.4 still served after the reload")
	}
	// A change that needs a restart is reported, not applied.
	next = reloadedConfig(t, cfg, func(c *config.Config) { c.MQTT.MaxInflight = 7 })
	if restart, err := srv.ApplyConfig(next); err != nil || len(restart) != 1 || restart[0] != "mqtt" {
		t.Fatalf("ApplyConfig of an mqtt change: %v, %v", restart, err)
	}
	// An invalid configuration changes nothing.
	next = reloadedConfig(t, cfg, func(c *config.Config) {
		c.Listeners[0].Firewall = config.Firewall{Deny: []string{"not-an-address"}}
	})
	if _, err := srv.ApplyConfig(next); err == nil {
		t.Fatal("an invalid firewall was applied")
	}
	if _, ok := admitted(t, addr, "127.0.0.4", "still-denied"); ok {
		t.Fatal("a refused reload changed the firewall")
	}
}

// reloadedConfig is a copy of cfg as a reload would read it, changed by
// mutate.
func reloadedConfig(t *testing.T, cfg *config.Config, mutate func(*config.Config)) *config.Config {
	t.Helper()
	next := *cfg
	next.Listeners = append([]config.Listener(nil), cfg.Listeners...)
	mutate(&next)
	return &next
}
