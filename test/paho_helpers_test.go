package test

// Helpers for the black-box interop tests: wrappers around the two Eclipse
// Paho clients (MQTT 5 and MQTT 3.1.1) that collect what they receive. The
// raw-socket codec lives in raw_paho_test.go.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moatmq/moat/internal/testutil"
)

// waitTimeout bounds every positive wait (a message, an ack, a close).
const waitTimeout = 5 * time.Second

// grace is the short bounded wait used to show a negative ("nothing more
// arrives") after a synchronising event has already been observed.
const grace = 200 * time.Millisecond

// ---------------------------------------------------------------------------
// Received messages, common to both Paho clients.

// message is one received PUBLISH as seen by a test client.
type message struct {
	Topic    string // resolved through topic aliases for MQTT 5
	QoS      byte
	Retain   bool
	Dup      bool
	PacketID uint16
	Payload  []byte
	Props    *paho.PublishProperties // MQTT 5 only
	Alias    uint16                  // topic alias carried by the packet, 0 if none
	At       time.Time
}

// inbox collects messages in arrival order; safe for concurrent use.
type inbox struct {
	mu       sync.Mutex
	msgs     []message
	aliases  map[uint16]string
	aliasErr []string
}

func newInbox() *inbox { return &inbox{aliases: map[uint16]string{}} }

func (b *inbox) add(m message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.Alias != 0 {
		if m.Topic != "" {
			b.aliases[m.Alias] = m.Topic
		} else if t, ok := b.aliases[m.Alias]; ok {
			m.Topic = t
		} else {
			b.aliasErr = append(b.aliasErr, fmt.Sprintf("unknown topic alias %d", m.Alias))
		}
	}
	b.msgs = append(b.msgs, m)
}

func (b *inbox) all() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]message(nil), b.msgs...)
}

func (b *inbox) aliasErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.aliasErr...)
}

// count returns how many messages carry payload.
func (b *inbox) count(payload string) int {
	n := 0
	for _, m := range b.all() {
		if string(m.Payload) == payload {
			n++
		}
	}
	return n
}

func (b *inbox) payloads() []string {
	var out []string
	for _, m := range b.all() {
		out = append(out, string(m.Payload))
	}
	return out
}

// waitPayload waits for the first message carrying payload and returns it.
func (b *inbox) waitPayload(t testing.TB, payload string) message {
	t.Helper()
	var got message
	testutil.Eventually(t, waitTimeout, fmt.Sprintf("message %q (have %q)", payload, b.payloads()), func() bool {
		for _, m := range b.all() {
			if string(m.Payload) == payload {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// waitCount waits until at least n messages arrived and returns all of them.
func (b *inbox) waitCount(t testing.TB, n int) []message {
	t.Helper()
	testutil.Eventually(t, waitTimeout, fmt.Sprintf("%d messages (have %q)", n, b.payloads()), func() bool {
		return len(b.all()) >= n
	})
	return b.all()
}

// ---------------------------------------------------------------------------
// MQTT 5 client (paho.golang).

// client5 is a connected paho.golang client with its inbox and the server
// DISCONNECT / error notifications.
type client5 struct {
	*paho.Client
	ID      string
	Connack *paho.Connack
	Inbox   *inbox
	Disc    chan *paho.Disconnect // server-sent DISCONNECT (buffered)
	Errs    chan error            // client errors, e.g. connection lost (buffered)
	syncN   int
}

// dial5 connects an MQTT 5 client. cp.ClientID is used as given; cfg, if
// not nil, may adjust the client configuration. On a refused connection the
// client (with its Connack, if any) is returned along with the error.
func dial5(t testing.TB, addr string, cp *paho.Connect, cfg func(*paho.ClientConfig)) (*client5, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, err
	}
	c := &client5{
		ID:    cp.ClientID,
		Inbox: newInbox(),
		Disc:  make(chan *paho.Disconnect, 4),
		Errs:  make(chan error, 16),
	}
	cc := paho.ClientConfig{
		ClientID: cp.ClientID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			m := message{Topic: p.Topic, QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate(), PacketID: p.PacketID,
				Payload: append([]byte(nil), p.Payload...), Props: p.Properties, At: time.Now()}
			if p.Properties != nil && p.Properties.TopicAlias != nil {
				m.Alias = *p.Properties.TopicAlias
			}
			c.Inbox.add(m)
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.Disc <- d:
			default:
			}
		},
		OnClientError: func(err error) {
			select {
			case c.Errs <- err:
			default:
			}
		},
		PacketTimeout: waitTimeout,
	}
	if cfg != nil {
		cfg(&cc)
	}
	c.Client = paho.NewClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	c.Connack = ca
	if err != nil {
		return c, err
	}
	if ca.Properties != nil && ca.Properties.AssignedClientID != "" {
		c.ID = ca.Properties.AssignedClientID
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return c, nil
}

// mustDial5 is dial5 that fails the test on error.
func mustDial5(t testing.TB, addr string, cp *paho.Connect) *client5 {
	t.Helper()
	c, err := dial5(t, addr, cp, nil)
	if err != nil {
		t.Fatalf("connect %q: %v", cp.ClientID, err)
	}
	return c
}

// cleanConnect is a CONNECT with clean start and no session expiry.
func cleanConnect(id string) *paho.Connect {
	return &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
}

// sessionConnect is a CONNECT asking for a session that outlives the
// connection by expiry seconds.
func sessionConnect(id string, clean bool, expiry uint32) *paho.Connect {
	return &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: paho.Uint32(expiry)}}
}

// sub subscribes to one filter and fails the test unless it is granted.
func (c *client5) sub(t testing.TB, filter string, qos byte) {
	t.Helper()
	c.subOpts(t, paho.SubscribeOptions{Topic: filter, QoS: qos}, nil)
}

// subOpts subscribes with full options and optional properties.
func (c *client5) subOpts(t testing.TB, o paho.SubscribeOptions, props *paho.SubscribeProperties) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{o}, Properties: props})
	if err != nil {
		t.Fatalf("%s: subscribe %q: %v", c.ID, o.Topic, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] > 2 {
		t.Fatalf("%s: subscribe %q: reasons %v", c.ID, o.Topic, sa.Reasons)
	}
	return sa
}

