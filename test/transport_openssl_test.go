package test

// The TLS listener seen by Debian's openssl s_client: protocol versions and
// TLS 1.2 cipher suites refused and accepted, the handshake deadline, and
// the wrong protocol on either port.

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// opensslHandshakeTimeout is the short handshake_timeout of the TLS
// listener in TestTransport_OpenSSL.
const opensslHandshakeTimeout = 2 * time.Second

// TestTransport_OpenSSL drives openssl s_client against a tls listener
// (listener 0, handshake_timeout 2s) and a plain tcp listener (listener 1).
func TestTransport_OpenSSL(t *testing.T) {
	t.Parallel()
	openssl := requireTool(t, "openssl", "openssl")
	if v, err := probeCommand(t.Context(), ".", openssl, "version"); err == nil {
		t.Logf("openssl: %s", v)
	}
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		l := tlsListener(p, "tls")
		l.TLS.HandshakeTimeout = config.Duration(opensslHandshakeTimeout)
		c.Listeners = []config.Listener{l, {Name: "plain", Address: "127.0.0.1:0", Transport: "tcp"}}
	})
	tlsAddr, plainAddr := b.addr(0), b.addr(1)

	// sClient runs s_client with stdin at EOF: after a successful
	// handshake it closes the connection and exits 0.
	sClient := func(t *testing.T, addr string, args ...string) (string, error) {
		t.Helper()
		all := append([]string{"s_client", "-connect", addr, "-CAfile", p.CA,
			"-verify_return_error", "-verify_ip", "127.0.0.1", "-brief"}, args...)
		return runTool(t, 15*time.Second, strings.NewReader(""), openssl, all...)
	}
	refused := func(t *testing.T, alert string, args ...string) {
		t.Helper()
		out, err := sClient(t, tlsAddr, args...)
		if err == nil {
			t.Fatalf("openssl s_client %s: handshake succeeded, want it refused\n%s", strings.Join(args, " "), out)
		}
		// The alert shows the client did offer the handshake and the
		// broker refused it (not the client's own policy).
		if !strings.Contains(out, alert) {
			t.Fatalf("openssl s_client %s: refused without the broker's %q alert\n%s", strings.Join(args, " "), alert, out)
		}
	}
	accepted := func(t *testing.T, want []string, args ...string) {
		t.Helper()
		out, err := sClient(t, tlsAddr, args...)
		if err != nil {
			t.Fatalf("openssl s_client %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, w := range append(want, "Verification: OK") {
			if !strings.Contains(out, w) {
				t.Errorf("openssl s_client %s: output lacks %q\n%s", strings.Join(args, " "), w, out)
			}
		}
	}

	// SECLEVEL=0 lets this OpenSSL offer TLS 1.0 and 1.1 at all.
	t.Run("tls1.0-refused", func(t *testing.T) {
		t.Parallel()
		refused(t, "alert protocol version", "-tls1", "-cipher", "DEFAULT@SECLEVEL=0")
	})
	t.Run("tls1.1-refused", func(t *testing.T) {
		t.Parallel()
		refused(t, "alert protocol version", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
	})
	t.Run("tls1.2-rsa-kex-refused", func(t *testing.T) {
		t.Parallel()
		refused(t, "alert handshake failure", "-tls1_2", "-cipher", "AES128-SHA")
	})
	t.Run("tls1.2-cbc-refused", func(t *testing.T) {
		t.Parallel()
		refused(t, "alert handshake failure", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
	})
	t.Run("tls1.2-ecdhe-gcm-accepted", func(t *testing.T) {
		t.Parallel()
		accepted(t, []string{"Protocol version: TLSv1.2", "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"},
			"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
	})
	t.Run("tls1.3-accepted", func(t *testing.T) {
		t.Parallel()
		accepted(t, []string{"Protocol version: TLSv1.3"}, "-tls1_3")
	})

	t.Run("plain-mqtt-to-tls-port-closed", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", tlsAddr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(rawConnect{Version: 4, ClientID: "plain-on-tls", Clean: true}.bytes()); err != nil {
			t.Fatal(err)
		}
		res := waitPeerClose(c, opensslHandshakeTimeout+2*time.Second)
		if !res.Closed {
			t.Fatalf("plain CONNECT to the TLS port: still open after %v", res.After)
		}
		if len(res.Data) > 0 && res.Data[0] == tCONNACK<<4 {
			t.Fatalf("plain CONNECT to the TLS port was answered with a CONNACK: % x", res.Data)
		}
		t.Logf("closed after %v (read %d bytes: % x, %v)", res.After.Round(time.Millisecond), len(res.Data), res.Data, res.Err)
		b.log.waitLine(t, 2*time.Second, "TLS handshake failed", "remote=127.0.0.1:"+localPort(c))
	})

	t.Run("silent-client-closed-at-handshake-timeout", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", tlsAddr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res := waitPeerClose(c, opensslHandshakeTimeout+3*time.Second)
		if !res.Closed {
			t.Fatalf("silent client on the TLS port: still open after %v (handshake_timeout %v)", res.After, opensslHandshakeTimeout)
		}
		if res.After < opensslHandshakeTimeout/2 {
			t.Errorf("silent client closed after %v, long before the %v handshake timeout", res.After, opensslHandshakeTimeout)
		}
		t.Logf("silent client closed after %v", res.After.Round(time.Millisecond))
		b.log.waitLine(t, 2*time.Second, "TLS handshake failed", "remote=127.0.0.1:"+localPort(c))
	})

	t.Run("trickling-client-closed-at-handshake-timeout", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", tlsAddr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A TLS record header announcing a 512-byte ClientHello, then one
		// byte every 200 ms: the deadline covers the whole handshake,
		// not each read.
		hello := append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, make([]byte, 501)...)
		trickle(c, hello, 200*time.Millisecond)
		res := waitPeerClose(c, opensslHandshakeTimeout+3*time.Second)
		if !res.Closed {
			t.Fatalf("trickling client on the TLS port: still open after %v (handshake_timeout %v)", res.After, opensslHandshakeTimeout)
		}
		t.Logf("trickling client closed after %v", res.After.Round(time.Millisecond))
		t.Log(b.log.waitLine(t, 2*time.Second, "TLS handshake failed", "remote=127.0.0.1:"+localPort(c)))
	})

	t.Run("tls-to-plain-port-closed", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		out, err := sClient(t, plainAddr, "-tls1_3")
		elapsed := time.Since(start)
		if err == nil {
			t.Fatalf("openssl s_client to the plain tcp port succeeded\n%s", out)
		}
		// The ClientHello reads as a malformed CONNECT (type 1, flags
		// 0x6): the broker closes at once, long before connect_timeout.
		if elapsed > 5*time.Second {
			t.Errorf("TLS ClientHello to the plain port: closed only after %v", elapsed)
		}
		t.Logf("s_client to the plain port ended after %v: %v\n%s", elapsed.Round(time.Millisecond), err, out)
	})
}
