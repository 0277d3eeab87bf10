package scan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/moatmq/moat/internal/packet"
)

// transport is how the scanner reaches a listener.
type transport struct {
	tls bool
	ws  bool
}

func (tr transport) String() string {
	switch {
	case tr.ws && tr.tls:
		return "MQTT over WebSocket over TLS (wss)"
	case tr.ws:
		return "MQTT over WebSocket (ws), plain text"
	case tr.tls:
		return "MQTT over TLS"
	}
	return "MQTT over TCP, plain text"
}

// errNoAnswer is a connection the broker closed, or never answered on,
// before CONNACK.
var errNoAnswer = errors.New("no CONNACK")

// deadline returns the earlier of now+ProbeTimeout and ctx's deadline.
func (s *scanner) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(s.o.ProbeTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// tlsConfig is the client configuration of the MQTT probes. Verification
// is off: the TLS checks judge the certificate; the probes must reach the
// broker behind a certificate they would refuse.
func (s *scanner) tlsConfig(t *Target) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: true, ServerName: s.serverName(t), MinVersion: tls.VersionTLS10} // #nosec G402 -- probes judge, not trust
	if s.o.CertFile != "" || s.o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.o.CertFile, s.o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// serverName is the name the scanner sends in SNI and verifies.
func (s *scanner) serverName(t *Target) string {
	if s.o.ServerName != "" {
		return s.o.ServerName
	}
	return t.Host
}

// roots returns the CA pool that verifies the broker: --cafile, or nil
// for the system roots.
func (s *scanner) roots() (*x509.CertPool, error) {
	if s.o.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(s.o.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", s.o.CAFile)
	}
	return pool, nil
}

// dialTCP opens a TCP connection to the pinned address.
func (s *scanner) dialTCP(ctx context.Context, t *Target) (net.Conn, error) {
	d := net.Dialer{Deadline: s.deadline(ctx)}
	return d.DialContext(ctx, "tcp", t.addr.String())
}

// dial opens a connection over tr, with prefix (a PROXY header) written
// first when set. The connection is closed when ctx ends.
func (s *scanner) dial(ctx context.Context, t *Target, tr transport, prefix []byte) (net.Conn, error) {
	if tr.ws {
		return s.dialWS(ctx, t, tr, nil)
	}
	conn, err := s.dialTCP(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(prefix) > 0 {
		_ = conn.SetWriteDeadline(s.deadline(ctx))
		if _, err := conn.Write(prefix); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if tr.tls {
		tc, err := s.tlsConfig(t)
		if err != nil {
			conn.Close()
			return nil, err
		}
		tconn := tls.Client(conn, tc)
		hctx, cancel := context.WithDeadline(ctx, s.deadline(ctx))
		defer cancel()
		if err := tconn.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tconn
	}
	return conn, nil
}

// dialWS opens MQTT over WebSocket (subprotocol "mqtt") with the extra
// request headers hdr. The HTTP client dials the pinned address whatever
// the URL's host resolves to.
func (s *scanner) dialWS(ctx context.Context, t *Target, tr transport, hdr http.Header) (net.Conn, error) {
	tc, err := s.tlsConfig(t)
	if err != nil {
		return nil, err
	}
	ht := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return s.dialTCP(ctx, t) },
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			conn, err := s.dialTCP(ctx, t)
			if err != nil {
				return nil, err
			}
			tconn := tls.Client(conn, tc)
			if err := tconn.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tconn, nil
		},
		TLSHandshakeTimeout:    s.o.ProbeTimeout,
		ResponseHeaderTimeout:  s.o.ProbeTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
	}
	u := t.String() // ws:// or wss:// with its path: only such targets use WebSocket
	dctx, cancel := context.WithDeadline(ctx, s.deadline(ctx))
	defer cancel()
	c, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: ht, Timeout: s.o.ProbeTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		HTTPHeader:   hdr,
		Subprotocols: []string{"mqtt"},
	})
	if err != nil {
		if resp != nil {
			return nil, &wsRefused{status: resp.StatusCode, err: err}
		}
		return nil, err
	}
	c.SetReadLimit(MaxPacket + 16)
	// The net.Conn lives until closed; deadlines bound each read and
	// write, and ctx closes it when the run ends.
	nc := websocket.NetConn(context.WithoutCancel(ctx), c, websocket.MessageBinary)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	return &closeHook{Conn: nc, stop: stop}, nil
}

