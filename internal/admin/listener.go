package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/audit"
)

// Guard authenticates the requests of the network admin listener: a bearer
// token from Tokens, or a client certificate verified by the listener's
// client CA. Monitoring paths may be public. Failures count toward the
// brute-force defence of the source address.
type Guard struct {
	Tokens *Tokens
	// PublicMetrics serves /metrics without authentication (health and
	// readiness are always public: they tell nothing).
	PublicMetrics bool
	// Banned reports whether an address is banned; Failed counts an
	// authentication failure and returns how long to wait before
	// answering. Both may be nil.
	Banned func(netip.Addr) bool
	Failed func(netip.Addr) time.Duration
	Audit  audit.Sink
	Next   http.Handler
}

// ServeHTTP implements http.Handler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	addr := remote.Addr().Unmap()
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || (g.PublicMetrics && r.URL.Path == "/metrics") {
		g.Next.ServeHTTP(w, r)
		return
	}
	if g.Banned != nil && g.Banned(addr) {
		writeError(w, http.StatusForbidden, errors.New("banned"))
		return
	}
	who, why := g.authenticate(r)
	if who == "" {
		g.Audit.Record(audit.Event{Kind: audit.AuthFailure, Listener: "admin", Remote: remote, Method: "admin",
			Detail: r.Method + " " + r.URL.Path + ": " + why})
		if g.Failed != nil {
			if d := g.Failed(addr); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
				}
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="moat"`)
		writeError(w, http.StatusUnauthorized, errors.New(why))
		return
	}
	g.Next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), operatorKey{}, who)))
}

// authenticate names the caller ("token NAME", "certificate CN"), or
// says why not.
func (g *Guard) authenticate(r *http.Request) (who, why string) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return "certificate " + r.TLS.VerifiedChains[0][0].Subject.CommonName, ""
	}
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return "", "authentication required: Authorization: Bearer TOKEN (moat admin token add), or a client certificate"
	}
	if g.Tokens == nil {
		return "", "no tokens are configured"
	}
	if name, ok := g.Tokens.Check(token); ok {
		return "token " + name, ""
	}
	return "", "invalid token"
}

// Server is the HTTPS admin listener.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// ListenTLS binds addr and serves h over TLS with cfg.
func ListenTLS(addr string, cfg *tls.Config, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), srv: &http.Server{Handler: h, TLSConfig: cfg,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(tls.NewListener(ln, cfg))
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving, waiting for requests in flight up to ctx.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
