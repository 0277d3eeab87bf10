package test

// PROXY protocol through a real load balancer (Debian's haproxy, tcp
// mode, send-proxy-v2 and send-proxy), and the trust rules seen from a
// direct client.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// proxyHeaderTimeout is the proxy_protocol.timeout of the trusted listener.
const proxyHeaderTimeout = time.Second

// haproxyConfig relays two frontends to the same Moat listener, one with a
// PROXY v2 header, one with a v1 header.
const haproxyConfig = `global
	maxconn 100

defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s

frontend v2
	bind 127.0.0.1:%[1]s
	default_backend moat_v2

frontend v1
	bind 127.0.0.1:%[2]s
	default_backend moat_v1

backend moat_v2
	server moat %[3]s send-proxy-v2

backend moat_v1
	server moat %[3]s send-proxy

frontend tls
	bind 127.0.0.1:%[4]s
	default_backend moat_tls

backend moat_tls
	server moat %[5]s send-proxy-v2
`

// haproxyFrontends are the addresses haproxy listens on.
type haproxyFrontends struct {
	V2, V1 string // to the plain listener, PROXY v2 and v1
	TLS    string // to the TLS listener (TLS passthrough), PROXY v2
}

// startHAProxy runs haproxy in the foreground, relaying to the plain Moat
// listener at backend and the TLS one at tlsBackend. It is stopped when
// the test ends.
func startHAProxy(t *testing.T, haproxy, backend, tlsBackend string) haproxyFrontends {
	t.Helper()
	ports := map[string]bool{}
	for len(ports) < 3 {
		ports[freePort(t)] = true
	}
	var free []string
	for p := range ports {
		free = append(free, p)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, haproxyConfig, free[0], free[1], backend, free[2], tlsBackend), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(t, 10*time.Second, nil, haproxy, "-c", "-f", cfg); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, haproxy, "-db", "-f", cfg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start haproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	fe := haproxyFrontends{V2: "127.0.0.1:" + free[0], V1: "127.0.0.1:" + free[1], TLS: "127.0.0.1:" + free[2]}
	for _, a := range []string{fe.V2, fe.V1, fe.TLS} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			select {
			case <-exited:
				t.Fatalf("haproxy exited:\n%s", out.String())
			default:
			}
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy frontend %s not listening: %v\n%s", a, err, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return fe
}

