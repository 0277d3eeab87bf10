package broker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
)

// ConnInfo describes an accepted network connection.
type ConnInfo struct {
	Listener string         // listener name
	Remote   netip.AddrPort // client address (after PROXY protocol, when used)
	// CertIdentity is the identity taken from a verified client
	// certificate (mutual TLS); empty without one.
	CertIdentity string
	// CertGroups are the groups taken from that certificate (tls.groups).
	CertGroups []string
	// CertPublicKey is that certificate's public key, for identities that
	// may sign messages with it (signed topics, certificate_keys); nil
	// without a verified certificate.
	CertPublicKey any
	// RequireUsernameMatch refuses a CONNECT whose user name is not
	// CertIdentity (and one without a certificate).
	RequireUsernameMatch bool
	// RequireCertificate refuses a client without a verified certificate,
	// whatever method authenticates it.
	RequireCertificate bool
	// Methods, when not nil, are the authentication methods accepted on
	// this listener.
	Methods []string
}

// outKind is what an outbound queue item holds.
type outKind uint8

const (
	outPublish outKind = iota // a Delivery, encoded by the writer
	outAck                    // PUBACK, PUBREC, PUBREL or PUBCOMP
	outPacket                 // any other packet, already built
)

// outItem is one entry of a connection's outbound queue.
type outItem struct {
	kind outKind
	d    session.Delivery
	typ  packet.Type
	id   uint16
	code packet.ReasonCode
	pkt  packet.Packet
	// last makes the writer close the connection after writing this item.
	last bool
}

// conn is one client network connection. The reader goroutine owns every
// field not marked otherwise; the writer owns wbuf and the outbound topic
// aliases.
type conn struct {
	b    *Broker
	nc   net.Conn
	info ConnInfo
	r    *packet.Reader

	// Set during CONNECT, read-only afterwards.
	version      packet.Version
	clientID     string
	subject      *acl.Subject
	keepAlive    time.Duration // enforced at 1.5x
	maxOut       int           // client's Maximum Packet Size; 0 none
	aliasOutMax  uint16        // client's Topic Alias Maximum
	authMethod   string
	authData     []byte // last server data of the CONNECT exchange, for CONNACK
	recvMax      uint16 // client's Receive Maximum
	sess         *Session
	admitted     *limits.Client // passed admission after CONNECT
	will         *will
	aliasIn      map[uint16]string
	reauth       *reauthState
	credTimer    *time.Timer     // ends the connection when the credential expires
	credRelease  func()          // auth.Result.Release of the credential in use
	pub          *packet.Publish // decode target of inbound PUBLISH
	normalClose  bool            // DISCONNECT received
	pubMsgs      limits.Bucket   // publish rate of this connection
	pubBytes     limits.Bucket
	idBucket     *limits.SharedBucket // publish rate of its identity
	idKey        string
	throttled    time.Duration // waited without a break for the publish limits
	sendWillAnew bool          // DISCONNECT 0x04

	// Outbound queue, guarded by outMu.
	outMu     sync.Mutex
	out       []outItem
	outQoS0   int // QoS 0 publishes queued
	outQoS0B  int // their payload and topic bytes
	outCtl    int // control packets (acks, SUBACK, PINGRESP, ...) queued
	outClosed bool
	spare     []outItem     // the last batch's array, for the next queue
	wstate    writerState   // whether a writer goroutine runs
	drained   chan struct{} // capacity 1: the writer took a batch

	// Acknowledgements held until the store is durable (durable.go); read
	// loop only.
	held     []outItem
	heldMark uint64

	// Writer state.
	batchNow time.Time // when the writer took its current batch (latency metric)
	wbuf     []byte
	aliasOut map[string]uint16

	writing    atomic.Bool // CONNECT is done: queued items are written
	closeOnce  sync.Once
	closed     atomic.Bool
	writerDone chan struct{} // closed once nothing more will be written
	done       chan struct{} // closed when the reader has finished cleanup
}

// Serve runs the MQTT protocol on an accepted connection until it ends. The
// listener calls it on its own goroutine; admission checks on accept have
// already passed.
func (b *Broker) Serve(nc net.Conn, info ConnInfo) {
	c := &conn{
		b:          b,
		nc:         nc,
		info:       info,
		drained:    make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		nc.Close()
		return
	}
	b.conns[c] = struct{}{}
	b.connWG.Add(1)
	b.mu.Unlock()
	b.metrics.ConnectionsCurrent.Add(1)
	b.metrics.ConnectionsTotal.Add(1)
	defer func() {
		c.holdCredential(nil)
		if c.admitted != nil {
			b.admit.Closed(c.admitted)
		}
		b.metrics.ConnectionsCurrent.Add(-1)
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		close(c.done)
		b.connWG.Done()
	}()
	c.r = packet.NewReader(nc, 512)
	c.r.SetMaxPacketSize(b.lim.MaxPacketSize)
	if !c.connectOnOwnStack() {
		c.closeNow()
		return
	}
	c.startWriting()
	err := c.safeReadLoop()
	c.finish(err)
}