// pub publishes and fails the test on an error or an error reason code.
func (c *client5) pub(t testing.TB, p *paho.Publish) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if err != nil {
		t.Fatalf("%s: publish %q: %v", c.ID, p.Topic, err)
	}
	return r
}

// pubs publishes a plain message.
func (c *client5) pubs(t testing.TB, topic string, qos byte, payload string) {
	t.Helper()
	c.pub(t, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
}

// sync makes a subscribe + QoS 1 publish round trip through the broker on
// a private topic: packets the broker queued for this client before it
// handled the SUBSCRIBE have been delivered by the time it returns.
func (c *client5) sync(t testing.TB) {
	t.Helper()
	c.syncN++
	topic := fmt.Sprintf("zz-sync/%s/%d", c.ID, c.syncN)
	c.sub(t, topic, 1)
	payload := "sync:" + topic
	c.pubs(t, topic, 1, payload)
	c.Inbox.waitPayload(t, payload)
}

// disconnect sends DISCONNECT with reason and closes the connection.
func (c *client5) disconnect(reason byte) {
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: reason})
}

// waitServerDisconnect waits for a server DISCONNECT and returns its reason.
func (c *client5) waitServerDisconnect(t testing.TB) byte {
	t.Helper()
	select {
	case d := <-c.Disc:
		return d.ReasonCode
	case <-time.After(waitTimeout):
		t.Fatalf("%s: no DISCONNECT from the server", c.ID)
	}
	return 0
}

// isClosed reports whether the client's connection has ended.
func (c *client5) isClosed() bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// ---------------------------------------------------------------------------
// MQTT 3.1.1 client (paho.mqtt.golang).

// client3 is a paho.mqtt.golang client whose default handler feeds Inbox.
type client3 struct {
	mqtt.Client
	ID    string
	Inbox *inbox
	Lost  chan error
	Token *mqtt.ConnectToken
}

// dial3 connects an MQTT 3.1.1 client; mutate may adjust the options.
func dial3(t testing.TB, addr, id string, clean bool, mutate func(*mqtt.ClientOptions)) (*client3, error) {
	t.Helper()
	c := &client3{ID: id, Inbox: newInbox(), Lost: make(chan error, 4)}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(waitTimeout).SetKeepAlive(30 * time.Second).SetWriteTimeout(waitTimeout).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.Inbox.add(message{Topic: m.Topic(), QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate(),
				PacketID: m.MessageID(), Payload: append([]byte(nil), m.Payload()...), At: time.Now()})
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case c.Lost <- err:
			default:
			}
		})
	if mutate != nil {
		mutate(o)
	}
	c.Client = mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitTimeout) {
		return c, errors.New("connect timed out")
	}
	c.Token = tok.(*mqtt.ConnectToken)
	if err := tok.Error(); err != nil {
		return c, err
	}
	t.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return c, nil
}

func mustDial3(t testing.TB, addr, id string, clean bool) *client3 {
	t.Helper()
	c, err := dial3(t, addr, id, clean, nil)
	if err != nil {
		t.Fatalf("connect %q: %v", id, err)
	}
	return c
}

func waitToken(t testing.TB, what string, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(waitTimeout) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (c *client3) sub(t testing.TB, filter string, qos byte) {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	waitToken(t, c.ID+": subscribe "+filter, tok)
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		if r := st.Result()[filter]; r > 2 {
			t.Fatalf("%s: subscribe %q refused: %#x", c.ID, filter, r)
		}
	}
}

func (c *client3) pubs(t testing.TB, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	waitToken(t, c.ID+": publish "+topic, c.Publish(topic, qos, retain, []byte(payload)))
}

// sync is client5.sync for the 3.1.1 client.
func (c *client3) sync(t testing.TB, n int) {
	t.Helper()
	topic := fmt.Sprintf("zz-sync3/%s/%d", c.ID, n)
	c.sub(t, topic, 1)
	c.pubs(t, topic, 1, false, "sync:"+topic)
	c.Inbox.waitPayload(t, "sync:"+topic)
}
