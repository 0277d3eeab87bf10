package test

// A minimal MQTT encoder/decoder and raw TCP client for tests that must
// send what no client library will (malformed packets, withheld acks). It
// shares nothing with internal/packet on purpose.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Raw MQTT: a minimal, independent encoder and decoder.

// Packet types (fixed header, high nibble).
const (
	tCONNECT     = 1
	tCONNACK     = 2
	tPUBLISH     = 3
	tPUBACK      = 4
	tPUBREC      = 5
	tPUBREL      = 6
	tPUBCOMP     = 7
	tSUBSCRIBE   = 8
	tSUBACK      = 9
	tUNSUBSCRIBE = 10
	tUNSUBACK    = 11
	tPINGREQ     = 12
	tPINGRESP    = 13
	tDISCONNECT  = 14
)

// Property identifiers used by the tests.
const (
	propPayloadFormat   = 0x01
	propMessageExpiry   = 0x02
	propContentType     = 0x03
	propSubscriptionID  = 0x0B
	propSessionExpiry   = 0x11
	propAssignedID      = 0x12
	propServerKeepAlive = 0x13
	propReasonString    = 0x1F
	propWillDelay       = 0x18
	propReceiveMaximum  = 0x21
	propTopicAliasMax   = 0x22
	propTopicAlias      = 0x23
	propMaxPacketSize   = 0x27
	propUser            = 0x26
)

// propKind returns how a property's value is encoded.
func propKind(id byte) string {
	switch id {
	case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A:
		return "byte"
	case 0x13, 0x21, 0x22, 0x23:
		return "u16"
	case 0x02, 0x11, 0x18, 0x27:
		return "u32"
	case 0x0B:
		return "varint"
	case 0x09, 0x16:
		return "bin"
	case 0x26:
		return "pair"
	default:
		return "str"
	}
}

// prop is one MQTT 5 property.
type prop struct {
	ID  byte
	N   uint32 // byte, u16, u32, varint
	S   string // str; pair key
	V   string // pair value
	Bin []byte
}

type props []prop

func (ps props) get(id byte) (prop, bool) {
	for _, p := range ps {
		if p.ID == id {
			return p, true
		}
	}
	return prop{}, false
}

func (ps props) all(id byte) []prop {
	var out []prop
	for _, p := range ps {
		if p.ID == id {
			out = append(out, p)
		}
	}
	return out
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendStr(b []byte, s string) []byte { return append(appendU16(b, uint16(len(s))), s...) }

func appendVarint(b []byte, v int) []byte {
	for {
		d := byte(v % 128)
		v /= 128
		if v > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if v == 0 {
			return b
		}
	}
}

// encodeProps returns the property section including its length.
func encodeProps(ps props) []byte {
	var body []byte
	for _, p := range ps {
		body = append(body, p.ID)
		switch propKind(p.ID) {
		case "byte":
			body = append(body, byte(p.N))
		case "u16":
			body = appendU16(body, uint16(p.N))
		case "u32":
			body = appendU32(body, p.N)
		case "varint":
			body = appendVarint(body, int(p.N))
		case "bin":
			body = appendStr(body, string(p.Bin))
		case "pair":
			body = appendStr(appendStr(body, p.S), p.V)
		default:
			body = appendStr(body, p.S)
		}
	}
	return append(appendVarint(nil, len(body)), body...)
}

// frame prepends the fixed header to body.
func frame(header byte, body []byte) []byte {
	return append(appendVarint([]byte{header}, len(body)), body...)
}

// rawWill is the will part of a raw CONNECT.
type rawWill struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
	Props   props
}

// rawConnect describes a CONNECT packet.
type rawConnect struct {
	Version   byte // 4 (3.1.1) or 5
	ClientID  string
	Clean     bool
	KeepAlive uint16
	Props     props
	Will      *rawWill
	Username  *string
	Password  []byte // sent when not nil
}

func (c rawConnect) bytes() []byte {
	b := appendStr(nil, "MQTT")
	b = append(b, c.Version)
	var flags byte
	if c.Clean {
		flags |= 0x02
	}
	if c.Username != nil {
		flags |= 0x80
	}
	if c.Password != nil {
		flags |= 0x40
	}
	if c.Will != nil {
		flags |= 0x04 | c.Will.QoS<<3
		if c.Will.Retain {
			flags |= 0x20
		}
	}
	b = append(b, flags)
	b = appendU16(b, c.KeepAlive)
	if c.Version == 5 {
		b = append(b, encodeProps(c.Props)...)
	}
	b = appendStr(b, c.ClientID)
	if c.Will != nil {
		if c.Version == 5 {
			b = append(b, encodeProps(c.Will.Props)...)
		}
		b = appendStr(b, c.Will.Topic)
		b = appendStr(b, c.Will.Payload)
	}
	if c.Username != nil {
		b = appendStr(b, *c.Username)
	}
	if c.Password != nil {
		b = appendStr(b, string(c.Password))
	}
	return frame(tCONNECT<<4, b)
}

