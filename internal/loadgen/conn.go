package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// phaseTimeout bounds every setup step: TCP connect, TLS handshake,
// CONNACK, SUBACK, and every write.
const phaseTimeout = 10 * time.Second

// epoch is the origin of nanotime, and of the send times in payloads.
var epoch = time.Now()

// nanotime is monotonic time in nanoseconds since epoch.
func nanotime() int64 { return int64(time.Since(epoch)) }

// TLSOptions are the client's TLS settings.
type TLSOptions struct {
	CAFile     string // CAs that verify the broker; default the system's
	CertFile   string // client certificate (PEM), with KeyFile
	KeyFile    string
	ServerName string // name verified; default the host of the address
	// InsecureSkipVerify accepts any broker certificate. Only when asked
	// for explicitly.
	InsecureSkipVerify bool
	// Resume keeps the broker's session tickets (TLS 1.3 and 1.2) and
	// offers them on the next connection, so that handshakes after the
	// first resume instead of verifying and signing certificates again.
	Resume bool
	// MaxVersion caps the TLS version: "" (1.3), "1.2" or "1.3".
	MaxVersion string
	// Curves are the key exchange groups offered, by name (X25519MLKEM768,
	// X25519, P256, P384, P521); none: Go's defaults.
	Curves []string
}

// curveIDs maps the names of TLSOptions.Curves.
var curveIDs = map[string]tls.CurveID{
	"X25519MLKEM768": tls.X25519MLKEM768,
	"X25519":         tls.X25519,
	"P256":           tls.CurveP256,
	"P384":           tls.CurveP384,
	"P521":           tls.CurveP521,
}

// sessionCacheSize bounds the tickets kept by a resuming client. Every
// connection goes to the same broker name, so one entry is used; Go keeps
// the newest ticket under it.
const sessionCacheSize = 64