// wsRefused is a WebSocket upgrade the server answered with an HTTP
// status other than 101.
type wsRefused struct {
	status int
	err    error
}

func (e *wsRefused) Error() string {
	return fmt.Sprintf("WebSocket upgrade refused with HTTP %d", e.status)
}
func (e *wsRefused) Unwrap() error { return e.err }

// closeHook stops an AfterFunc when the connection closes.
type closeHook struct {
	net.Conn
	stop func() bool
}

func (c *closeHook) Close() error {
	c.stop()
	return c.Conn.Close()
}

// connectSpec is one CONNECT.
type connectSpec struct {
	version       packet.Version
	user, pass    string
	hasUser       bool
	clientID      string
	keepClean     bool // CleanStart false: resume or keep a session
	sessionExpiry uint32
	prefix        []byte // written before anything else (PROXY header)
	dialer        func() (net.Conn, error)
	// willTopic, when set, carries a QoS 0 will with willPayload (no
	// delay: the broker sends it as soon as the connection drops).
	willTopic   string
	willPayload []byte
}

// session is one MQTT connection of the scanner.
type session struct {
	s       *scanner
	ctx     context.Context
	conn    net.Conn
	r       *packet.Reader
	v       packet.Version
	connack *packet.Connack
	nextID  uint16
	stop    func() bool
}

// open connects and sends CONNECT. It returns the session with its
// CONNACK; a refused CONNECT returns the session closed, with the refusing
// CONNACK. err is errNoAnswer when the broker closed the connection or
// sent nothing before CONNACK.
func (s *scanner) open(ctx context.Context, t *Target, tr transport, c connectSpec) (*session, error) {
	var conn net.Conn
	var err error
	if c.dialer != nil {
		conn, err = c.dialer()
	} else {
		conn, err = s.dial(ctx, t, tr, c.prefix)
	}
	if err != nil {
		return nil, err
	}
	se := &session{s: s, ctx: ctx, conn: conn, v: c.version,
		r: packet.NewReader(conn, 16<<10)}
	se.r.SetOrigin(packet.FromServer)
	se.r.SetMaxPacketSize(MaxPacket)
	se.stop = context.AfterFunc(ctx, func() { conn.Close() })
	p := &packet.Connect{Version: c.version, CleanStart: !c.keepClean, KeepAlive: 60, ClientID: c.clientID}
	if c.version == packet.V5 {
		p.Properties.MaximumPacketSize = MaxPacket
		p.Properties.Set(packet.PropMaximumPacketSize)
		if c.sessionExpiry > 0 {
			p.Properties.SessionExpiryInterval = c.sessionExpiry
			p.Properties.Set(packet.PropSessionExpiryInterval)
		}
	}
	if c.willTopic != "" {
		p.WillFlag, p.WillTopic, p.WillPayload = true, c.willTopic, c.willPayload
	}
	if c.hasUser {
		p.UsernameFlag, p.Username = true, c.user
		p.PasswordFlag, p.Password = true, []byte(c.pass)
	}
	if err := se.write(packet.AppendConnect(nil, p, c.version)); err != nil {
		se.close()
		return nil, errNoAnswer
	}
	pk, err := se.read()
	if err != nil {
		se.close()
		return nil, errNoAnswer
	}
	ack, ok := pk.(*packet.Connack)
	if !ok {
		se.close()
		return nil, fmt.Errorf("%w: the broker sent %s first", errNoAnswer, pk.Type())
	}
	se.connack = ack
	if ack.ReasonCode.IsError() {
		se.close()
	}
	return se, nil
}

