package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/loadgen"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/smallfile"
	"github.com/moatmq/moat/pkg/mqttsig"
)

// This file holds moat pub and the small MQTT client that moat pub and
// moat sub share, built on internal/packet. It does only what the two
// commands need: connect, publish with QoS 0 to 2, subscribe, answer the
// acknowledgements and keep alive.

// clientTimeout bounds every phase: TCP connect, TLS handshake, CONNACK,
// SUBACK, acknowledgements and every write.
const clientTimeout = 10 * time.Second

// clientMaxPacket is the largest packet the client reads (and announces to
// MQTT 5 brokers as its Maximum Packet Size).
const clientMaxPacket = 16 << 20

// clientFlags are the connection flags of moat pub and moat sub, named
// like mosquitto_pub's.
type clientFlags struct {
	host, id, user, pass, passFile string
	port                           int
	version                        string
	cafile, cert, key, serverName  string
	insecure                       bool
	keepAlive                      int
}

func addClientFlags(fl *flag.FlagSet, c *clientFlags) {
	fl.StringVar(&c.host, "h", "localhost", "broker host")
	fl.IntVar(&c.port, "p", 0, "broker port (default 1883, 8883 with TLS)")
	fl.StringVar(&c.id, "i", "", "client id (default: assigned by the broker, MQTT 5; moat-PID otherwise)")
	fl.StringVar(&c.user, "u", "", "user name")
	fl.StringVar(&c.pass, "P", "", "password (visible to other local users; prefer --password-file)")
	fl.StringVar(&c.passFile, "password-file", "", "read the password from the first line of this file")
	fl.StringVar(&c.version, "V", "5", "MQTT version: 5 or 311")
	fl.StringVar(&c.cafile, "cafile", "", "CA certificates (PEM) that verify the broker; turns TLS on")
	fl.StringVar(&c.cert, "cert", "", "client certificate (PEM), with --key; turns TLS on")
	fl.StringVar(&c.key, "key", "", "client certificate's private key (PEM)")
	fl.StringVar(&c.serverName, "tls-server-name", "", "name the broker's certificate must carry (default the host)")
	fl.BoolVar(&c.insecure, "insecure", false, "TLS without verifying the broker's certificate (tests only)")
	fl.IntVar(&c.keepAlive, "k", 60, "keep alive, seconds")
}

// mqttVersion parses -V.
func (c *clientFlags) mqttVersion() (packet.Version, error) {
	switch c.version {
	case "5", "mqttv5":
		return packet.V5, nil
	case "311", "mqttv311":
		return packet.V311, nil
	}
	return 0, fmt.Errorf("-V must be 5 or 311, not %q", c.version)
}

