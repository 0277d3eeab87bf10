package broker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/server"
)

// fuzzHang bounds every step of a fuzzed connection: writing the input
// (the broker must keep reading), the handler's return once the client has
// closed, and the fresh client's round trip. A broker that needs longer is
// hung, not slow: each step takes microseconds.
const fuzzHang = 10 * time.Second

// Fuzz modes: bits of the first input byte choose the CONNECT and the
// company the fuzzed client has.
const (
	fuzzV5          = 1 << iota // MQTT 5 (else 3.1.1)
	fuzzWill                    // a will, QoS 1, retained
	fuzzSmall                   // MQTT 5: the client's Receive Maximum 2, Topic Alias Maximum 2, Maximum Packet Size 256
	fuzzPersist                 // MQTT 5: session expiry 60 s; 3.1.1: clean session 0
	fuzzObserver                // a second client subscribed to "#" that never acknowledges
	fuzzProblemInfo             // MQTT 5: Request Problem Information 0
	fuzzV31                     // MQTT 3.1 ("MQIsdp") instead of 3.1.1
	fuzzStrict                  // a broker offering little: see strictLimits
)

// fuzzLimits are small, so that fuzzed input reaches them. They are built
// once: every input gets a copy.
var fuzzLimits = sync.OnceValue(func() broker.Limits {
	lim := server.Limits(config.Default())
	lim.ConnectTimeout = fuzzHang
	lim.WriteTimeout = fuzzHang
	lim.MaxPacketSize = 16 << 10
	lim.ReceiveMaximum = 4
	lim.MaxInflight = 4
	lim.MaxQueuedMessages = 8
	lim.MaxQueuedBytes = 64 << 10
	lim.MaxSubscriptions = 16
	lim.MaxRetained = 16
	lim.TopicAliasMaximum = 4
	lim.Topic.MaxLevels = 8
	lim.Topic.MaxLength = 256
	lim.AllowEmptyClientID = true
	lim.AllowMQTT31 = true
	return lim
})

// strictLimits turn off what a broker may refuse: QoS 2, retain,
// wildcards, shared subscriptions, subscription identifiers and topic
// aliases; root wildcards and denied publishes close 3.1.1 connections.
func strictLimits(lim *broker.Limits) {
	lim.MaxQoS = 1
	lim.RetainAvailable = false
	lim.WildcardSubscriptions = false
	lim.SharedSubscriptions = false
	lim.SubscriptionIdentifiers = false
	lim.TopicAliasMaximum = 0
	lim.NoRootWildcards = true
	lim.DisconnectDeniedPublish = true
}

// denyD is an authorizer that denies every action on topics under "d/".
type denyD struct{ acl.AllowAll }

func (a denyD) Authorize(s *acl.Subject, r acl.Request) acl.Result {
	if strings.HasPrefix(r.Topic, "d/") {
		return acl.Result{Rule: "fuzz: deny d/"}
	}
	return a.AllowAll.Authorize(s, r)
}

var fuzzRemote = netip.MustParseAddrPort("192.0.2.1:1883")

// FuzzConnection feeds arbitrary bytes to a whole connection after a valid
// CONNECT: each input runs on a fresh in-process broker over net.Pipe, so
// that no state leaks between inputs. The broker must not panic (a panic
// in the reader is recovered and counted, and fails the target too), must
// keep reading the input, must end the connection promptly once the client
// closes, and must then serve a fresh client (connect, subscribe, publish,
// receive). Every crasher is kept in testdata/fuzz/FuzzConnection.
func FuzzConnection(f *testing.F) {
	for _, s := range connSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mode := data[0]
		lim := fuzzLimits()
		if mode&fuzzStrict != 0 {
			strictLimits(&lim)
		}
		b := broker.New(broker.Options{Limits: lim, ACL: denyD{}, Metrics: &metrics.Metrics{}})
		var obs *fuzzClient
		if mode&fuzzObserver != 0 {
			obs = startFuzzClient(b)
			obs.write(t, fuzzConnect(packet.V5, "observer", fuzzSmall))
			obs.write(t, mustAppend(t, &packet.Subscribe{PacketID: 1,
				Subscriptions: []packet.Subscription{{Filter: "#", QoS: 2}}}, packet.V5))
		}
		v := packet.V311
		switch {
		case mode&fuzzV5 != 0:
			v = packet.V5
		case mode&fuzzV31 != 0:
			v = packet.V31
		}
		c := startFuzzClient(b)
		c.write(t, fuzzConnect(v, "fuzzed", mode))
		c.writeMaybe(t, data[1:])
		c.close(t)
		if obs != nil {
			obs.close(t)
		}
		if n := b.Metrics().Panics.Load(); n != 0 {
			t.Fatalf("the connection handler panicked (%d recovered)", n)
		}
		freshClient(t, b)
		if n := b.Metrics().ConnectionsCurrent.Load(); n != 0 {
			t.Fatalf("%d connections left open", n)
		}
		// Stop the session timers a persistent session left behind.
		ctx, cancel := context.WithTimeout(context.Background(), fuzzHang)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	})
}

