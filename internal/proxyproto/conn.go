package proxyproto

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUntrustedHeader is returned by Accept when a peer outside the trusted
// set starts its stream with a PROXY signature: a direct connection that
// tries to claim another address is refused.
var ErrUntrustedHeader = errors.New("proxyproto: PROXY header from an untrusted address")

// DefaultTimeout applies when Accept is given a timeout of zero or less. The
// specification asks for at least 3 s to cover a TCP retransmit [PP-2].
const DefaultTimeout = 5 * time.Second

// Conn is a net.Conn whose start has been examined by Accept. Reads first
// return any bytes Accept peeked, then read the underlying connection.
// RemoteAddr and LocalAddr report the header's Source and Dest when the
// header's command is Proxy, and the socket's addresses otherwise. Its
// methods may be called concurrently, like those of any net.Conn.
type Conn struct {
	net.Conn
	header *Header
	remote net.Addr
	local  net.Addr

	mu      sync.Mutex // guards replay and off
	replay  []byte     // peeked bytes not yet returned; at most len(v2Signature)
	off     int
	drained atomic.Bool // replay fully returned: Read goes straight to Conn
	storage [len(v2Signature)]byte
}

var _ net.Conn = (*Conn)(nil)

func newConn(nc net.Conn, h *Header, peeked []byte) *Conn {
	c := &Conn{Conn: nc, header: h, remote: nc.RemoteAddr(), local: nc.LocalAddr()}
	if h != nil && h.Command == Proxy {
		c.remote = net.TCPAddrFromAddrPort(h.Source)
		c.local = net.TCPAddrFromAddrPort(h.Dest)
	}
	c.replay = c.storage[:copy(c.storage[:], peeked)]
	c.drained.Store(len(c.replay) == 0)
	return c
}

// Header returns the PROXY header read by Accept, or nil when the peer was
// not trusted. The caller must not modify it.
func (c *Conn) Header() *Header { return c.header }

// NetConn returns the underlying connection. Reading from it directly skips
// any bytes Accept peeked and has not yet returned.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// RemoteAddr returns the real client's address for a proxied connection,
// else the socket's peer.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the address the client connected to for a proxied
// connection, else the socket's own.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// Read returns peeked bytes first, then reads the underlying connection.
func (c *Conn) Read(p []byte) (int, error) {
	if c.drained.Load() {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	if c.off < len(c.replay) {
		n := copy(p, c.replay[c.off:])
		c.off += n
		if c.off == len(c.replay) {
			c.drained.Store(true)
		}
		c.mu.Unlock()
		return n, nil
	}
	c.drained.Store(true)
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// Accept applies the trust rule to a freshly accepted connection, within
// timeout (DefaultTimeout if timeout <= 0). It may block that long, so call
// it from the connection's own goroutine, not the accept loop. It leaves no
// read deadline set, and never closes nc: on error the caller must.
//
//   - Trusted peer: a PROXY header is required [PP-2: the receiver must not
//     guess]. It is read within timeout and the returned *Conn reports the
//     real client. No header, a malformed one, or none in time is an *Error.
//   - Untrusted peer: no header is honoured. Accept peeks at most the length
//     of a signature, stopping at the first byte that cannot be part of one
//     (an MQTT CONNECT starts with 0x10, so one byte suffices), and returns
//     ErrUntrustedHeader if a complete v1 or v2 signature arrived. Otherwise
//     it returns a *Conn that replays the peeked bytes, or nc itself when no
//     byte arrived within timeout, with a nil header.
//
// A peer whose address cannot be determined as IP is untrusted.
func Accept(nc net.Conn, trusted *Trusted, timeout time.Duration) (net.Conn, *Header, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := nc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	if !trusted.Contains(peerAddr(nc)) {
		peeked, found := peekSignature(nc)
		if err := nc.SetReadDeadline(time.Time{}); err != nil {
			return nil, nil, err
		}
		if found {
			return nil, nil, ErrUntrustedHeader
		}
		if len(peeked) == 0 {
			return nc, nil, nil
		}
		return newConn(nc, nil, peeked), nil, nil
	}
	h, err := Read(nc)
	if derr := nc.SetReadDeadline(time.Time{}); err == nil {
		err = derr
	}
	if err != nil {
		return nil, nil, err
	}
	return newConn(nc, h, nil), h, nil
}

// peerAddr returns the peer's IP, or the zero Addr if it has none.
func peerAddr(nc net.Conn) netip.Addr {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case nil:
		return netip.Addr{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		return ap.Addr()
	}
}

// peekSignature reads from nc, never more than a signature's length, until
// the bytes read either start with a whole v1 or v2 signature or can no
// longer be the start of one, or a read fails (the deadline included). It
// returns the bytes read and whether a whole signature is among them.
func peekSignature(nc net.Conn) ([]byte, bool) {
	var buf [len(v2Signature)]byte
	n := 0
	for {
		want, found := signatureState(buf[:n])
		if found || want < 0 {
			return buf[:n], found
		}
		m, err := nc.Read(buf[n:want])
		n += m
		if err != nil {
			// A signature cut short is not a header; the broker's decoder
			// refuses such bytes as a first packet anyway.
			_, found = signatureState(buf[:n])
			return buf[:n], found
		}
	}
}

var v1SignatureBytes = []byte(v1Signature)

// signatureState reports whether b starts with a whole v1 ("PROXY") or v2
// signature; if not, want is the length of the signature b is a proper
// prefix of (the longer one while b is empty), or -1 if none.
func signatureState(b []byte) (want int, found bool) {
	v1, v2 := v1SignatureBytes, v2Signature[:]
	switch {
	case bytes.HasPrefix(b, v1) || bytes.HasPrefix(b, v2):
		return 0, true
	case len(b) == 0:
		return len(v2), false
	case bytes.HasPrefix(v1, b):
		return len(v1), false
	case bytes.HasPrefix(v2, b):
		return len(v2), false
	}
	return -1, false
}
