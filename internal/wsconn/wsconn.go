// Package wsconn carries MQTT over WebSocket, as MQTT 5.0 section 6
// describes: binary frames only, a byte stream that ignores frame
// boundaries, and the "mqtt" subprotocol. It hands the broker a net.Conn
// and knows nothing of MQTT packets.
//
// The refusal rules, in the order they are checked:
//
//  1. a path other than Options.Path: 404;
//  2. an Origin header the policy does not allow (see Options.AllowedOrigins),
//     or more than one Origin header: 403;
//  3. no "mqtt" (or legacy "mqttv3.1") subprotocol offered: 400, before any
//     upgrade [MQTT-6.0.0-3];
//  4. anything that is not a valid RFC 6455 handshake (method, Upgrade and
//     Connection headers, version, key): the status coder/websocket picks
//     (405, 426 or 400).
//
// After the upgrade a text message closes the connection with 1003
// [MQTT-6.0.0-1], a message larger than MaxMessageSize closes it with 1009,
// and compression is never negotiated.
package wsconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Subprotocols offered by MQTT clients. SubprotocolMQTT is the one the
// specification names [MQTT-6.0.0-3]; SubprotocolLegacy is sent by old MQTT
// 3.1 clients and is accepted only when "mqtt" is not offered.
const (
	SubprotocolMQTT   = "mqtt"
	SubprotocolLegacy = "mqttv3.1"
)

// Defaults applied to zero Options fields.
const (
	DefaultPath             = "/mqtt"
	DefaultMaxMessageSize   = 1<<20 + 1<<10 // the broker's default 1 MiB packet limit plus slack
	DefaultHandshakeTimeout = 10 * time.Second
)

// closeGrace bounds the WebSocket close handshake in Conn.Close: after it
// the transport is closed whatever the peer does.
const closeGrace = 2 * time.Second

// Options configures the WebSocket endpoint. The zero value is usable: path
// "/mqtt", no cross-origin requests, DefaultMaxMessageSize and
// DefaultHandshakeTimeout.
type Options struct {
	// Path is the only request path upgraded; other paths get 404.
	// Empty means DefaultPath.
	Path string
	// AllowedOrigins decides requests that carry an Origin header (browsers
	// send one; other clients usually do not). Requests without an Origin
	// header are always accepted. "*" accepts every origin. An entry with a
	// scheme ("https://app.example.com", "http://localhost:8080") must equal
	// the request's origin; an entry without ("app.example.com",
	// "app.example.com:8443") must equal the origin's host and port, under
	// any scheme. Comparison ignores case; no other wildcards exist. Empty:
	// every request with an Origin header is refused with 403, even a
	// same-origin one.
	AllowedOrigins []string
	// MaxMessageSize is the read limit per WebSocket message; a larger
	// message closes the connection with 1009. Set it to the broker's
	// maximum packet size plus some slack. Zero means DefaultMaxMessageSize.
	MaxMessageSize int64
	// HandshakeTimeout bounds the HTTP upgrade: Server uses it as the HTTP
	// server's header read, request read, response write and idle timeout;
	// Handler uses it as the write deadline of the upgrade response. Zero
	// means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Log receives refusals at debug level. Nil means slog.Default().
	Log *slog.Logger
}

// Validate reports every problem in o, each prefixed with its field name.
// Handler and NewServer do not validate; a malformed AllowedOrigins entry
// simply matches nothing.
func (o Options) Validate() error {
	var errs []error
	if o.Path != "" && !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("path: %q must start with /", o.Path))
	}
	for i, e := range o.AllowedOrigins {
		if _, err := parseOriginEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("allowed_origins[%d]: %w", i, err))
		}
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("max_message_size: %d is negative", o.MaxMessageSize))
	}
	if o.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("handshake_timeout: %v is negative", o.HandshakeTimeout))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Handler returns an http.Handler that upgrades requests on o.Path and calls
// serve on the request goroutine with a net.Conn that reads and writes
// binary WebSocket messages, and the client address parsed from
// r.RemoteAddr (the zero AddrPort when it does not parse). Each Write is
// one binary message; Read returns the bytes of successive messages as one
// stream. Close sends a normal (1000) close frame and waits at most two
// seconds for the peer's answer. serve blocks for the life of the MQTT
// connection; when it returns the connection is closed if it is not yet.
// As with any websocket.NetConn, a deadline that passes while a Read or
// Write is blocked closes the whole connection, not just that call.
//
// The http.Server running Handler must bound the request itself
// (ReadHeaderTimeout); deadlines it left on the connection are cleared after
// the upgrade, so the WebSocket outlives ReadTimeout and WriteTimeout.
func Handler(o Options, serve func(nc net.Conn, remote netip.AddrPort)) http.Handler {
	return newHandler(o, serve, nil)
}

// handler implements Handler; reg is the Server's connection registry, nil
// for a standalone Handler.
type handler struct {
	o       Options
	origins originPolicy
	serve   func(net.Conn, netip.AddrPort)
	reg     *registry
}