// rawPublish describes a PUBLISH packet.
type rawPublish struct {
	Topic   string
	QoS     byte
	Dup     bool
	Retain  bool
	ID      uint16
	Props   props
	Payload []byte
}

func (p rawPublish) bytes(v5 bool) []byte {
	h := byte(tPUBLISH<<4) | p.QoS<<1
	if p.Dup {
		h |= 0x08
	}
	if p.Retain {
		h |= 0x01
	}
	b := appendStr(nil, p.Topic)
	if p.QoS > 0 {
		b = appendU16(b, p.ID)
	}
	if v5 {
		b = append(b, encodeProps(p.Props)...)
	}
	return frame(h, append(b, p.Payload...))
}

// rawAck encodes PUBACK, PUBREC, PUBREL or PUBCOMP with reason 0 (the short
// form, valid in both versions).
func rawAck(typ byte, id uint16) []byte {
	h := typ << 4
	if typ == tPUBREL {
		h |= 0x02
	}
	return frame(h, appendU16(nil, id))
}

// rawSubscribe encodes a SUBSCRIBE; opts are the subscription options byte
// (QoS in bits 0-1; v5 adds No Local 0x04, RAP 0x08, retain handling <<4).
func rawSubscribe(v5 bool, id uint16, ps props, filters []string, opts []byte) []byte {
	b := appendU16(nil, id)
	if v5 {
		b = append(b, encodeProps(ps)...)
	}
	for i, f := range filters {
		b = append(appendStr(b, f), opts[i])
	}
	return frame(tSUBSCRIBE<<4|0x02, b)
}

var (
	rawPingreq = []byte{tPINGREQ << 4, 0}
)

func rawDisconnect(v5 bool, reason byte) []byte {
	if !v5 || reason == 0 {
		return []byte{tDISCONNECT << 4, 0}
	}
	return []byte{tDISCONNECT << 4, 1, reason}
}

// rawPacket is one decoded packet: type, flags and body.
type rawPacket struct {
	Type  byte
	Flags byte
	Body  []byte
}

func (p *rawPacket) String() string {
	return fmt.Sprintf("packet type %d flags %#x len %d", p.Type, p.Flags, len(p.Body))
}

// reader walks a packet body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) need(n int) bool {
	if r.err == nil && len(r.b) < n {
		r.err = io.ErrUnexpectedEOF
	}
	return r.err == nil
}

func (r *reader) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) varint() int {
	v, mul := 0, 1
	for i := 0; i < 4; i++ {
		d := r.u8()
		v += int(d&0x7f) * mul
		if d&0x80 == 0 {
			return v
		}
		mul *= 128
	}
	if r.err == nil {
		r.err = errors.New("varint too long")
	}
	return 0
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes(int(r.u16()))) }

func (r *reader) props() props {
	n := r.varint()
	if !r.need(n) {
		return nil
	}
	sub := &reader{b: r.b[:n]}
	r.b = r.b[n:]
	var ps props
	for len(sub.b) > 0 && sub.err == nil {
		p := prop{ID: sub.u8()}
		switch propKind(p.ID) {
		case "byte":
			p.N = uint32(sub.u8())
		case "u16":
			p.N = uint32(sub.u16())
		case "u32":
			p.N = sub.u32()
		case "varint":
			p.N = uint32(sub.varint())
		case "bin":
			p.Bin = sub.bytes(int(sub.u16()))
		case "pair":
			p.S, p.V = sub.str(), sub.str()
		default:
			p.S = sub.str()
		}
		ps = append(ps, p)
	}
	if sub.err != nil {
		r.err = sub.err
	}
	return ps
}

// connack is a decoded CONNACK.
type connack struct {
	SessionPresent bool
	Code           byte
	Props          props
}

func parseConnack(t testing.TB, p *rawPacket, v5 bool) connack {
	t.Helper()
	if p.Type != tCONNACK {
		t.Fatalf("want CONNACK, got %v", p)
	}
	r := &reader{b: p.Body}
	ca := connack{SessionPresent: r.u8()&1 == 1, Code: r.u8()}
	if v5 && len(r.b) > 0 {
		ca.Props = r.props()
	}
	if r.err != nil {
		t.Fatalf("bad CONNACK: %v", r.err)
	}
	return ca
}

