package listener

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTP server bounds for the WebSocket upgrade.
const (
	defaultHTTPTimeout = 10 * time.Second
	httpMaxHeaderBytes = 8 << 10
	httpIdleTimeout    = 30 * time.Second
)

// startHTTP serves prepared connections (after PROXY, admission and TLS)
// with an HTTP server whose handler upgrades them to WebSocket.
func (l *TCP) startHTTP() {
	q := &connQueue{ch: make(chan net.Conn), done: make(chan struct{}), addr: l.ln.Addr()}
	timeout := l.HTTPTimeout
	if timeout <= 0 {
		timeout = defaultHTTPTimeout
	}
	hs := &http.Server{
		Handler:           l.HTTP,
		ReadHeaderTimeout: timeout,
		ReadTimeout:       timeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		IdleTimeout:       httpIdleTimeout,
		// HTTP/2 is never negotiated: TLS is done before the HTTP server
		// sees the connection, and h2c is not enabled.
		ErrorLog: nil,
	}
	l.mu.Lock()
	l.conns, l.http = q, hs
	l.mu.Unlock()
	go func() { _ = hs.Serve(q) }()
}

// connQueue is the net.Listener the HTTP server accepts from: it yields the
// connections the TCP listener prepared.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

// put hands c to the HTTP server; false when the listener closed.
func (q *connQueue) put(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) close() { q.once.Do(func() { close(q.done) }) }

// Accept implements net.Listener.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (q *connQueue) Close() error { q.close(); return nil }

// Addr implements net.Listener.
func (q *connQueue) Addr() net.Addr { return q.addr }