// Config builds the client TLS configuration for a broker at addr
// (TLS 1.2 at least).
func (o TLSOptions) Config(addr string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify}
	switch o.MaxVersion {
	case "", "1.3":
	case "1.2":
		tc.MaxVersion = tls.VersionTLS12
	default:
		return nil, fmt.Errorf("TLS version %q: want 1.2 or 1.3", o.MaxVersion)
	}
	for _, name := range o.Curves {
		id, ok := curveIDs[name]
		if !ok {
			return nil, fmt.Errorf("TLS curve %q: want X25519MLKEM768, X25519, P256, P384 or P521", name)
		}
		tc.CurvePreferences = append(tc.CurvePreferences, id)
	}
	if o.Resume {
		tc.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
	}
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		tc.ServerName = host
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", o.CAFile)
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("a client certificate needs both the certificate and the key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// dialer opens connections to the broker.
type dialer struct {
	cfg *Config
}

// dial opens connection number i: TCP from a spread source address when
// configured, then the TLS handshake.
func (d dialer) dial(ctx context.Context, i int) (net.Conn, error) {
	nd := net.Dialer{Timeout: phaseTimeout}
	if n := d.cfg.SourceSpread; n > 0 {
		v := 2 + uint32(i%n) // 127.0.0.2 onwards: 127.0.0.1 is usually the broker
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, byte(v>>16), byte(v>>8), byte(v))}
	}
	nc, err := nd.DialContext(ctx, "tcp", d.cfg.Addr)
	if err != nil {
		return nil, err
	}
	if d.cfg.TLS == nil {
		return nc, nil
	}
	tc := tls.Client(nc, d.cfg.TLS)
	hctx, cancel := context.WithTimeout(ctx, phaseTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// deadlineWriter puts a deadline on every write to the socket.
type deadlineWriter struct{ nc net.Conn }

// Write writes p with a deadline of phaseTimeout.
func (w deadlineWriter) Write(p []byte) (int, error) {
	if err := w.nc.SetWriteDeadline(time.Now().Add(phaseTimeout)); err != nil {
		return 0, err
	}
	return w.nc.Write(p)
}

// conn is one MQTT connection. Its reader (br) belongs to one goroutine;
// writes go through w under mu, from the connection's goroutines and the
// keep-alive pinger.
type conn struct {
	nc    net.Conn
	br    *bufio.Reader
	v     packet.Version
	maxIn int // largest packet read

	mu sync.Mutex // guards w
	w  *bufio.Writer

	lastWrite atomic.Int64 // nanotime of the last flush, for keep alive
	recvMax   int          // the broker's Receive Maximum (65535 when absent)
	keepAlive time.Duration
}

// connectOpts are the per-connection settings of connect.
type connectOpts struct {
	clientID string
	user     string
	readBuf  int // bufio.Reader size
	writeBuf int // bufio.Writer size
}

// connect dials connection i, sends CONNECT and waits for a successful
// CONNACK, all within phaseTimeout.
func connect(ctx context.Context, cfg *Config, i int, o connectOpts) (*conn, error) {
	nc, err := dialer{cfg}.dial(ctx, i)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, v: cfg.Version, maxIn: max(cfg.PayloadSize+64<<10, packet.DefaultMaxPacketSize),
		br: bufio.NewReaderSize(nc, o.readBuf), recvMax: 65535, keepAlive: cfg.KeepAlive}
	c.w = bufio.NewWriterSize(deadlineWriter{nc}, o.writeBuf)
	if err := c.handshake(cfg, o); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn) handshake(cfg *Config, o connectOpts) error {
	p := packet.Connect{Version: cfg.Version, CleanStart: true, ClientID: o.clientID,
		KeepAlive: uint16(cfg.KeepAlive / time.Second)}
	if cfg.SessionExpiry > 0 {
		if cfg.Version == packet.V5 {
			p.Properties.SessionExpiryInterval = uint32(min(cfg.SessionExpiry/time.Second, 1<<32-1))
			p.Properties.Set(packet.PropSessionExpiryInterval)
		} else {
			p.CleanStart = false
		}
	}
	if o.user != "" {
		p.UsernameFlag, p.Username = true, o.user
		p.PasswordFlag, p.Password = len(cfg.Password) > 0, cfg.Password
	}
	if cfg.Version == packet.V5 {
		// Let the broker send as many QoS 1 and 2 messages as it will.
		p.Properties.ReceiveMaximum = 65535
		p.Properties.Set(packet.PropReceiveMaximum)
	}
	if err := c.nc.SetDeadline(time.Now().Add(phaseTimeout)); err != nil {
		return err
	}
	c.mu.Lock()
	_, err := c.w.Write(packet.AppendConnect(c.w.AvailableBuffer(), &p, cfg.Version))
	if err == nil {
		err = c.w.Flush()
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	var body []byte
	h, b, err := c.readPacket(&body)
	if err != nil {
		return fmt.Errorf("reading CONNACK: %w", err)
	}
	var ack packet.Connack
	if h.Type != packet.CONNACK {
		return fmt.Errorf("got %v instead of CONNACK", h.Type)
	}
	if err := packet.DecodeConnack(h, b, c.v, &ack); err != nil {
		return fmt.Errorf("CONNACK: %w", err)
	}
	if ack.ReasonCode.IsError() {
		return fmt.Errorf("connection refused: %v", ack.ReasonCode)
	}
	pp := &ack.Properties
	if pp.Has(packet.PropReceiveMaximum) {
		c.recvMax = int(pp.ReceiveMaximum)
	}
	if pp.Has(packet.PropServerKeepAlive) && pp.ServerKeepAlive > 0 {
		c.keepAlive = time.Duration(pp.ServerKeepAlive) * time.Second
	}
	if pp.Has(packet.PropMaximumQoS) && pp.MaximumQoS < cfg.QoS {
		return fmt.Errorf("the broker's maximum QoS is %d", pp.MaximumQoS)
	}
	c.lastWrite.Store(nanotime())
	return c.nc.SetDeadline(time.Time{})
}

// readPacket reads one packet into *body, which it grows as needed and
// the caller reuses: the body is valid until the next call. The size is
// checked before the body is read.
func (c *conn) readPacket(body *[]byte) (packet.FixedHeader, []byte, error) {
	h, err := packet.ReadFixedHeader(c.br)
	if err != nil {
		return h, nil, err
	}
	if h.Size() > c.maxIn {
		return h, nil, fmt.Errorf("%v of %d bytes exceeds the limit of %d", h.Type, h.Size(), c.maxIn)
	}
	if cap(*body) < h.Remaining {
		*body = make([]byte, h.Remaining)
	}
	b := (*body)[:h.Remaining]
	if _, err := io.ReadFull(c.br, b); err != nil {
		return h, nil, unexpectedEOF(err)
	}
	return h, b, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// subscribe subscribes to filter and waits for a SUBACK that grants qos.
func (c *conn) subscribe(filter string, qos byte) error {
	p := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	if err := c.nc.SetReadDeadline(time.Now().Add(phaseTimeout)); err != nil {
		return err
	}
	c.mu.Lock()
	_, err := c.w.Write(packet.AppendSubscribe(c.w.AvailableBuffer(), &p, c.v))
	if err == nil {
		err = c.flushLocked()
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	var body []byte
	for {
		h, b, err := c.readPacket(&body)
		if err != nil {
			return fmt.Errorf("reading SUBACK: %w", err)
		}
		if h.Type == packet.PINGRESP {
			continue
		}
		if h.Type != packet.SUBACK {
			return fmt.Errorf("got %v instead of SUBACK", h.Type)
		}
		pk, err := packet.DecodeFrom(h, b, c.v, packet.FromServer)
		if err != nil {
			return fmt.Errorf("SUBACK: %w", err)
		}
		ack := pk.(*packet.Suback)
		if len(ack.ReasonCodes) != 1 || ack.PacketID != 1 {
			return errors.New("SUBACK does not answer the SUBSCRIBE")
		}
		if code := ack.ReasonCodes[0]; code.IsError() {
			return fmt.Errorf("subscription to %q refused: %v", filter, code)
		} else if byte(code) != qos {
			return fmt.Errorf("subscription to %q granted QoS %d, not %d", filter, code, qos)
		}
		return c.nc.SetReadDeadline(time.Time{})
	}
}

// flushLocked writes out the buffer; c.mu is held.
func (c *conn) flushLocked() error {
	if c.w.Buffered() == 0 {
		return nil
	}
	err := c.w.Flush()
	c.lastWrite.Store(nanotime())
	return err
}

// flush writes out the buffer.
func (c *conn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// appendAck buffers an acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP)
// without flushing it.
func (c *conn) appendAck(t packet.Type, id uint16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.w.AvailableBuffer()
	switch t {
	case packet.PUBACK:
		b = packet.AppendPuback(b, id, packet.Success, nil, c.v)
	case packet.PUBREC:
		b = packet.AppendPubrec(b, id, packet.Success, nil, c.v)
	case packet.PUBREL:
		b = packet.AppendPubrel(b, id, packet.Success, nil, c.v)
	case packet.PUBCOMP:
		b = packet.AppendPubcomp(b, id, packet.Success, nil, c.v)
	}
	_, err := c.w.Write(b)
	return err
}

// pingIfIdle sends PINGREQ when nothing was written for half the keep
// alive.
func (c *conn) pingIfIdle(now int64) error {
	if time.Duration(now-c.lastWrite.Load()) < c.keepAlive/2 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.w.Write(packet.AppendPingreq(c.w.AvailableBuffer())); err != nil {
		return err
	}
	return c.flushLocked()
}

// close sends DISCONNECT (best effort, bounded by the write deadline) and
// closes the socket.
func (c *conn) close() {
	c.mu.Lock()
	_, err := c.w.Write(packet.AppendDisconnect(c.w.AvailableBuffer(), packet.Success, nil, c.v))
	if err == nil {
		_ = c.flushLocked()
	}
	c.mu.Unlock()
	c.nc.Close()
}

// keeper pings idle connections until stop is closed, so that long runs
// outlive the keep alive.
func keeper(conns []*conn, keepAlive time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(max(keepAlive/4, 250*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := nanotime()
			for _, c := range conns {
				_ = c.pingIfIdle(now) // a dead connection shows in its reader
			}
		}
	}
}

// errorList keeps the first maxErrors errors of a run and counts the rest.
type errorList struct {
	mu    sync.Mutex
	errs  []string
	total int
}

func (l *errorList) add(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
}

// list returns the kept errors, with a last line counting the others.
func (l *errorList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.errs...)
	if more := l.total - len(l.errs); more > 0 {
		out = append(out, fmt.Sprintf("... and %d more errors", more))
	}
	return out
}

// count reports how many errors were added.
func (l *errorList) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// forEach runs fn(i) for i in 0..n-1 on at most par goroutines and
// returns the first error; after an error or the end of ctx, the
// remaining calls are skipped.
func forEach(ctx context.Context, n, par int, fn func(i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		first error
		once  sync.Once
		wg    sync.WaitGroup
	)
	for range min(n, par) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || inner.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