// publish is a decoded PUBLISH.
type publish struct {
	Topic   string
	QoS     byte
	Dup     bool
	Retain  bool
	ID      uint16
	Props   props
	Payload []byte
}

func parsePublish(t testing.TB, p *rawPacket, v5 bool) publish {
	t.Helper()
	if p.Type != tPUBLISH {
		t.Fatalf("want PUBLISH, got %v", p)
	}
	pub := publish{QoS: p.Flags >> 1 & 3, Dup: p.Flags&0x08 != 0, Retain: p.Flags&1 != 0}
	r := &reader{b: p.Body}
	pub.Topic = r.str()
	if pub.QoS > 0 {
		pub.ID = r.u16()
	}
	if v5 {
		pub.Props = r.props()
	}
	pub.Payload = r.b
	if r.err != nil {
		t.Fatalf("bad PUBLISH: %v", r.err)
	}
	return pub
}

// ackID returns the packet identifier of PUBACK/PUBREC/PUBREL/PUBCOMP/
// SUBACK/UNSUBACK and, for MQTT 5, the reason code (0 when absent).
func ackID(p *rawPacket) (uint16, byte) {
	r := &reader{b: p.Body}
	id := r.u16()
	var reason byte
	if len(r.b) > 0 {
		reason = r.u8()
	}
	return id, reason
}

// subackCodes returns the reason codes of a SUBACK or UNSUBACK.
func subackCodes(t testing.TB, p *rawPacket, v5 bool) []byte {
	t.Helper()
	r := &reader{b: p.Body}
	r.u16()
	if v5 {
		r.props()
	}
	if r.err != nil {
		t.Fatalf("bad %v: %v", p, r.err)
	}
	return r.b
}

// disconnectReason returns the reason code of a DISCONNECT (0 when absent).
func disconnectReason(p *rawPacket) byte {
	if len(p.Body) == 0 {
		return 0
	}
	return p.Body[0]
}

// rawClient is a bare TCP connection speaking hand-encoded MQTT.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	v5   bool
}

func dialRaw(t testing.TB, addr string, v5 bool) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, br: bufio.NewReader(conn), v5: v5}
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("raw write: %v", err)
	}
}

// sendMaybe writes b and ignores errors (the broker may already have closed).
func (c *rawClient) sendMaybe(b []byte) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	_, _ = c.conn.Write(b)
}

// read returns the next packet or an error (io.EOF and friends on close, a
// timeout error when nothing arrives within d).
func (c *rawClient) read(d time.Duration) (*rawPacket, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	h, err := c.br.ReadByte()
	if err != nil {
		return nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return nil, errors.New("bad remaining length")
		}
		d, err := c.br.ReadByte()
		if err != nil {
			return nil, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		mul *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	return &rawPacket{Type: h >> 4, Flags: h & 0x0f, Body: body}, nil
}

// expect reads the next packet and fails unless it has type typ.
func (c *rawClient) expect(typ byte) *rawPacket {
	c.t.Helper()
	p, err := c.read(waitTimeout)
	if err != nil {
		c.t.Fatalf("waiting for packet type %d: %v", typ, err)
	}
	if p.Type != typ {
		if p.Type == tDISCONNECT {
			c.t.Fatalf("want packet type %d, got DISCONNECT reason %#x", typ, disconnectReason(p))
		}
		c.t.Fatalf("want packet type %d, got %v", typ, p)
	}
	return p
}

// connect sends CONNECT and returns the CONNACK, failing unless accepted.
func (c *rawClient) connect(rc rawConnect) connack {
	c.t.Helper()
	ca := c.connectAny(rc)
	if ca.Code != 0 {
		c.t.Fatalf("CONNECT %q refused: %#x", rc.ClientID, ca.Code)
	}
	return ca
}

// connectAny sends CONNECT and returns the CONNACK whatever its code.
func (c *rawClient) connectAny(rc rawConnect) connack {
	c.t.Helper()
	c.send(rc.bytes())
	return parseConnack(c.t, c.expect(tCONNACK), rc.Version == 5)
}

// subscribe subscribes to one filter with the given options byte and
// returns the granted code.
func (c *rawClient) subscribe(id uint16, filter string, opts byte, ps props) byte {
	c.t.Helper()
	c.send(rawSubscribe(c.v5, id, ps, []string{filter}, []byte{opts}))
	p := c.expect(tSUBACK)
	if got, _ := ackID(p); got != id {
		c.t.Fatalf("SUBACK id %d, want %d", got, id)
	}
	codes := subackCodes(c.t, p, c.v5)
	if len(codes) != 1 {
		c.t.Fatalf("SUBACK codes %v", codes)
	}
	return codes[0]
}

// ping makes a PINGREQ/PINGRESP round trip and returns every other packet
// received before the PINGRESP.
func (c *rawClient) ping() []*rawPacket {
	c.t.Helper()
	c.send(rawPingreq)
	var other []*rawPacket
	for {
		p, err := c.read(waitTimeout)
		if err != nil {
			c.t.Fatalf("waiting for PINGRESP: %v", err)
		}
		if p.Type == tPINGRESP {
			return other
		}
		other = append(other, p)
	}
}

// closeResult is what a raw client saw while waiting for the broker to
// close the connection.
type closeResult struct {
	Closed     bool
	Packets    []*rawPacket
	Disconnect *rawPacket // the DISCONNECT, if one arrived
	After      time.Duration
}

// waitClosed reads until the broker closes the connection or d passes.
func (c *rawClient) waitClosed(d time.Duration) closeResult {
	start := time.Now()
	var res closeResult
	for {
		left := d - time.Since(start)
		if left <= 0 {
			res.After = time.Since(start)
			return res
		}
		p, err := c.read(left)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				res.After = time.Since(start)
				return res
			}
			res.Closed = true
			res.After = time.Since(start)
			return res
		}
		res.Packets = append(res.Packets, p)
		if p.Type == tDISCONNECT {
			res.Disconnect = p
		}
	}
}