// tlsConfig is the client TLS configuration of the flags: TLS 1.2 at
// least, the broker verified against --cafile (default: the system's
// roots) unless --insecure, and a client certificate when given.
func (c *clientFlags) tlsConfig() (*tls.Config, error) {
	if (c.cert == "") != (c.key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	o := loadgen.TLSOptions{CAFile: c.cafile, CertFile: c.cert, KeyFile: c.key, ServerName: c.serverName,
		InsecureSkipVerify: c.insecure}
	if o.ServerName == "" {
		o.ServerName = c.host
	}
	return o.Config(net.JoinHostPort(c.host, "0"))
}

// readPasswordLine returns the first line of a password file.
func readPasswordLine(path string) ([]byte, error) {
	data, err := smallfile.Read(path, 4096)
	if err != nil {
		return nil, err
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("%s: empty password", path)
	}
	return line, nil
}

// mqttClient is one MQTT connection. The reader belongs to one goroutine;
// writes go through send, under mu, with a deadline each.
type mqttClient struct {
	nc net.Conn
	r  *packet.Reader
	v  packet.Version

	mu sync.Mutex // guards w
	w  *bufio.Writer
}

// dial connects and sends CONNECT, and returns once a successful CONNACK
// arrived.
func (c *clientFlags) dial(ctx context.Context) (*mqttClient, error) {
	v, err := c.mqttVersion()
	if err != nil {
		return nil, err
	}
	useTLS := c.cafile != "" || c.cert != "" || c.insecure
	port := c.port
	if port == 0 {
		port = 1883
		if useTLS {
			port = 8883
		}
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(port))
	var tc *tls.Config
	if useTLS {
		if tc, err = c.tlsConfig(); err != nil {
			return nil, err
		}
	}
	var pass []byte
	switch {
	case c.pass != "" && c.passFile != "":
		return nil, errors.New("give -P or --password-file, not both")
	case c.passFile != "":
		if pass, err = readPasswordLine(c.passFile); err != nil {
			return nil, err
		}
	case c.pass != "":
		pass = []byte(c.pass)
	}
	if len(pass) > 0 && c.user == "" {
		return nil, errors.New("a password needs a user name (-u)")
	}
	dctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = t
	}
	mc := &mqttClient{nc: nc, v: v, r: packet.NewReader(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
	mc.r.SetMaxPacketSize(clientMaxPacket)
	mc.r.SetOrigin(packet.FromServer)
	if err := mc.connect(c, pass); err != nil {
		nc.Close()
		return nil, err
	}
	return mc, nil
}

func (mc *mqttClient) connect(c *clientFlags, pass []byte) error {
	p := packet.Connect{Version: mc.v, CleanStart: true, ClientID: c.id, KeepAlive: uint16(max(0, min(c.keepAlive, 65535)))}
	if p.ClientID == "" && mc.v != packet.V5 {
		p.ClientID = "moat-" + strconv.Itoa(os.Getpid())
	}
	if c.user != "" {
		p.UsernameFlag, p.Username = true, c.user
		p.PasswordFlag, p.Password = len(pass) > 0, pass
	}
	if mc.v == packet.V5 {
		p.Properties.MaximumPacketSize = clientMaxPacket
		p.Properties.Set(packet.PropMaximumPacketSize)
	}
	if err := mc.send(packet.AppendConnect(nil, &p, mc.v)); err != nil {
		return err
	}
	pk, err := mc.read(time.Now().Add(clientTimeout))
	if err != nil {
		return fmt.Errorf("reading CONNACK: %w", err)
	}
	ack, ok := pk.(*packet.Connack)
	if !ok {
		return fmt.Errorf("got %v instead of CONNACK", pk.Type())
	}
	if ack.ReasonCode.IsError() || (mc.v != packet.V5 && ack.ReasonCode != 0) {
		return fmt.Errorf("connection refused: %v", ack.ReasonCode)
	}
	return nil
}

// send writes b with a deadline.
func (mc *mqttClient) send(b []byte) error {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if err := mc.nc.SetWriteDeadline(time.Now().Add(clientTimeout)); err != nil {
		return err
	}
	if _, err := mc.w.Write(b); err != nil {
		return err
	}
	return mc.w.Flush()
}

// read reads one packet by the deadline (zero: none).
func (mc *mqttClient) read(deadline time.Time) (packet.Packet, error) {
	if err := mc.nc.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	return mc.r.ReadPacket(mc.v)
}

// keepAlive sends PINGREQ every interval until stop is closed.
func (mc *mqttClient) keepAlive(interval time.Duration, stop <-chan struct{}) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if mc.send(packet.AppendPingreq(nil)) != nil {
				return
			}
		}
	}
}

// close sends DISCONNECT (best effort) and closes the connection.
func (mc *mqttClient) close() {
	_ = mc.send(packet.AppendDisconnect(nil, packet.Success, nil, mc.v))
	mc.nc.Close()
}

