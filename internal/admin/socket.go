package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Socket is the API served on a local Unix socket.
type Socket struct {
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Timeouts of the socket's server.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = 60 * time.Second
	idleTimeout  = 60 * time.Second
)

// maxSocketPath is the longest path a Unix socket address holds on Linux
// (sun_path is 108 bytes, NUL included).
const maxSocketPath = 107

// Listen binds the socket at path for h. A stale socket file (no broker
// answering) is replaced; a live one means another broker uses this data
// directory, and is an error.
func Listen(path string, h http.Handler, log *slog.Logger) (*Socket, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin socket %s: path longer than %d bytes; set admin.socket to a shorter path", path, maxSocketPath)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	s := &Socket{path: path, ln: &peerListener{Listener: ln, log: log}, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
			IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10, ConnContext: withOperator,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(s.ln)
	}()
	return s, nil
}

// Path is where the socket is.
func (s *Socket) Path() string { return s.path }

// Close stops serving, waits for requests in flight (up to ctx), and
// removes the socket file.
func (s *Socket) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	_ = os.Remove(s.path)
	return err
}

type operatorKey struct{}

// withOperator records who is on the other end of c for the audit record.
func withOperator(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*peerConn); ok {
		return context.WithValue(ctx, operatorKey{}, pc.who)
	}
	return ctx
}

// operator names who made r.
func operator(r *http.Request) string {
	if who, ok := r.Context().Value(operatorKey{}).(string); ok {
		return who
	}
	return "unknown"
}

// removeStale removes a socket file nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin socket %s: exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("admin socket %s: another broker is serving on it (same data directory?)", path)
	}
	return os.Remove(path)
}

// peerConn is an accepted connection with its peer's description.
type peerConn struct {
	net.Conn
	who string
}

// peerListener drops connections from other users before any byte is read.
type peerListener struct {
	net.Listener
	log *slog.Logger
}

// Accept implements net.Listener.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		who, err := checkPeer(c)
		if err != nil {
			l.log.Warn("admin socket: connection refused", "reason", err.Error())
			c.Close()
			continue
		}
		return &peerConn{Conn: c, who: who}, nil
	}
}