// expectClosed waits for the broker to close the connection; for MQTT 5 it
// requires a DISCONNECT with reason wantV5 first (0 = do not check).
func (c *rawClient) expectClosed(d time.Duration, wantV5 byte, clause string) closeResult {
	c.t.Helper()
	res := c.waitClosed(d)
	if !res.Closed {
		c.t.Errorf("%s: connection not closed within %v (received %v)", clause, d, res.Packets)
		return res
	}
	if c.v5 && wantV5 != 0 {
		if res.Disconnect == nil {
			c.t.Errorf("%s: connection closed without DISCONNECT %#x (received %v)", clause, wantV5, res.Packets)
		} else if got := disconnectReason(res.Disconnect); got != wantV5 {
			c.t.Errorf("%s: DISCONNECT reason %#x, want %#x", clause, got, wantV5)
		}
	}
	for _, p := range res.Packets {
		if p.Type != tDISCONNECT {
			c.t.Errorf("%s: unexpected %v before close", clause, p)
		}
	}
	return res
}

// versions runs f as two subtests, MQTT 3.1.1 and MQTT 5.
func versions(t *testing.T, f func(t *testing.T, v5 bool)) {
	for _, v5 := range []bool{false, true} {
		name := "v311"
		if v5 {
			name = "v5"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, v5)
		})
	}
}

// protoVersion returns the CONNECT protocol level.
func protoVersion(v5 bool) byte {
	if v5 {
		return 5
	}
	return 4
}

// assertServing checks that the broker still routes messages for a fresh
// MQTT 5 client.
func assertServing(t testing.TB, addr string) {
	t.Helper()
	c := mustDial5(t, addr, cleanConnect("health-"+strings.ReplaceAll(t.Name(), "/", "-")))
	c.sync(t)
}

func intPtr(v int) *int { return &v }

// leaveSubscribed creates a persistent MQTT 5 session subscribed to filter
// and ends its connection with DISCONNECT, returning only after the broker
// has closed the socket: from then on the session is offline, so messages
// published afterwards are queued, not sent to a closing connection.
func leaveSubscribed(t testing.TB, addr, id, filter string, qos byte, expiry uint32) {
	t.Helper()
	c := dialRaw(t, addr, true)
	c.connect(rawConnect{Version: 5, ClientID: id, Clean: true, KeepAlive: 30,
		Props: props{{ID: propSessionExpiry, N: expiry}}})
	if g := c.subscribe(1, filter, qos, nil); g != qos {
		t.Fatalf("%s: subscribe %q granted %#x", id, filter, g)
	}
	c.send(rawDisconnect(true, 0))
	if res := c.waitClosed(waitTimeout); !res.Closed || len(res.Packets) != 0 {
		t.Fatalf("%s: after DISCONNECT: closed=%v packets %v", id, res.Closed, res.Packets)
	}
}
