package test

// Certificate hot reload: new files, Server.Reload, established
// connections untouched, new handshakes see the new certificate; a broken
// file makes Reload fail and keeps the certificate in use.

import (
	"crypto/tls"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// reloader is the part of *server.Server the test needs; asserted at run
// time so that the file compiles before Reload exists.
type reloader interface{ Reload() error }

// TestTransport_CertificateReload overwrites the server certificate and
// key files, calls Reload, and checks that a client connected before
// keeps working (ping, and it receives a publish from a client connected
// after) while the new client sees the new certificate's serial.
func TestTransport_CertificateReload(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{tlsListener(p, "tls")}
	})
	r, ok := any(b.srv).(reloader)
	if !ok {
		t.Skip("server.Server has no Reload method yet")
	}
	addr := b.addr(0)
	serialOf := func(c *tls.Conn) *big.Int { return c.ConnectionState().PeerCertificates[0].SerialNumber }

	oldSerial := p.serial
	before, err := dialTLS(addr, p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := serialOf(before); got.Cmp(oldSerial) != 0 {
		t.Fatalf("before reload: server certificate serial %x, want %x", got, oldSerial)
	}
	old := rawOver(t, before)
	old.connect(rawConnect{Version: 4, ClientID: "reload-before", Clean: true, KeepAlive: 60})
	if code := old.subscribe(1, "transport/reload", 0, nil); code != 0 {
		t.Fatalf("SUBACK %#x", code)
	}

	newSerial := p.rotateServer(t)
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload after rotating the server certificate: %v\nbroker log:\n%s", err, b.log.String())
	}

	after, err := dialTLS(addr, p, nil, nil)
	if err != nil {
		t.Fatalf("handshake after reload: %v", err)
	}
	if got := serialOf(after); got.Cmp(newSerial) != 0 {
		t.Fatalf("after reload: server certificate serial %x, want the new %x (old %x)", got, newSerial, oldSerial)
	}
	fresh := rawOver(t, after)
	fresh.connect(rawConnect{Version: 4, ClientID: "reload-after", Clean: true})
	fresh.send(rawPublish{Topic: "transport/reload", Payload: []byte("after reload")}.bytes(false))

	// The connection made before the reload still works both ways.
	if other := old.ping(); len(other) == 0 {
		got := parsePublish(t, old.expect(tPUBLISH), false)
		if string(got.Payload) != "after reload" {
			t.Fatalf("connection from before the reload received %q", got.Payload)
		}
	} else if got := parsePublish(t, other[0], false); string(got.Payload) != "after reload" {
		t.Fatalf("connection from before the reload received %q", got.Payload)
	}
	if got := serialOf(before); got.Cmp(oldSerial) != 0 {
		t.Fatalf("established connection's certificate changed to %x", got)
	}

	t.Run("broken-files-keep-the-current-certificate", func(t *testing.T) {
		if err := os.WriteFile(p.ServerKey, []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(); err == nil {
			t.Fatal("Reload with a broken key file succeeded")
		} else {
			t.Logf("Reload refused the broken key: %v", err)
		}
		c, err := dialTLS(addr, p, nil, nil)
		if err != nil {
			t.Fatalf("handshake after a failed reload: %v", err)
		}
		defer c.Close()
		if got := serialOf(c); got.Cmp(newSerial) != 0 {
			t.Fatalf("after a failed reload: serial %x, want the current %x", got, newSerial)
		}
		fresh.ping()
	})
}

// TestTransport_CRLReload revokes the certificate of a connected client
// in crl.pem and calls Reload: new handshakes with that certificate are
// refused as revoked; the connection established before is kept, as
// documented (reload affects only new handshakes).
func TestTransport_CRLReload(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{mtlsListener(p, "mtls")}
	})
	r, ok := any(b.srv).(reloader)
	if !ok {
		t.Skip("server.Server has no Reload method yet")
	}
	addr := b.addr(0)
	cert := p.clientPair(t, clientValid)
	c, err := dialTLS(addr, p, &cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := rawOver(t, c)
	before.connect(rawConnect{Version: 4, ClientID: "crl-before", Clean: true})

	// Session tickets obtained before the revocation, per TLS version:
	// a resumed session carries the certificate without sending it.
	caches := map[uint16]tls.ClientSessionCache{}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		caches[v] = tls.NewLRUClientSessionCache(4)
		sc, err := dialTLS(addr, p, &cert, func(c *tls.Config) { c.MaxVersion, c.ClientSessionCache = v, caches[v] })
		if err != nil {
			t.Fatal(err)
		}
		// CONNACK read: the client has processed the TLS 1.3 ticket.
		rawOver(t, sc).connect(rawConnect{Version: 4, ClientID: "crl-ticket", Clean: true})
		sc.Close()
	}

	p.revoke(t, clientValid)
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload with a new CRL: %v", err)
	}
	nc, err := dialTLS(addr, p, &cert, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 })
	if err == nil {
		nc.Close()
		t.Fatal("handshake with a certificate revoked by the reloaded CRL succeeded")
	}
	t.Log(b.log.waitLine(t, 5*time.Second, "TLS handshake failed", "revoked"))

	for v, name := range map[uint16]string{tls.VersionTLS12: "tls1.2", tls.VersionTLS13: "tls1.3"} {
		t.Run("resumed-session-refused/"+name, func(t *testing.T) {
			rc, err := dialTLS(addr, p, &cert, func(c *tls.Config) { c.MaxVersion, c.ClientSessionCache = v, caches[v] })
			if err != nil {
				t.Logf("resumption refused in the handshake: %v", err)
				return
			}
			defer rc.Close()
			resumed := rc.ConnectionState().DidResume
			_ = rc.SetDeadline(time.Now().Add(waitTimeout))
			if _, err := rc.Write(rawConnect{Version: 4, ClientID: "crl-resumed", Clean: true}.bytes()); err == nil {
				buf := make([]byte, 16)
				if n, err := rc.Read(buf); err == nil {
					t.Fatalf("revoked certificate accepted on a %s session (resumed: %v): broker answered % x", name, resumed, buf[:n])
				} else {
					t.Logf("refused after the client's handshake (resumed: %v): %v", resumed, err)
				}
			}
		})
	}
	before.ping()
}
