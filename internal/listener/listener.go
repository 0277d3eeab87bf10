// Package listener accepts network connections and hands them to a
// callback. It never imports the broker: the server wires the callback.
//
// Each accepted connection goes through these steps on its own goroutine,
// so that a slow or hostile peer never holds up the accept loop:
//
//  1. PROXY protocol (when configured): the real client address, honoured
//     only from trusted sources, within its deadline;
//  2. admission on the real address, before any TLS work;
//  3. the TLS handshake (tls and wss), within its deadline;
//  4. for ws and wss, an HTTP server that upgrades to WebSocket;
//  5. the handler.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Admit decides on accept whether a connection from remote may proceed. It
// must be fast; a refused connection is closed at once.
type Admit func(listener string, remote netip.AddrPort) bool

// Accepted is a connection ready for MQTT.
type Accepted struct {
	Conn     net.Conn
	Listener string
	Remote   netip.AddrPort       // the real client (after PROXY protocol)
	TLS      *tls.ConnectionState // nil without TLS
}

// Handler serves one connection; it returns when the connection ends.
type Handler func(a Accepted)

// ProxyFunc applies the PROXY protocol to an accepted connection: it
// returns the connection to use (whose RemoteAddr is the real client) or an
// error, which closes it.
type ProxyFunc func(nc net.Conn) (net.Conn, error)

// TCP is a listener for every transport: plain TCP, TLS, and (with HTTP
// set) WebSocket over either.
type TCP struct {
	Name    string
	Address string
	Admit   Admit // nil admits everything
	// Release, when set, runs once for every connection Admit admitted,
	// when it is over.
	Release func(listener string, remote netip.AddrPort)
	Proxy   ProxyFunc // nil: no PROXY protocol
	// TLS, when set, makes the listener run a TLS handshake bounded by
	// HandshakeTimeout (default 10s).
	TLS              *tls.Config
	HandshakeTimeout time.Duration
	// HTTP, when set, serves connections with an HTTP server (the
	// WebSocket upgrade handler, which calls the MQTT handler itself)
	// instead of Handle.
	HTTP http.Handler
	// HTTPTimeout bounds reading the upgrade request (default 10s).
	HTTPTimeout time.Duration
	Handle      Handler
	Log         *slog.Logger // nil: slog.Default()
	// Handshake, when set, hears of each TLS handshake's outcome (err nil:
	// it succeeded).
	Handshake func(listener string, remote netip.AddrPort, err error)

	mu     sync.Mutex
	ln     net.Listener
	http   *http.Server
	conns  *connQueue
	wg     sync.WaitGroup
	closed bool
}

// Listen binds the address. Serve must be called to accept.
func (l *TCP) Listen() error {
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	return nil
}

// Addr reports the bound address.
func (l *TCP) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Serve accepts until Close. Temporary accept errors (such as running out of
// file descriptors) back off exponentially up to one second instead of
// spinning.
func (l *TCP) Serve() {
	if l.HTTP != nil {
		l.startHTTP()
	}
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.logger().Warn("accept failed; backing off", "listener", l.Name, "error", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.prepare(nc)
		}()
	}
}

// prepare runs the PROXY, admission and TLS steps, then hands the
// connection over.
func (l *TCP) prepare(nc net.Conn) {
	a, release, ok := l.admit(nc)
	if !ok {
		return
	}
	if l.HTTP != nil {
		// The HTTP server and the WebSocket handler own the connection
		// (release runs when it is closed, see admit).
		if !l.conns.put(a.Conn) {
			a.Conn.Close()
		}
		return
	}
	if a.TLS == nil {
		defer release()
		l.Handle(a)
		return
	}
	// The handshake may have grown this goroutine's stack (key exchange
	// and certificate code keep large values on the stack), and Go
	// shrinks a stack only by half per garbage collection, which an idle
	// broker seldom runs. The connection, which may stay idle for days,
	// gets a fresh goroutine whose stack starts small; this one ends and
	// its stack is freed (docs/performance.md has the measurement).
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer release()
		l.Handle(a)
	}()
}

// admit runs the PROXY, admission and TLS steps. When ok, the connection
// is ready for MQTT and release must be called once when it is over (for
// HTTP listeners, closing the connection does it and release does
// nothing); when not ok, the connection is closed and released.
func (l *TCP) admit(nc net.Conn) (a Accepted, release func(), ok bool) {
	if l.Proxy != nil {
		pc, err := l.Proxy(nc)
		if err != nil {
			l.logger().Info("PROXY protocol refused", "listener", l.Name, "remote", nc.RemoteAddr().String(), "error", err)
			nc.Close()
			return a, nil, false
		}
		nc = pc
	}
	remote := addrPort(nc.RemoteAddr())
	if l.Admit != nil && !l.Admit(l.Name, remote) {
		nc.Close()
		return a, nil, false
	}
	release = func() {}
	if l.Release != nil {
		if l.HTTP != nil {
			// The HTTP server and the WebSocket handler own the connection
			// past prepare: release when it is closed.
			nc = &releasingConn{Conn: nc, release: func() { l.Release(l.Name, remote) }}
		} else {
			release = func() { l.Release(l.Name, remote) }
		}
	}
	a = Accepted{Conn: nc, Listener: l.Name, Remote: remote}
	if l.TLS != nil {
		tc, err := l.handshake(nc)
		if err != nil {
			l.logger().Info("TLS handshake failed", "listener", l.Name, "remote", remote, "error", err)
			if l.Handshake != nil {
				l.Handshake(l.Name, remote, err)
			}
			nc.Close()
			release()
			return a, nil, false
		}
		if l.Handshake != nil {
			l.Handshake(l.Name, remote, nil)
		}
		st := tc.ConnectionState()
		a.Conn, a.TLS = tc, &st
	}
	return a, release, true
}

func (l *TCP) handshake(nc net.Conn) (*tls.Conn, error) {
	timeout := l.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tc := tls.Server(nc, l.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

func (l *TCP) logger() *slog.Logger {
	if l.Log == nil {
		return slog.Default()
	}
	return l.Log
}

func (l *TCP) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops accepting; it is idempotent. Established connections are
// the broker's to end; WebSocket connections still in their HTTP upgrade
// are closed.
func (l *TCP) Close() error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	ln, hs, q := l.ln, l.http, l.conns
	l.mu.Unlock()
	if ln == nil || already {
		return nil
	}
	err := ln.Close()
	if q != nil {
		q.close()
	}
	if hs != nil {
		// Closes idle and upgrading connections; hijacked (upgraded)
		// WebSocket connections belong to their handlers.
		_ = hs.Close()
	}
	return err
}

// Wait blocks until every handler returned.
func (l *TCP) Wait() { l.wg.Wait() }

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// releasingConn calls release once, at its first Close.
type releasingConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close implements net.Conn.
func (c *releasingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