// fuzzClient is the client end of a net.Pipe served by the broker; a
// goroutine drains what the broker writes.
type fuzzClient struct {
	nc      net.Conn
	served  chan struct{} // closed when Serve returned
	drained chan struct{} // closed when the broker side is closed
}

func startFuzzClient(b *broker.Broker) *fuzzClient {
	cli, srv := net.Pipe()
	c := &fuzzClient{nc: cli, served: make(chan struct{}), drained: make(chan struct{})}
	go func() {
		defer close(c.served)
		b.Serve(srv, broker.ConnInfo{Listener: "fuzz", Remote: fuzzRemote})
	}()
	go func() {
		defer close(c.drained)
		_, _ = io.Copy(io.Discard, cli)
	}()
	return c
}

// write sends b and fails when the broker does not read it in time.
func (c *fuzzClient) write(t *testing.T, b []byte) {
	t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(fuzzHang))
	if _, err := c.nc.Write(b); err != nil {
		t.Fatalf("writing %d bytes: %v", len(b), err)
	}
}

// writeMaybe sends b; the broker may close the connection first, but it
// must not stop reading while it keeps the connection open.
func (c *fuzzClient) writeMaybe(t *testing.T, b []byte) {
	t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(fuzzHang))
	if _, err := c.nc.Write(b); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("the broker stopped reading the input: %v", err)
	}
}

// close ends the client side and waits for the broker's handler to return.
func (c *fuzzClient) close(t *testing.T) {
	t.Helper()
	c.nc.Close()
	select {
	case <-c.served:
	case <-time.After(fuzzHang):
		t.Fatalf("the connection handler still runs %v after the client closed", fuzzHang)
	}
	<-c.drained
}

// freshClient checks that the broker serves a new client: connect,
// subscribe, publish at QoS 1 and receive the message.
func freshClient(t *testing.T, b *broker.Broker) {
	t.Helper()
	cli, srv := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		b.Serve(srv, broker.ConnInfo{Listener: "fuzz", Remote: fuzzRemote})
	}()
	defer func() {
		cli.Close()
		<-served
	}()
	_ = cli.SetDeadline(time.Now().Add(fuzzHang))
	r := packet.NewReader(cli, 0)
	r.SetOrigin(packet.FromServer)
	buf := fuzzConnect(packet.V5, "fresh", 0)
	buf = append(buf, mustAppend(t, &packet.Subscribe{PacketID: 1,
		Subscriptions: []packet.Subscription{{Filter: "fresh/t", QoS: 1}}}, packet.V5)...)
	buf = append(buf, mustAppend(t, &packet.Publish{QoS: 1, PacketID: 2, Topic: "fresh/t", Payload: []byte("ok")}, packet.V5)...)
	writes := make(chan error, 1)
	go func() {
		_, err := cli.Write(buf)
		writes <- err
	}()
	var got []string
	for done := false; !done; {
		pk, err := r.ReadPacket(packet.V5)
		if err != nil {
			t.Fatalf("fresh client after %v: %v", got, err)
		}
		got = append(got, pk.Type().String())
		switch p := pk.(type) {
		case *packet.Connack:
			if p.ReasonCode != 0 {
				t.Fatalf("fresh client refused: %v", p.ReasonCode)
			}
		case *packet.Suback:
			if p.ReasonCodes[0] != 1 {
				t.Fatalf("fresh client's SUBSCRIBE: %v", p.ReasonCodes[0])
			}
		case *packet.Publish:
			done = string(p.Payload) == "ok"
		}
	}
	if err := <-writes; err != nil {
		t.Fatalf("fresh client write: %v", err)
	}
}