// accepted reports whether the CONNACK accepted the connection.
func (se *session) accepted() bool { return se != nil && !se.connack.ReasonCode.IsError() }

func (se *session) write(b []byte) error {
	_ = se.conn.SetWriteDeadline(se.s.deadline(se.ctx))
	_, err := se.conn.Write(b)
	return err
}

// read reads one packet within ProbeTimeout.
func (se *session) read() (packet.Packet, error) {
	_ = se.conn.SetReadDeadline(se.s.deadline(se.ctx))
	return se.r.ReadPacket(se.v)
}

// readUntil reads one packet with the read deadline at until.
func (se *session) readUntil(until time.Time) (packet.Packet, error) {
	if cd, ok := se.ctx.Deadline(); ok && cd.Before(until) {
		until = cd
	}
	_ = se.conn.SetReadDeadline(until)
	return se.r.ReadPacket(se.v)
}

func (se *session) close() {
	if se.stop != nil {
		se.stop()
	}
	se.conn.Close()
}

// disconnect says goodbye and closes.
func (se *session) disconnect() {
	_ = se.write(packet.AppendDisconnect(nil, packet.NormalDisconnection, nil, se.v))
	se.close()
}

func (se *session) id() uint16 {
	se.nextID++
	if se.nextID == 0 {
		se.nextID = 1
	}
	return se.nextID
}

// subscribe subscribes to filter at QoS 0 and returns the SUBACK code;
// messages that arrive before it are counted into st.
func (se *session) subscribe(filter string, st *stats) (packet.ReasonCode, error) {
	id := se.id()
	p := &packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter}}}
	if err := se.write(packet.AppendSubscribe(nil, p, se.v)); err != nil {
		return 0, err
	}
	until := se.s.deadline(se.ctx)
	for {
		pk, err := se.readUntil(until)
		if err != nil {
			return 0, err
		}
		switch p := pk.(type) {
		case *packet.Suback:
			if p.PacketID == id && len(p.ReasonCodes) == 1 {
				return p.ReasonCodes[0], nil
			}
		case *packet.Publish:
			se.count(p, st)
			if st.full(se.s.o) {
				return 0, errCap
			}
		case *packet.Disconnect:
			return 0, fmt.Errorf("DISCONNECT %s", p.ReasonCode)
		}
	}
}

// unsubscribe removes filter; messages meanwhile are dropped.
func (se *session) unsubscribe(filter string) {
	id := se.id()
	if se.write(packet.AppendUnsubscribe(nil, &packet.Unsubscribe{PacketID: id, Filters: []string{filter}}, se.v)) != nil {
		return
	}
	until := se.s.deadline(se.ctx)
	for n := 0; n < se.s.o.MaxMessages; n++ {
		pk, err := se.readUntil(until)
		if err != nil {
			return
		}
		if u, ok := pk.(*packet.Unsuback); ok && u.PacketID == id {
			return
		}
	}
}

// errCap ends a collection that reached MaxMessages or MaxBytes.
var errCap = errors.New("message or byte cap reached")

// collect counts what arrives for Listen, or until a cap is reached.
func (se *session) collect(st *stats) {
	until := time.Now().Add(se.s.o.Listen)
	for !st.full(se.s.o) {
		pk, err := se.readUntil(until)
		if err != nil {
			if !isTimeout(err) {
				st.err = err
			}
			return
		}
		switch p := pk.(type) {
		case *packet.Publish:
			se.count(p, st)
		case *packet.Disconnect:
			st.err = fmt.Errorf("DISCONNECT %s", p.ReasonCode)
			return
		}
	}
	st.truncated = true
}

