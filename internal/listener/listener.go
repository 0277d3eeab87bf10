// Package listener accepts network connections and hands them to a
// callback. It never imports the broker: the server wires the callback.
// Admission runs on accept, before any per-connection work (and, once TLS
// lands, before any handshake).
package listener

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Admit decides on accept whether a connection from remote may proceed. It
// must be fast; a refused connection is closed at once.
type Admit func(listener string, remote netip.AddrPort) bool

// Handler serves one accepted connection on its own goroutine.
type Handler func(nc net.Conn, listener string, remote netip.AddrPort)

// TCP is a plain TCP listener.
type TCP struct {
	Name    string
	Address string
	Admit   Admit // nil admits everything
	Handle  Handler
	Log     *slog.Logger // nil: slog.Default()

	mu     sync.Mutex
	ln     net.Listener
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
		remote := addrPort(nc.RemoteAddr())
		if l.Admit != nil && !l.Admit(l.Name, remote) {
			nc.Close()
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.Handle(nc, l.Name, remote)
		}()
	}
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
// the broker's to end.
func (l *TCP) Close() error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	ln := l.ln
	l.mu.Unlock()
	if ln == nil || already {
		return nil
	}
	return ln.Close()
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