// fuzzConnect is the valid CONNECT of a mode.
func fuzzConnect(v packet.Version, id string, mode byte) []byte {
	cp := &packet.Connect{Version: v, CleanStart: true, KeepAlive: 60, ClientID: id}
	if mode&fuzzWill != 0 {
		cp.WillFlag, cp.WillQoS, cp.WillRetain = true, 1, true
		cp.WillTopic, cp.WillPayload = "will/"+id, []byte("gone")
	}
	if mode&fuzzPersist != 0 {
		if v == packet.V5 {
			cp.Properties.SessionExpiryInterval = 60
			cp.Properties.Set(packet.PropSessionExpiryInterval)
		} else {
			cp.CleanStart = false
		}
	}
	if v == packet.V5 && mode&fuzzSmall != 0 {
		p := &cp.Properties
		p.ReceiveMaximum, p.TopicAliasMaximum, p.MaximumPacketSize = 2, 2, 256
		p.Set(packet.PropReceiveMaximum)
		p.Set(packet.PropTopicAliasMaximum)
		p.Set(packet.PropMaximumPacketSize)
	}
	if v == packet.V5 && mode&fuzzProblemInfo != 0 {
		cp.Properties.RequestProblemInformation = 0
		cp.Properties.Set(packet.PropRequestProblemInformation)
	}
	b, err := packet.Append(nil, cp, v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustAppend(t testing.TB, p packet.Packet, v packet.Version) []byte {
	b, err := packet.Append(nil, p, v)
	if err != nil {
		t.Fatalf("encoding %v: %v", p.Type(), err)
	}
	return b
}

// connSeeds are one valid example of every packet type, alone and whole
// or truncated, a session of every packet a client may send, under each
// mode, and packets split across each other, for each version; the first
// byte is the mode.
func connSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, v := range []packet.Version{packet.V31, packet.V311, packet.V5} {
		mode := byte(0)
		switch v {
		case packet.V5:
			mode = fuzzV5
		case packet.V31:
			mode = fuzzV31
		}
		flow, ending := seedPackets(v)
		var session []byte
		for i, p := range append(flow, ending...) {
			b := mustAppend(t, p, v)
			seeds = append(seeds, append([]byte{mode}, b...))
			seeds = append(seeds, append([]byte{mode}, b[:len(b)/2]...)) // truncated
			if i < len(flow) {
				session = append(session, b...)
			}
		}
		session = append(session, mustAppend(t, &packet.Disconnect{}, v)...)
		for _, m := range []byte{0, fuzzWill, fuzzSmall, fuzzPersist, fuzzObserver, fuzzProblemInfo,
			fuzzStrict, fuzzStrict | fuzzObserver, fuzzWill | fuzzSmall | fuzzObserver | fuzzPersist} {
			seeds = append(seeds, append([]byte{mode | m}, session...))
		}
		// Split: the start of a PUBLISH header, then a whole SUBSCRIBE.
		pub := mustAppend(t, flow[1], v)
		seeds = append(seeds, append(append([]byte{mode}, pub[:2]...), mustAppend(t, flow[0], v)...))
	}
	return seeds
}

// seedPackets returns, for version v, one valid packet of each type a
// client sends in a session (flow), and those that end the connection
// (ending): a second CONNECT, the server's packets and DISCONNECT.
func seedPackets(v packet.Version) (flow, ending []packet.Packet) {
	var user, alias, auth packet.Properties
	if v == packet.V5 {
		user.UserProperties = []packet.UserProperty{{Key: "k", Value: "v"}}
		alias.TopicAlias = 1
		alias.Set(packet.PropTopicAlias)
		auth.AuthenticationMethod = "SCRAM-SHA-256"
		auth.Set(packet.PropAuthenticationMethod)
	}
	flow = []packet.Packet{
		&packet.Subscribe{PacketID: 1, Properties: user, Subscriptions: []packet.Subscription{
			{Filter: "a/+", QoS: 2}, {Filter: "$share/g/a/#", QoS: 1}, {Filter: "#", QoS: 0}, {Filter: "d/x", QoS: 1}}},
		&packet.Publish{QoS: 1, PacketID: 6, Topic: "d/x", Payload: []byte("denied")},
		&packet.Publish{Topic: "a/b", Payload: []byte("qos0"), Retain: true},
		&packet.Publish{QoS: 1, PacketID: 2, Topic: "a/b", Payload: []byte("qos1"), Properties: user},
		&packet.Publish{QoS: 2, PacketID: 3, Topic: "a/c", Payload: []byte("qos2"), Properties: alias},
		&packet.Pubrel{PacketID: 3},
		&packet.Puback{PacketID: 1},
		&packet.Pubrec{PacketID: 2},
		&packet.Pubcomp{PacketID: 2},
		&packet.Unsubscribe{PacketID: 4, Filters: []string{"a/+", "nothing"}},
		&packet.Pingreq{},
	}
	if v == packet.V5 {
		flow = append(flow, &packet.Publish{QoS: 1, PacketID: 5, Payload: []byte("alias"), Properties: alias})
	}
	ending = []packet.Packet{
		&packet.Connect{Version: v, CleanStart: true, ClientID: "again"},
		&packet.Connack{},
		&packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}},
		&packet.Unsuback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}},
		&packet.Pingresp{},
		&packet.Disconnect{},
	}
	if v == packet.V5 {
		ending = append(ending, &packet.Auth{ReasonCode: packet.ReAuthenticate, Properties: auth})
	}
	return flow, ending
}