// publish sends p and, for QoS 1 and 2, waits for the broker's answer: the
// returned code is its reason code (always Success before MQTT 5).
func (mc *mqttClient) publish(p *packet.Publish) (packet.ReasonCode, error) {
	if err := mc.send(packet.AppendPublish(nil, p, mc.v)); err != nil || p.QoS == 0 {
		return 0, err
	}
	deadline := time.Now().Add(clientTimeout)
	for {
		pk, err := mc.read(deadline)
		if err != nil {
			return 0, fmt.Errorf("waiting for the acknowledgement: %w", err)
		}
		switch a := pk.(type) {
		case *packet.Puback:
			if p.QoS == 1 && a.PacketID == p.PacketID {
				return a.ReasonCode, nil
			}
		case *packet.Pubrec:
			if p.QoS == 2 && a.PacketID == p.PacketID {
				if a.ReasonCode.IsError() {
					return a.ReasonCode, nil
				}
				if err := mc.send(packet.AppendPubrel(nil, p.PacketID, packet.Success, nil, mc.v)); err != nil {
					return 0, err
				}
			}
		case *packet.Pubcomp:
			if p.QoS == 2 && a.PacketID == p.PacketID {
				return a.ReasonCode, nil
			}
		case *packet.Disconnect:
			return 0, fmt.Errorf("the broker disconnected: %v", a.ReasonCode)
		}
	}
}

const pubUsage = `Usage: moat pub -t TOPIC (-m MESSAGE | -f FILE | -n) [flags]

Publish one message (or --repeat N) with Moat's own MQTT client. With
--sign-key it signs each message for a signed topic (docs/signed-topics.md):
MQTT 5 in the moat-sig user property, MQTT 3.1.1 (or --envelope) as an
envelope payload. The exit status is 1 when the broker refuses a message
(MQTT 5 reason code shown) or the connection fails.

Example:
  moat pub -u valve-7 --password-file pw -t plant/7/valve/cmd -m open -q 1 \
    --sign-key valve-7.key --kid valve-7-2026

Flags:
`

func pubCmd(args []string) int {
	fl := flag.NewFlagSet("pub", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(fl.Output(), pubUsage); fl.PrintDefaults() }
	var cf clientFlags
	addClientFlags(fl, &cf)
	topicName := fl.String("t", "", "topic (required)")
	message := fl.String("m", "", "payload")
	file := fl.String("f", "", "read the payload from this file ('-': standard input)")
	null := fl.Bool("n", false, "empty payload")
	qos := fl.Int("q", 0, "QoS: 0, 1 or 2")
	retain := fl.Bool("r", false, "retain the message")
	repeat := fl.Int("repeat", 1, "publish the message this many times (each signed anew)")
	signKey := fl.String("sign-key", "", "sign with this private key (PEM, mode 0600)")
	kid := fl.String("kid", "", "key id of --sign-key in the key registry (default: its sha256: id, as moat keys bind names it)")
	identity := fl.String("identity", "", "identity to sign as (default -u)")
	nonce := fl.Bool("nonce", false, "sign with a random nonce instead of an epoch and sequence number")
	epoch := fl.Uint64("epoch", 0, "boot epoch of the sequence numbers (default: now in Unix milliseconds)")
	seq := fl.Uint64("seq", 1, "first sequence number")
	expires := fl.Duration("expires", 0, "sign an absolute expiry this long after the issue time")
	envelope := fl.Bool("envelope", false, "MQTT 5: send an envelope payload instead of the moat-sig property (carriage: envelope)")
	pf := addPropFlags(fl)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "moat pub: "+format+"\n\n", a...)
		fl.Usage()
		return 2
	}
	if fl.NArg() > 0 {
		return usageErr("unexpected argument %q", fl.Arg(0))
	}
	if *topicName == "" {
		return usageErr("-t is required")
	}
	n := 0
	for _, set := range []bool{*message != "", *file != "", *null} {
		if set {
			n++
		}
	}
	if n > 1 {
		return usageErr("give one of -m, -f and -n")
	}
	if *qos < 0 || *qos > 2 {
		return usageErr("-q must be 0, 1 or 2")
	}
	if *repeat < 1 {
		return usageErr("--repeat must be at least 1")
	}
	v, err := cf.mqttVersion()
	if err != nil {
		return usageErr("%v", err)
	}
	props, err := pf.properties(fl)
	if err != nil {
		return usageErr("%v", err)
	}
	if props != nil && v != packet.V5 {
		return usageErr("MQTT 5 properties need -V 5")
	}
	payload, err := readPayload(*message, *file, false)
	if err != nil {
		return pubFail(err)
	}
	var signer *mqttsig.Signer
	if *signKey != "" {
		who := *identity
		if who == "" {
			who = cf.user
		}
		if signer, err = loadPubSigner(*signKey, *kid, who, *nonce, *epoch, *seq, *expires); err != nil {
			return pubFail(err)
		}
	} else if *kid != "" || *identity != "" || *nonce || *envelope {
		return usageErr("--kid, --identity, --nonce and --envelope need --sign-key")
	}

	ctx, stop := signalContext()
	defer stop()
	mc, err := cf.dial(ctx)
	if err != nil {
		return pubFail(err)
	}
	defer mc.close()
	p := packet.Publish{Topic: *topicName, QoS: byte(*qos), Retain: *retain}
	if props != nil {
		p.Properties = *props
	}
	refused := 0
	for i := range *repeat {
		p.Payload, p.Properties.UserProperties = payload, nil
		if signer != nil {
			if err := signInto(signer, &p, v == packet.V5 && !*envelope); err != nil {
				return pubFail(err)
			}
		}
		if p.QoS > 0 {
			p.PacketID = uint16(i%65535) + 1
		}
		code, err := mc.publish(&p)
		if err != nil {
			return pubFail(err)
		}
		if code.IsError() {
			fmt.Fprintf(os.Stderr, "moat pub: message %d refused: 0x%02x %v\n", i+1, byte(code), code)
			refused++
		}
	}
	if refused > 0 {
		return 1
	}
	return 0
}