// count records one delivered message and acknowledges it when needed.
func (se *session) count(p *packet.Publish, st *stats) {
	st.add(p)
	switch p.QoS {
	case 1:
		_ = se.write(packet.AppendPuback(nil, p.PacketID, packet.Success, nil, se.v))
	case 2:
		_ = se.write(packet.AppendPubrec(nil, p.PacketID, packet.Success, nil, se.v))
	}
}

// publish sends a QoS 1 message and returns the PUBACK code (always
// success before MQTT 5). Messages that arrive meanwhile go to st.
func (se *session) publish(topic string, payload []byte, retain bool, st *stats) (packet.ReasonCode, error) {
	return se.publishProps(&packet.Publish{Retain: retain, Topic: topic, Payload: payload}, st)
}

// publishProps sends p at QoS 1 (with its properties from MQTT 5) and
// returns the PUBACK code, as publish does.
func (se *session) publishProps(p *packet.Publish, st *stats) (packet.ReasonCode, error) {
	id := se.id()
	p.QoS, p.PacketID = 1, id
	if err := se.write(packet.AppendPublish(nil, p, se.v)); err != nil {
		return 0, err
	}
	until := se.s.deadline(se.ctx)
	for {
		pk, err := se.readUntil(until)
		if err != nil {
			return 0, err
		}
		switch p := pk.(type) {
		case *packet.Puback:
			if p.PacketID == id {
				return p.ReasonCode, nil
			}
		case *packet.Publish:
			se.count(p, st)
			if st.full(se.s.o) {
				return 0, errCap
			}
		case *packet.Disconnect:
			return 0, fmt.Errorf("DISCONNECT %s", p.ReasonCode)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxTracked bounds the distinct topics a collection remembers, and
// maxTopicLen the length of each.
const (
	maxTracked  = 5000
	maxTopicLen = 200
	maxSample   = 10
)

// stats counts the messages one subscription received, without keeping
// a payload.
type stats struct {
	messages, retained, dollar int
	bytes                      int64
	topics                     map[string]bool
	sample                     []string // first distinct topics, in order of arrival
	truncated                  bool     // a cap ended the collection
	err                        error    // what ended it early
	// version is the payload of $SYS/broker/version (bounded), kept to
	// say whether the version is disclosed; printed only on request.
	version  string
	own      int // messages on the scanner's own topics
	ownTopic string
}

func (st *stats) add(p *packet.Publish) {
	st.messages++
	st.bytes += int64(len(p.Payload))
	if p.Retain {
		st.retained++
	}
	if strings.HasPrefix(p.Topic, "$") {
		st.dollar++
	}
	if st.ownTopic != "" && p.Topic == st.ownTopic {
		st.own++
	}
	if p.Topic == "$SYS/broker/version" && len(p.Payload) > 0 {
		st.version = string(p.Payload[:min(len(p.Payload), 128)])
	}
	if st.topics == nil {
		st.topics = map[string]bool{}
	}
	name := p.Topic
	if len(name) > maxTopicLen {
		name = name[:maxTopicLen]
	}
	if !st.topics[name] && len(st.topics) < maxTracked {
		st.topics[name] = true
		if len(st.sample) < maxSample {
			st.sample = append(st.sample, name)
		}
	}
}

// full reports whether a cap is reached.
func (st *stats) full(o Options) bool {
	return st.messages >= o.MaxMessages || st.bytes >= o.MaxBytes
}

// describe summarizes st without payloads.
func (st *stats) describe() string {
	more := ""
	if len(st.topics) > len(st.sample) {
		more = ", ..."
	}
	capped := ""
	if st.truncated {
		capped = " (stopped at the scan's cap)"
	}
	canary := ""
	if st.own > 0 {
		canary = " (the scanner's own canary among them)"
	}
	return fmt.Sprintf("%d message(s), %d retained, %d bytes of payload on %d topic(s)%s%s: %s%s",
		st.messages, st.retained, st.bytes, len(st.topics), capped, canary, strings.Join(st.sample, ", "), more)
}