// holdCredential keeps release (auth.Result.Release) until the connection
// ends or re-authenticates, and ends the use of the credential held before.
func (c *conn) holdCredential(release func()) {
	if c.credRelease != nil {
		c.credRelease()
	}
	c.credRelease = release
}

// connectOnOwnStack runs the CONNECT exchange on a goroutine of its own
// and waits for it. Authentication and TLS-derived checks use deep call
// chains; their stack goes away with that goroutine instead of staying with
// the read loop, which may then sit idle for days: Go halves a stack only
// at a garbage collection that finds it mostly unused, which a parked
// reader's never is. It keeps idle connections small (docs/performance.md).
func (c *conn) connectOnOwnStack() bool {
	done := make(chan bool, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				c.b.metrics.Panics.Add(1)
				c.b.log.Error("BUG: panic while handling a CONNECT; connection closed",
					"remote", c.info.Remote, "panic", r, "stack", string(debug.Stack()))
				done <- false
			}
		}()
		done <- c.connect()
	}()
	return <-done
}

// safeReadLoop contains a bug in one connection's handling to that
// connection: the panic is logged with its stack, counted and audited, and
// the connection closes with 0x83 instead of the process dying.
func (c *conn) safeReadLoop() (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.b.metrics.Panics.Add(1)
			c.b.log.Error("BUG: panic while handling a client; connection closed",
				"client_id", c.clientID, "remote", c.info.Remote, "panic", r, "stack", string(debug.Stack()))
			err = fail(packet.ImplementationSpecificError, fmt.Sprint("internal error: ", r))
		}
	}()
	return c.readLoop()
}

// readLoop reads and handles packets until the connection ends.
func (c *conn) readLoop() error {
	for {
		if c.keepAlive > 0 {
			// [MQTT-3.1.2-22] one and a half times the keep alive.
			_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
		}
		h, body, err := c.r.ReadRaw(c.version)
		if err != nil {
			return err
		}
		c.b.metrics.BytesIn.Add(uint64(h.Size()))
		if h.Type == packet.PUBLISH {
			if err := c.throttle(h.Size()); err != nil {
				return err
			}
			// The hot path decodes into the connection's own struct; the
			// fields alias body, which is fresh for every packet.
			if c.pub == nil {
				c.pub = new(packet.Publish) // not before: most idle clients never publish
			}
			if err := packet.DecodePublish(h, body, c.version, c.pub); err != nil {
				return err
			}
			err = c.handlePublish(c.pub)
		} else {
			pk, derr := packet.Decode(h, body, c.version)
			if derr != nil {
				return derr
			}
			err = c.handle(pk)
		}
		if err != nil {
			return err
		}
		if c.closed.Load() {
			return errClosed
		}
		if len(c.held) > 0 && (c.r.Buffered() == 0 || len(c.held) >= maxHeldAcks) {
			// Nothing more to read at once: one Sync for everything held.
			if err := c.releaseHeld(); err != nil {
				return err
			}
		}
		if err := c.waitDrained(); err != nil {
			return err
		}
	}
}

// maxPendingControl bounds the control packets (answers to the client's
// own packets) queued for a client that does not read: past it the reader
// stops reading from that client until its writer catches up, so a client
// cannot grow the broker's memory by sending without reading. The write
// deadline cuts a client that never reads.
const maxPendingControl = 1024

func (c *conn) waitDrained() error {
	for {
		c.outMu.Lock()
		n := c.outCtl
		c.outMu.Unlock()
		if n < maxPendingControl {
			return nil
		}
		select {
		case <-c.drained:
		case <-c.writerDone:
			return errClosed
		}
	}
}

// errClosed ends the read loop after the connection was closed on purpose.
var errClosed = errors.New("connection closed")

// protoErr ends a connection with a reason code sent in DISCONNECT (MQTT 5).
type protoErr struct {
	code packet.ReasonCode
	msg  string
}

func (e *protoErr) Error() string { return e.code.String() + ": " + e.msg }

func fail(code packet.ReasonCode, msg string) error { return &protoErr{code: code, msg: msg} }