func newHandler(o Options, serve func(net.Conn, netip.AddrPort), reg *registry) *handler {
	o = o.withDefaults()
	return &handler{o: o, origins: newOriginPolicy(o.AllowedOrigins), serve: serve, reg: reg}
}

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.o.Log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "reason", reason, "status", status)
	http.Error(w, reason, status)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != h.o.Path {
		h.refuse(w, r, http.StatusNotFound, "not found")
		return
	}
	if !h.origins.allow(r.Header.Values("Origin")) {
		h.refuse(w, r, http.StatusForbidden, "origin not allowed")
		return
	}
	// coder/websocket's Accept negotiates the empty subprotocol when none of
	// its list matches, so the refusal happens here, before the upgrade.
	sub := selectSubprotocol(r.Header.Values("Sec-WebSocket-Protocol"))
	if sub == "" {
		h.refuse(w, r, http.StatusBadRequest, `subprotocol "mqtt" required`) // [MQTT-6.0.0-3]
		return
	}
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(h.o.HandshakeTimeout))
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols:       []string{sub},
		InsecureSkipVerify: true, // the origin policy above is stricter than Accept's
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		h.o.Log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "error", err)
		if hw.raw == nil {
			_ = rc.SetWriteDeadline(time.Time{}) // the connection may serve another request
		}
		return // Accept wrote the response
	}
	if hw.raw != nil {
		// The HTTP server's read and write deadlines survive the hijack.
		_ = hw.raw.SetDeadline(time.Time{})
	}
	if ws.Subprotocol() == "" { // cannot happen after the check above; fail closed
		_ = ws.Close(websocket.StatusProtocolError, "subprotocol mqtt required")
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary) // [MQTT-6.0.0-1]
	ws.SetReadLimit(h.o.MaxMessageSize)                       // after NetConn, which removes the limit
	c := &conn{Conn: nc, ws: ws, cancel: cancel, raw: hw.raw, tls: r.TLS}
	if !h.reg.add(c) { // the Server is closing
		c.closeNow()
		cancel()
		return
	}
	defer h.reg.remove(c) // after Close, so Shutdown waits for the close handshake
	defer c.Close()
	h.serve(c, remote)
}

// selectSubprotocol returns the client's spelling of "mqtt" if offered,
// else of "mqttv3.1", else "". Matching ignores case.
func selectSubprotocol(values []string) string {
	var legacy string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			switch {
			case strings.EqualFold(t, SubprotocolMQTT):
				return t
			case strings.EqualFold(t, SubprotocolLegacy) && legacy == "":
				legacy = t
			}
		}
	}
	return legacy
}

// originPolicy is AllowedOrigins compiled: any, exact origins
// ("scheme://host[:port]", lower case) and hosts ("host[:port]").
type originPolicy struct {
	any     bool
	origins map[string]bool
	hosts   map[string]bool
}

// originEntry is one parsed AllowedOrigins entry.
type originEntry struct {
	any          bool
	origin, host string
}

func parseOriginEntry(e string) (originEntry, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	if e == "*" {
		return originEntry{any: true}, nil
	}
	if strings.Contains(e, "*") {
		return originEntry{}, fmt.Errorf("%q: only a lone \"*\" is a wildcard", e)
	}
	if !strings.Contains(e, "://") {
		if e == "" || strings.ContainsAny(e, "/@ ") {
			return originEntry{}, fmt.Errorf("%q: want host[:port] or scheme://host[:port]", e)
		}
		return originEntry{host: e}, nil
	}
	u, err := url.Parse(strings.TrimSuffix(e, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return originEntry{}, fmt.Errorf("%q: want scheme://host[:port] with nothing after", e)
	}
	return originEntry{origin: u.Scheme + "://" + u.Host}, nil
}

func newOriginPolicy(entries []string) originPolicy {
	p := originPolicy{origins: map[string]bool{}, hosts: map[string]bool{}}
	for _, e := range entries {
		oe, err := parseOriginEntry(e)
		switch {
		case err != nil: // matches nothing; Validate reports it
		case oe.any:
			p.any = true
		case oe.origin != "":
			p.origins[oe.origin] = true
		default:
			p.hosts[oe.host] = true
		}
	}
	return p
}

// allow applies the policy to the request's Origin header values: none is
// allowed, more than one is refused, one must match.
func (p originPolicy) allow(values []string) bool {
	switch {
	case len(values) == 0:
		return true
	case len(values) > 1:
		return false
	case p.any:
		return true
	}
	u, err := url.Parse(strings.ToLower(strings.TrimSpace(values[0])))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false // includes "null"
	}
	return p.origins[u.Scheme+"://"+u.Host] || p.hosts[u.Host]
}

// hijackWriter records the connection coder/websocket hijacks, so that its
// deadlines can be cleared and Close can be bounded.
type hijackWriter struct {
	http.ResponseWriter
	raw net.Conn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, brw, err := hj.Hijack()
	w.raw = c
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// conn is the net.Conn handed to serve.
type conn struct {
	net.Conn // websocket.NetConn over ws
	ws       *websocket.Conn
	cancel   context.CancelFunc   // ends the NetConn's context
	raw      net.Conn             // the hijacked transport; nil if unknown
	tls      *tls.ConnectionState // from the HTTP request

	once     sync.Once
	closeErr error
}

// Close performs the WebSocket close handshake with 1000 and closes the
// transport after closeGrace if the peer does not answer. It is idempotent.
func (c *conn) Close() error {
	c.once.Do(func() {
		var t *time.Timer
		if c.raw != nil {
			t = time.AfterFunc(closeGrace, func() { _ = c.raw.Close() })
		}
		// Not c.Conn.Close: it cancels a concurrent Read first, which drops
		// the transport before the close frame is written.
		c.closeErr = c.ws.Close(websocket.StatusNormalClosure, "")
		c.cancel()
		if t != nil {
			t.Stop()
		}
	})
	return c.closeErr
}

// closeNow drops the connection without a close handshake.
func (c *conn) closeNow() {
	if c.raw != nil {
		_ = c.raw.Close()
		return
	}
	_ = c.ws.CloseNow()
}

// TLSState returns the TLS state of a connection handed to serve, or nil
// when it is not over TLS (or nc did not come from this package).
func TLSState(nc net.Conn) *tls.ConnectionState {
	if c, ok := nc.(*conn); ok {
		return c.tls
	}
	return nil
}
