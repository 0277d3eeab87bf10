package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/server"
	"github.com/moatmq/moat/internal/testutil"
)

// startHostile runs a broker with a TLS listener (short handshake
// deadline), a WebSocket listener, a TCP listener that trusts PROXY headers
// only from a range the test never uses, and a PROXY listener that trusts
// loopback.
func startHostile(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA(filepath.Join(dir, "ca"), certs.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.IssueServer(certs.LeafOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	crtPath, keyPath := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	if err := certs.WritePair(crtPath, crt, keyPath, key, false); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Auth.AllowAnonymous = true
	cfg.MQTT.ConnectTimeout = config.Duration(300 * time.Millisecond)
	cfg.Listeners = []config.Listener{
		{Name: "tls", Address: "127.0.0.1:0", Transport: "tls", TLS: config.TLS{Cert: crtPath, Key: keyPath,
			HandshakeTimeout: config.Duration(300 * time.Millisecond)}},
		{Name: "ws", Address: "127.0.0.1:0", Transport: "ws"},
		{Name: "untrusting", Address: "127.0.0.1:0", Transport: "tcp",
			ProxyProtocol: config.ProxyProtocol{Trusted: []string{"192.0.2.0/24"}}},
		{Name: "trusting", Address: "127.0.0.1:0", Transport: "tcp",
			ProxyProtocol: config.ProxyProtocol{Trusted: []string{"127.0.0.1"}, Timeout: config.Duration(300 * time.Millisecond)}},
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	var addrs []string
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	return addrs
}

// TestHostileTransportInputLeavesNothingBehind sends each kind of bad
// transport input and checks that the broker closes the connection within
// its deadline and that no goroutine is left behind.
func TestHostileTransportInputLeavesNothingBehind(t *testing.T) {
	addrs := startHostile(t)
	tlsAddr, wsAddr, untrusting, trusting := addrs[0], addrs[1], addrs[2], addrs[3]
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	cases := []struct {
		name string
		addr string
		send []byte
	}{
		{"plain MQTT to the TLS port", tlsAddr, connect},
		{"a TLS handshake that never finishes", tlsAddr, []byte{0x16, 0x03, 0x01, 0x00, 0xff, 0x01}},
		{"nothing at all on the TLS port", tlsAddr, nil},
		{"TLS to a plain port", untrusting, []byte{0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03}},
		{"a forged PROXY header from an untrusted source", untrusting, []byte("PROXY TCP4 198.51.100.7 192.0.2.1 4000 1883\r\n")},
		{"no PROXY header from a trusted source", trusting, nil},
		{"a malformed PROXY header from a trusted source", trusting, []byte("PROXY TCP4 999.1.1.1 x\r\n")},
		{"garbage instead of an HTTP upgrade", wsAddr, []byte("\x00\x01\x02 not http\r\n\r\n")},
		{"an HTTP request that never ends", wsAddr, []byte("GET /mqtt HTTP/1.1\r\nHost: x\r\n")},
		{"idle after accept on a plain port", untrusting, nil},
	}
	time.Sleep(50 * time.Millisecond) // let listener goroutines settle before the baseline
	baseline := runtime.NumGoroutine()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if tc.send != nil {
				if _, err := nc.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			// The broker must close within its deadlines (300 ms here, and
			// 5 s for a silent peer on a listener that checks for a
			// PROXY header it does not trust).
			_ = nc.SetReadDeadline(time.Now().Add(15 * time.Second))
			start := time.Now()
			_, err = io.Copy(io.Discard, nc)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open after %v", time.Since(start))
			}
		})
	}
	testutil.Eventually(t, 5*time.Second, "goroutines back to the baseline", func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}