// finish runs once the read loop ended: it tells the client why when MQTT 5
// allows it, stops the writer, and detaches the session.
func (c *conn) finish(err error) {
	var code packet.ReasonCode
	var pe *protoErr
	var ce *packet.Error
	switch {
	case errors.As(err, &pe):
		code = pe.code
	case errors.As(err, &ce):
		code = ce.Code
	case isTimeout(err) && !c.closed.Load():
		code = packet.KeepAliveTimeout
	}
	if code != 0 {
		c.b.metrics.Disconnects[code].Add(1)
		c.b.log.Info("closing connection", "client_id", c.clientID, "remote", c.info.Remote,
			"listener", c.info.Listener, "reason", code.String(), "error", err)
		if pe != nil || ce != nil {
			c.b.record(audit.Event{Kind: audit.ProtocolViolation, Listener: c.info.Listener,
				Remote: c.info.Remote, ClientID: c.clientID, Identity: c.identityName(), Reason: code, Detail: err.Error()})
		}
		if c.version == packet.V5 && !c.closed.Load() {
			c.enqueue(outItem{kind: outPacket, pkt: &packet.Disconnect{ReasonCode: code}})
		}
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errClosed) && !c.closed.Load() {
		c.b.log.Debug("connection ended", "client_id", c.clientID, "remote", c.info.Remote, "error", err)
	}
	if c.credTimer != nil {
		c.credTimer.Stop()
	}
	c.releaseIdentityBucket()
	c.stopWriter()
	if code != 0 {
		c.drainBeforeClose()
	}
	// The session goes offline before the socket closes, so that a client
	// that saw its connection end finds its session offline.
	c.b.detach(c)
	c.closeNow()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *conn) identityName() string {
	if c.subject == nil || c.subject.Identity == nil {
		return ""
	}
	return c.subject.Identity.Name
}

// kick makes the server end the connection: MQTT 5 clients get DISCONNECT
// with code first. Safe from any goroutine.
func (c *conn) kick(code packet.ReasonCode, why string) {
	c.b.metrics.Disconnects[code].Add(1)
	c.b.log.Info("disconnecting client", "client_id", c.clientID, "remote", c.info.Remote, "reason", code.String(), "detail", why)
	if !c.writing.Load() {
		c.closeNow() // still in CONNECT: nothing to flush
		return
	}
	if c.version == packet.V5 {
		c.enqueue(outItem{kind: outPacket, pkt: &packet.Disconnect{ReasonCode: code}, last: true})
	} else {
		c.enqueue(outItem{kind: outPacket, last: true})
	}
	// A client that does not read must not hold the kick up.
	time.AfterFunc(c.b.lim.WriteTimeout, c.closeNow)
}

// Lingering close bounds: how long and how much input is discarded
// before the socket closes after an error.
const (
	lingerTime  = 250 * time.Millisecond
	lingerBytes = 1 << 20
)

// drainBeforeClose half-closes the connection and discards what the client
// still sends, for at most lingerTime and lingerBytes. Closing a socket
// with unread input makes the kernel reset the connection, and a reset can
// destroy the answers still on their way to the client (the PUBRECs and
// the DISCONNECT that explain why it is closed). Runs on the reader's
// goroutine once the read loop ended and the writer flushed.
func (c *conn) drainBeforeClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || c.closed.Load() || cw.CloseWrite() != nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, lingerBytes)
}

// closeNow closes the socket. Safe from any goroutine, idempotent.
func (c *conn) closeNow() {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.nc.Close()
	})
}

// stopWriter lets the writer flush what is queued (bounded by the write
// timeout) and waits until nothing more will be written.
func (c *conn) stopWriter() {
	c.outMu.Lock()
	c.outClosed = true
	// A running writer sees outClosed once the queue is empty.
	if !c.wakeWriterLocked() && c.wstate == writerIdle {
		c.wstate = writerStopped
		close(c.writerDone)
	}
	c.outMu.Unlock()
	<-c.writerDone
}

// enqueue appends an item to the outbound queue and wakes the writer.
// QoS 0 publishes are shed when the client does not keep up: past
// max_queued_messages or max_queued_bytes waiting for the writer (one
// message is always let through, so that a message larger than the byte
// bound still reaches a client that reads).
func (c *conn) enqueue(it outItem) {
	c.outMu.Lock()
	if c.outClosed && it.kind != outPacket {
		c.outMu.Unlock()
		return
	}
	if it.kind == outPublish && it.d.QoS == 0 {
		sz := it.d.Msg.Size()
		if c.outQoS0 >= c.b.lim.MaxQueuedMessages || c.outQoS0 > 0 && c.outQoS0B+sz > c.b.lim.MaxQueuedBytes {
			c.outMu.Unlock()
			c.b.metrics.Drop(metrics.DropSlowConsumer)
			return
		}
		c.outQoS0++
		c.outQoS0B += sz
	} else if it.kind != outPublish {
		c.outCtl++
	}
	c.out = append(c.out, it)
	c.wakeWriterLocked()
	c.outMu.Unlock()
}

func (c *conn) sendPublish(d session.Delivery) {
	c.enqueue(outItem{kind: outPublish, d: d})
}

func (c *conn) sendAck(t packet.Type, id uint16, code packet.ReasonCode) {
	c.enqueue(outItem{kind: outAck, typ: t, id: id, code: code})
}

func (c *conn) send(p packet.Packet) {
	c.enqueue(outItem{kind: outPacket, pkt: p})
}
