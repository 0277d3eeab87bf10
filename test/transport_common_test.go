package test

// Shared plumbing of the transport tests (test/transport_*_test.go): a
// broker whose log the test can read, listener configurations for the
// test PKI, and waits on raw connections. The peers they drive (openssl,
// haproxy, testssl.sh, mosquitto clients, paho, MQTT.js) come from
// scripts/deps; a missing one skips the test, or fails it when CI is set.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil/syncbuf"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/server"
	"github.com/moatmq/moat/internal/testutil"
)

// transportDir holds the helper scripts of the transport tests, relative
// to the package folder (go test's working directory).
const transportDir = "transport"

// logBuffer is a buffer safe for concurrent writers, with helpers for
// these tests.
type logBuffer struct{ syncbuf.Buffer }

// String is the whole log so far.

// lines returns the log lines that contain every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
		if containsAll(line, parts) {
			out = append(out, line)
		}
	}
	return out
}

// waitLine polls until a log line contains every one of parts and returns
// the first such line; it fails the test after timeout, printing the log.
func (b *logBuffer) waitLine(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ls := b.lines(parts...); len(ls) > 0 {
			return ls[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no broker log line with %q within %v; log:\n%s", parts, timeout, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// transportBroker is a running broker with its log.
type transportBroker struct {
	srv *server.Server
	log *logBuffer
}

// addr is the bound address of listener i ("127.0.0.1:PORT").
func (b *transportBroker) addr(i int) string { return b.srv.Addrs()[i].String() }

// port is the port of listener i.
func (b *transportBroker) port(i int) string {
	_, port, _ := net.SplitHostPort(b.addr(i))
	return port
}

// startTransportBroker is testutil.Start with the log (debug level) kept in
// a buffer the test can search. mutate sets the listeners; the broker stops
// when the test ends.
func startTransportBroker(t testing.TB, mutate func(*config.Config)) *transportBroker {
	t.Helper()
	logs := &logBuffer{}
	_, srv := testutil.StartLogged(t, mutate, logs)
	return &transportBroker{srv: srv, log: logs}
}

// tlsListener is a tls listener on 127.0.0.1:0 serving the PKI's server
// certificate, without client authentication.
func tlsListener(p *testPKI, name string) config.Listener {
	return config.Listener{
		Name:      name,
		Address:   "127.0.0.1:0",
		Transport: "tls",
		TLS:       config.TLS{Cert: p.ServerCert, Key: p.ServerKey},
	}
}

// mtlsListener is tlsListener with client certificates required, verified
// against the PKI's CA and CRL, the identity taken from the email SAN.
func mtlsListener(p *testPKI, name string) config.Listener {
	l := tlsListener(p, name)
	l.TLS.ClientAuth = "required"
	l.TLS.ClientCA = p.CA
	l.TLS.CRLs = []string{p.CRL}
	l.TLS.Identity = "san-email"
	return l
}

// requireTool skips the test (fails it when CI is set) unless every named
// program is on PATH; it returns the path of the first.
func requireTool(t *testing.T, peer string, names ...string) string {
	t.Helper()
	var first string
	requirePeer(t, peer, func(context.Context) (string, error) {
		for i, n := range names {
			p, err := exec.LookPath(n)
			if err != nil {
				return "", err
			}
			if i == 0 {
				first = p
			}
		}
		return first, nil
	})
	return first
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for programs (haproxy) that must be told their port.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// closeWait is what a connection saw until the peer closed it.
type closeWait struct {
	Closed bool          // EOF or reset seen (false: still open at the limit)
	After  time.Duration // from the start of the wait
	Data   []byte        // everything read before the close
	Err    error         // the read error that ended the wait
}

// waitPeerClose reads from c until the peer closes it or limit passes.
func waitPeerClose(c net.Conn, limit time.Duration) closeWait {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	var res closeWait
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		res.Data = append(res.Data, buf[:n]...)
		if err != nil {
			res.After = time.Since(start)
			res.Err = err
			var ne net.Error
			res.Closed = !(errors.As(err, &ne) && ne.Timeout())
			return res
		}
	}
}

// trickle writes data to c one byte every interval from a goroutine,
// stopping at the first write error (the peer closed) or the end of data.
func trickle(c net.Conn, data []byte, interval time.Duration) {
	go func() {
		for _, b := range data {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(interval)
		}
	}()
}

// localPort is the local port of c, as the broker logs it in remote=.
func localPort(c net.Conn) string {
	return strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port)
}

// dialTLS connects to addr with a Go TLS client trusting the PKI's CA,
// presenting cert when non-nil, and completes the handshake.
func dialTLS(addr string, p *testPKI, cert *tls.Certificate, mutate func(*tls.Config)) (*tls.Conn, error) {
	cfg := &tls.Config{RootCAs: p.pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	if mutate != nil {
		mutate(cfg)
	}
	d := &net.Dialer{Timeout: waitTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// rawOver wraps an established connection (TLS, proxied) in a rawClient.
func rawOver(t testing.TB, c net.Conn) *rawClient {
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, conn: c, br: bufio.NewReader(c)}
}

// runTool runs a program with a time limit and returns its combined output
// and exit error; a program still running at the limit fails the test.
func runTool(t testing.TB, limit time.Duration, stdin io.Reader, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v\n%s", name, strings.Join(args, " "), limit, out)
	}
	return string(out), err
}
