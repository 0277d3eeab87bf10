package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pipe returns both ends of a real loopback TCP connection.
func pipe(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func mustTrust(t *testing.T, cidrs ...string) *Trusted {
	t.Helper()
	tr, err := ParseTrusted(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readExactly reads len(want) bytes from c and compares them.
func readExactly(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %x, want %x", got, want)
	}
}

var (
	untrusted = []string{"192.0.2.0/24", "2001:db8::/32"} // not loopback
	loopback  = []string{"127.0.0.1"}
)

func TestAcceptUntrustedHeaderRefused(t *testing.T) {
	for name, wire := range map[string][]byte{
		"v1":          []byte("PROXY TCP4 203.0.113.9 127.0.0.1 4000 1883\r\n"),
		"v1 unknown":  []byte("PROXY UNKNOWN\r\n"),
		"v2":          v2(0x21, 0x11, inet4("203.0.113.9", "127.0.0.1", 4000, 1883)),
		"v2 local":    v2(0x20, 0x00),
		"v1 sig only": []byte("PROXY"),
	} {
		t.Run(name, func(t *testing.T) {
			server, client := pipe(t)
			write(t, client, wire)
			conn, h, err := Accept(server, mustTrust(t, untrusted...), 5*time.Second)
			if !errors.Is(err, ErrUntrustedHeader) || conn != nil || h != nil {
				t.Fatalf("Accept = %v, %v, %v; want ErrUntrustedHeader", conn, h, err)
			}
		})
	}
}

func TestAcceptUntrustedHeaderSplit(t *testing.T) {
	server, client := pipe(t)
	wire := v2(0x21, 0x11, inet4("203.0.113.9", "127.0.0.1", 4000, 1883))
	go func() {
		for _, b := range wire {
			if _, err := client.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, _, err := Accept(server, nil, 5*time.Second)
	if !errors.Is(err, ErrUntrustedHeader) {
		t.Fatalf("err = %v, want ErrUntrustedHeader", err)
	}
}

func TestAcceptUntrustedMQTT(t *testing.T) {
	server, client := pipe(t)
	write(t, client, mqttConnect)
	conn, h, err := Accept(server, mustTrust(t, untrusted...), 5*time.Second)
	if err != nil || h != nil {
		t.Fatalf("Accept: %v, header %v", err, h)
	}
	if conn.RemoteAddr().String() != client.LocalAddr().String() {
		t.Fatalf("RemoteAddr = %s, want the socket's %s", conn.RemoteAddr(), client.LocalAddr())
	}
	readExactly(t, conn, mqttConnect)
	write(t, client, []byte{0xc0, 0x00}) // PINGREQ
	readExactly(t, conn, []byte{0xc0, 0x00})
}

// TestAcceptUntrustedNearMiss: bytes that begin like a signature but stop
// are not a header and are replayed intact.
func TestAcceptUntrustedNearMiss(t *testing.T) {
	for name, wire := range map[string][]byte{
		"PRO then silence": []byte("PRO"),
		"PROXZ":            []byte("PROXZ"),
		"CR LF then MQTT":  append([]byte("\r\n"), mqttConnect...),
		"v2 sig cut":       v2Signature[:11],
	} {
		t.Run(name, func(t *testing.T) {
			server, client := pipe(t)
			write(t, client, wire)
			conn, _, err := Accept(server, nil, 200*time.Millisecond)
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			readExactly(t, conn, wire)
		})
	}
}

func TestAcceptUntrustedSilent(t *testing.T) {
	server, client := pipe(t)
	conn, h, err := Accept(server, nil, 50*time.Millisecond)
	if err != nil || h != nil {
		t.Fatalf("Accept: %v, %v", err, h)
	}
	if conn != server {
		t.Fatalf("conn = %T, want the socket itself", conn)
	}
	write(t, client, mqttConnect) // no deadline left behind
	readExactly(t, conn, mqttConnect)
}

func TestAcceptTrustedTimeout(t *testing.T) {
	server, _ := pipe(t)
	start := time.Now()
	conn, _, err := Accept(server, mustTrust(t, loopback...), 100*time.Millisecond)
	if conn != nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept = %v, %v; want a deadline error", conn, err)
	}
	wantCode(t, err, CodeIO)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestAcceptTrustedWithoutHeader(t *testing.T) {
	server, client := pipe(t)
	write(t, client, mqttConnect)
	_, _, err := Accept(server, mustTrust(t, loopback...), 5*time.Second)
	wantCode(t, err, CodeSignature)
}

func TestAcceptTrustedMalformed(t *testing.T) {
	server, client := pipe(t)
	write(t, client, []byte("PROXY TCP4 203.0.113.9 127.0.0.1 04000 1883\r\n"))
	_, _, err := Accept(server, mustTrust(t, loopback...), 5*time.Second)
	wantCode(t, err, CodePort)
}

func TestAcceptTrustedHeader(t *testing.T) {
	for name, wire := range map[string][]byte{
		"v1": []byte("PROXY TCP4 203.0.113.9 198.51.100.1 4000 1883\r\n"),
		"v2": v2(0x21, 0x11, inet4("203.0.113.9", "198.51.100.1", 4000, 1883)),
	} {
		t.Run(name, func(t *testing.T) {
			server, client := pipe(t)
			write(t, client, append(append([]byte{}, wire...), mqttConnect...))
			const timeout = 50 * time.Millisecond
			conn, h, err := Accept(server, mustTrust(t, "127.0.0.0/8"), timeout)
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if h.Command != Proxy || h.Source != ap("203.0.113.9:4000") {
				t.Fatalf("header %+v", h)
			}
			if got := conn.RemoteAddr().String(); got != "203.0.113.9:4000" {
				t.Fatalf("RemoteAddr = %s", got)
			}
			if got := conn.LocalAddr().String(); got != "198.51.100.1:1883" {
				t.Fatalf("LocalAddr = %s", got)
			}
			if c, ok := conn.(*Conn); !ok || c.Header() != h || c.NetConn() != server {
				t.Fatalf("conn = %T", conn)
			}
			readExactly(t, conn, mqttConnect)
			// The header deadline must be gone: bytes arriving well after
			// it are still readable.
			if err := conn.SetReadDeadline(time.Time{}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * timeout)
			write(t, client, []byte{0xc0, 0x00})
			readExactly(t, conn, []byte{0xc0, 0x00})
		})
	}
}

func TestAcceptTrustedLocal(t *testing.T) {
	for name, wire := range map[string][]byte{
		"v2 local":   v2(0x20, 0x00),
		"v1 unknown": []byte("PROXY UNKNOWN\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			server, client := pipe(t)
			write(t, client, append(append([]byte{}, wire...), mqttConnect...))
			conn, h, err := Accept(server, mustTrust(t, "::ffff:127.0.0.1"), 5*time.Second)
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if h.Command != Local {
				t.Fatalf("command %s", h.Command)
			}
			if conn.RemoteAddr().String() != client.LocalAddr().String() ||
				conn.LocalAddr().String() != client.RemoteAddr().String() {
				t.Fatalf("addresses %s -> %s, want the socket's", conn.RemoteAddr(), conn.LocalAddr())
			}
			readExactly(t, conn, mqttConnect)
		})
	}
}

// TestConnConcurrentRead reads the replay and the socket from two
// goroutines at once; run with -race.
func TestConnConcurrentRead(t *testing.T) {
	server, client := pipe(t)
	c := newConn(server, nil, []byte{0x10})
	write(t, client, []byte{0x20})
	got := make(chan byte, 2)
	for range 2 {
		go func() {
			var b [1]byte
			_, _ = io.ReadFull(c, b[:])
			got <- b[0]
		}()
	}
	if a, b := <-got, <-got; min(a, b) != 0x10 || max(a, b) != 0x20 {
		t.Fatalf("read %x and %x, want 10 and 20", a, b)
	}
}

func TestPeerAddrUnknownIsUntrusted(t *testing.T) {
	a, b := net.Pipe() // addresses are "pipe", not IP
	defer a.Close()
	defer b.Close()
	if peerAddr(a).IsValid() {
		t.Fatal("pipe has an IP")
	}
	go func() { _, _ = b.Write([]byte("PROXY UNKNOWN\r\n")) }()
	all, _ := ParseTrusted([]string{"0.0.0.0/0", "::/0"})
	if _, _, err := Accept(a, all, time.Second); !errors.Is(err, ErrUntrustedHeader) {
		t.Fatalf("err = %v", err)
	}
}

func TestSignatureState(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  int
		found bool
	}{
		{"", 12, false},
		{"P", 5, false},
		{"PROX", 5, false},
		{"PROXY", 0, true},
		{"PROXY TCP4 1", 0, true},
		{"\r", 12, false},
		{string(v2Signature[:11]), 12, false},
		{string(v2Signature[:]), 0, true},
		{"\x10", -1, false},
		{"PX", -1, false},
		{"\r\n\r\n\x01", -1, false},
	} {
		w, f := signatureState([]byte(tc.in))
		if w != tc.want || f != tc.found {
			t.Errorf("%q: %d, %v; want %d, %v", tc.in, w, f, tc.want, tc.found)
		}
	}
}
