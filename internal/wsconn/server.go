package wsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// maxHeaderBytes bounds the upgrade request's header block (net/http adds
// 4 KiB of slack on top).
const maxHeaderBytes = 8 << 10

// Server serves the WebSocket endpoint on listeners of its own: an
// http.Server speaking HTTP/1.1 only, with every phase before the upgrade
// bounded by Options.HandshakeTimeout, and a registry of upgraded
// connections, which http.Server forgets once hijacked, so that Close and
// Shutdown can end them.
type Server struct {
	hs  *http.Server
	reg *registry
}

// NewServer returns a Server that upgrades per o and calls serve for each
// connection, as Handler does.
func NewServer(o Options, serve func(net.Conn, netip.AddrPort)) *Server {
	o = o.withDefaults()
	reg := &registry{conns: map[*conn]struct{}{}}
	var protos http.Protocols
	protos.SetHTTP1(true)
	hs := &http.Server{
		Handler:           newHandler(o, serve, reg),
		ReadHeaderTimeout: o.HandshakeTimeout,
		ReadTimeout:       o.HandshakeTimeout, // cleared after the upgrade
		WriteTimeout:      o.HandshakeTimeout, // cleared after the upgrade
		IdleTimeout:       o.HandshakeTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         &protos,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
	}
	return &Server{hs: hs, reg: reg}
}

// Serve accepts on ln (plain TCP, or a TLS listener whose config does not
// offer "h2") until Close or Shutdown, then returns nil; any other accept
// failure is returned. Serve may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	err := s.hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listeners and drops every connection, upgraded or not,
// without a close handshake. It does not wait for serve callbacks to
// return; they see read and write errors at once.
func (s *Server) Close() error {
	err := s.hs.Close()
	for _, c := range s.reg.closeAll() {
		c.closeNow()
	}
	return err
}

// Shutdown stops the listeners, refuses further upgrades and waits for
// every serve callback to return (the broker is expected to disconnect its
// clients). When ctx ends first it drops the remaining connections as Close
// does and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	live := s.reg.closeAll()
	select {
	case <-s.reg.idle():
		return err
	case <-ctx.Done():
		for _, c := range live {
			c.closeNow()
		}
		return ctx.Err()
	}
}

// registry tracks the upgraded connections whose serve callback is running.
// A nil registry (standalone Handler) tracks nothing. mu guards all fields.
type registry struct {
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// add registers c; false once the server is closing, and c must then not be
// served.
func (r *registry) add(c *conn) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	r.wg.Add(1)
	return true
}

func (r *registry) remove(c *conn) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; ok {
		delete(r.conns, c)
		r.wg.Done()
	}
}

// closeAll refuses further additions and returns the live connections.
func (r *registry) closeAll() []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	live := make([]*conn, 0, len(r.conns))
	for c := range r.conns {
		live = append(live, c)
	}
	return live
}

// idle is closed once every registered connection is removed. Call it only
// after closeAll, so that no addition races the wait.
func (r *registry) idle() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(ch)
	}()
	return ch
}