// TestTransport_ProxyProtocol_HAProxy: clients reach Moat through haproxy
// with PROXY v2 and v1 headers, and TLS clients through a passthrough
// frontend with a v2 header; the broker sees the client's own address
// (its port, not haproxy's); mosquitto clients work through it. A direct
// connection sending a header to a listener that does not trust it, or
// sending none to one that does, is closed.
func TestTransport_ProxyProtocol_HAProxy(t *testing.T) {
	t.Parallel()
	haproxy := requireTool(t, "haproxy", "haproxy")
	p := newTestPKI(t)
	tlsBehindProxy := tlsListener(p, "tls-proxied")
	tlsBehindProxy.ProxyProtocol = config.ProxyProtocol{Trusted: []string{"127.0.0.1"}, Timeout: config.Duration(proxyHeaderTimeout)}
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "proxied", Address: "127.0.0.1:0", Transport: "tcp", ProxyProtocol: config.ProxyProtocol{
				Trusted: []string{"127.0.0.1/32"}, Timeout: config.Duration(proxyHeaderTimeout)}},
			{Name: "untrusted", Address: "127.0.0.1:0", Transport: "tcp", ProxyProtocol: config.ProxyProtocol{
				Trusted: []string{"10.255.255.0/24"}}},
			tlsBehindProxy,
		}
	})
	fes := startHAProxy(t, haproxy, b.addr(0), b.addr(2))

	for _, fe := range []struct{ name, addr string }{{"v2", fes.V2}, {"v1", fes.V1}} {
		t.Run("haproxy-"+fe.name+"/real-address", func(t *testing.T) {
			t.Parallel()
			rc := dialRaw(t, fe.addr, false)
			id := "via-haproxy-" + fe.name
			rc.connect(rawConnect{Version: 4, ClientID: id, Clean: true})
			rc.ping()
			// haproxy's own connection to Moat has another source port;
			// only the PROXY header carries this one.
			line := b.log.waitLine(t, 5*time.Second, "client connected", "client_id="+id)
			t.Log(line)
			if want := "remote=127.0.0.1:" + localPort(rc.conn); !strings.Contains(line, want) {
				t.Errorf("broker logged the connection as\n%s\nwant %s (the client's address from the PROXY %s header)", line, want, fe.name)
			}
		})
		t.Run("haproxy-"+fe.name+"/mosquitto", func(t *testing.T) {
			t.Parallel()
			requireMosquitto(t)
			host, port, _ := net.SplitHostPort(fe.addr)
			m := mosqClients{host: host, port: port, version: "mqttv5"}
			topic := "transport/haproxy/" + fe.name
			s := m.sub(t, "-t", topic, "-q", "1", "-C", "1")
			m.pub(t, "-t", topic, "-m", "through haproxy "+fe.name, "-q", "1")
			if msgs := s.wait(t); len(msgs) != 1 || msgs[0].Payload != "through haproxy "+fe.name {
				t.Fatalf("subscriber got %v", msgs)
			}
		})
	}

	// TLS passthrough: haproxy relays the TLS stream after its header;
	// Moat reads the header, then runs the handshake.
	t.Run("haproxy-tls/real-address", func(t *testing.T) {
		t.Parallel()
		nc, err := net.DialTimeout("tcp", fes.TLS, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(nc, &tls.Config{RootCAs: p.pool(), ServerName: "127.0.0.1"})
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		if err := c.Handshake(); err != nil {
			t.Fatalf("TLS through haproxy: %v\nbroker log:\n%s", err, b.log.String())
		}
		_ = c.SetDeadline(time.Time{})
		rc := rawOver(t, c)
		rc.connect(rawConnect{Version: 4, ClientID: "via-haproxy-tls", Clean: true})
		line := b.log.waitLine(t, 5*time.Second, "client connected", "client_id=via-haproxy-tls")
		t.Log(line)
		if want := "remote=127.0.0.1:" + localPort(nc); !strings.Contains(line, want) {
			t.Errorf("broker logged the TLS connection as\n%s\nwant %s", line, want)
		}
	})
	t.Run("haproxy-tls/mosquitto", func(t *testing.T) {
		t.Parallel()
		requireMosquitto(t)
		host, port, _ := net.SplitHostPort(fes.TLS)
		m := mosqClients{host: host, port: port, version: "mqttv311"}
		topic := "transport/haproxy/tls"
		s := m.sub(t, "-t", topic, "-q", "1", "-C", "1", "--cafile", p.CA)
		m.pub(t, "-t", topic, "-m", "TLS through haproxy", "-q", "1", "--cafile", p.CA)
		if msgs := s.wait(t); len(msgs) != 1 || msgs[0].Payload != "TLS through haproxy" {
			t.Fatalf("subscriber got %v", msgs)
		}
	})

	t.Run("untrusted-source-with-header-closed", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", b.addr(1), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hdr := "PROXY TCP4 192.0.2.7 127.0.0.1 40000 1883\r\n"
		_, _ = c.Write(append([]byte(hdr), rawConnect{Version: 4, ClientID: "spoofer", Clean: true}.bytes()...))
		res := waitPeerClose(c, 3*time.Second)
		if !res.Closed || res.After > time.Second {
			t.Fatalf("PROXY header from an untrusted source: closed=%v after %v (data % x)", res.Closed, res.After, res.Data)
		}
		if len(res.Data) > 0 {
			t.Errorf("PROXY header from an untrusted source was answered: % x", res.Data)
		}
		t.Log(b.log.waitLine(t, 2*time.Second, "PROXY protocol refused", "listener=untrusted", "remote=127.0.0.1:"+localPort(c)))
		if ls := b.log.lines("client_id=spoofer"); len(ls) > 0 {
			t.Errorf("spoofed connection reached MQTT: %q", ls)
		}
	})

	t.Run("trusted-source-silent-closed-at-timeout", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", b.addr(0), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res := waitPeerClose(c, proxyHeaderTimeout+3*time.Second)
		if !res.Closed {
			t.Fatalf("trusted source without a header: still open after %v (timeout %v)", res.After, proxyHeaderTimeout)
		}
		if res.After < proxyHeaderTimeout/2 {
			t.Errorf("trusted source without a header: closed after %v, before the %v timeout", res.After, proxyHeaderTimeout)
		}
		t.Logf("closed after %v", res.After.Round(time.Millisecond))
		t.Log(b.log.waitLine(t, 2*time.Second, "PROXY protocol refused", "listener=proxied", "remote=127.0.0.1:"+localPort(c), "timeout"))
	})

	t.Run("trusted-source-trickling-header-closed-at-timeout", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", b.addr(0), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A valid v1 header, one byte every 100 ms (about 4 s in all):
		// the timeout bounds the whole header, not each read.
		trickle(c, []byte("PROXY TCP4 192.0.2.7 127.0.0.1 40000 1883\r\n"), 100*time.Millisecond)
		res := waitPeerClose(c, proxyHeaderTimeout+3*time.Second)
		if !res.Closed || res.After > proxyHeaderTimeout+time.Second {
			t.Fatalf("trickled PROXY header: closed=%v after %v (timeout %v)", res.Closed, res.After, proxyHeaderTimeout)
		}
		t.Logf("closed after %v", res.After.Round(time.Millisecond))
	})

	t.Run("trusted-source-mqtt-without-header-closed", func(t *testing.T) {
		t.Parallel()
		c, err := net.DialTimeout("tcp", b.addr(0), waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write(rawConnect{Version: 4, ClientID: "no-header", Clean: true}.bytes())
		res := waitPeerClose(c, proxyHeaderTimeout+3*time.Second)
		if !res.Closed || len(res.Data) > 0 {
			t.Fatalf("CONNECT without a PROXY header from a trusted source: closed=%v after %v, data % x",
				res.Closed, res.After, res.Data)
		}
		t.Log(b.log.waitLine(t, 2*time.Second, "PROXY protocol refused", "listener=proxied", "remote=127.0.0.1:"+localPort(c)))
		if ls := b.log.lines("client_id=no-header", "client connected"); len(ls) > 0 {
			t.Errorf("connection without a header reached MQTT: %q", ls)
		}
	})
}