func pubFail(err error) int {
	fmt.Fprintf(os.Stderr, "moat pub: %v\n", err)
	return 1
}

// loadPubSigner reads the signing key; without a kid it uses the key's
// sha256: id.
func loadPubSigner(path, kid, identity string, nonce bool, epoch, seq uint64, expires time.Duration) (*mqttsig.Signer, error) {
	if identity == "" {
		return nil, errors.New("signing needs an identity: --identity or -u")
	}
	key, err := mqttsig.LoadPrivateKey(path)
	if err != nil {
		return nil, err
	}
	if kid == "" {
		if kid, err = spkiKeyID(key.Public()); err != nil {
			return nil, err
		}
	}
	c := mqttsig.SignerConfig{KeyID: kid, Identity: identity, Key: key, Epoch: epoch, FirstSeq: seq, Expiry: expires}
	if nonce {
		c.Mode = mqttsig.Nonce
	}
	return mqttsig.NewSigner(c)
}

// signInto signs p: the moat-sig user property when detached, else the
// payload replaced by the envelope.
func signInto(s *mqttsig.Signer, p *packet.Publish, detached bool) error {
	m := mqttsig.Message{Topic: p.Topic, Payload: p.Payload, Retain: p.Retain, Properties: signedProps(&p.Properties)}
	if !detached {
		env, err := s.Envelope(&m)
		p.Payload = env
		return err
	}
	sig, err := s.Detached(&m)
	if err != nil {
		return err
	}
	pp := &p.Properties
	pp.UserProperties = []packet.UserProperty{{Key: mqttsig.UserProperty, Value: sig}}
	pp.Set(packet.PropUserProperty)
	return nil
}

// signedProps returns the properties of pp that a signature covers.
func signedProps(pp *packet.Properties) mqttsig.Properties {
	var out mqttsig.Properties
	if pp.Has(packet.PropResponseTopic) {
		out.ResponseTopic = &pp.ResponseTopic
	}
	if pp.Has(packet.PropCorrelationData) {
		out.CorrelationData = pp.CorrelationData
		if out.CorrelationData == nil {
			out.CorrelationData = []byte{} // present and empty
		}
	}
	if pp.Has(packet.PropContentType) {
		out.ContentType = &pp.ContentType
	}
	if pp.Has(packet.PropPayloadFormat) {
		out.PayloadFormat = &pp.PayloadFormat
	}
	return out
}
