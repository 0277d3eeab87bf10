package broker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/listener"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/server"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/testutil"
)

// startBroker runs a broker with custom seams on 127.0.0.1:0.
func startBroker(t *testing.T, o broker.Options) (string, *broker.Broker) {
	t.Helper()
	return startBrokerWith(t, o, nil)
}

// startBrokerWith is startBroker with the default limits adjusted by
// limits (may be nil).
func startBrokerWith(t *testing.T, o broker.Options, limits func(*broker.Limits)) (string, *broker.Broker) {
	t.Helper()
	o.Limits = server.Limits(config.Default())
	if limits != nil {
		limits(&o.Limits)
	}
	if o.Metrics == nil {
		o.Metrics = &metrics.Metrics{}
	}
	b := broker.New(o)
	l := &listener.TCP{Name: "test", Address: "127.0.0.1:0", Log: testLog(),
		Handle: func(a listener.Accepted) {
			b.Serve(a.Conn, broker.ConnInfo{Listener: a.Listener, Remote: a.Remote})
		}}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	go l.Serve()
	t.Cleanup(func() {
		l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		l.Wait()
	})
	return l.Addr().String(), b
}

// dial connects a raw client and sends CONNECT without reading CONNACK.
func dial(t *testing.T, addr string, cp *packet.Connect) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{nc: nc, r: packet.NewReader(nc, 4096)}
	c.r.SetOrigin(packet.FromServer)
	buf, err := packet.Append(nil, cp, cp.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *rawClient) send(t *testing.T, p packet.Packet, v packet.Version) {
	t.Helper()
	buf, err := packet.Append(nil, p, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nc.Write(buf); err != nil {
		t.Fatal(err)
	}
}

func (c *rawClient) read(t *testing.T, v packet.Version) packet.Packet {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	pk, err := c.r.ReadPacket(v)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return pk
}

func v5(id string) *packet.Connect {
	return &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, ClientID: id}
}

// recorder is an audit sink that keeps events.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recorder) Record(e audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) has(k audit.Kind, code packet.ReasonCode) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == k && e.Reason == code {
			return true
		}
	}
	return false
}

// panicky panics when asked about the topic "boom".
type panicky struct{ acl.AllowAll }

func (p panicky) Authorize(s *acl.Subject, r acl.Request) acl.Result {
	if r.Topic == "boom" {
		panic("authorizer bug")
	}
	return p.AllowAll.Authorize(s, r)
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	rec := &recorder{}
	addr, b := startBroker(t, broker.Options{ACL: panicky{}, Audit: rec})
	bad := dial(t, addr, v5("bad"))
	if ack := bad.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	bad.send(t, &packet.Publish{Topic: "boom", Payload: []byte("x")}, packet.V5)
	d, ok := bad.read(t, packet.V5).(*packet.Disconnect)
	if !ok || d.ReasonCode != packet.ImplementationSpecificError {
		t.Fatalf("want DISCONNECT 0x83, got %+v", d)
	}
	if got := b.Metrics().Panics.Load(); got != 1 {
		t.Fatalf("panics counted: %d", got)
	}
	if !rec.has(audit.ProtocolViolation, packet.ImplementationSpecificError) {
		t.Fatal("no audit event for the panic")
	}
	// Another client is served normally.
	good := dial(t, addr, v5("good"))
	if ack := good.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	good.send(t, &packet.Pingreq{}, packet.V5)
	if _, ok := good.read(t, packet.V5).(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP after another connection panicked")
	}
}

// failingStore fails every write of a session record or a queued message.
type failingStore struct{ store.Memory }

var errDisk = errors.New("disk on fire")

func (failingStore) Enqueue(string, uint64, *session.Message) error { return errDisk }
func (failingStore) SaveSession(s *store.Session) error             { return errDisk }
func (f failingStore) Apply(b *store.Batch) error                   { return f.ApplyNoSync(b) }
func (failingStore) ApplyNoSync(b *store.Batch) error {
	for _, op := range b.Ops {
		if op.Kind == store.OpSaveSession || op.Kind == store.OpEnqueue {
			return errDisk
		}
	}
	return nil
}

func TestStoreFailureNeverHalfKeeps(t *testing.T) {
	addr, b := startBroker(t, broker.Options{Store: failingStore{}})
	// A persistent session cannot be created when its record cannot be
	// saved: CONNACK 0x88.
	cp := v5("persistent")
	cp.Properties.SessionExpiryInterval = 60
	cp.Properties.Set(packet.PropSessionExpiryInterval)
	c := dial(t, addr, cp)
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.ServerUnavailable {
		t.Fatalf("want CONNACK 0x88, got %v", ack.ReasonCode)
	}
	// A clean session does not touch the store and works.
	ok := dial(t, addr, v5("clean"))
	if ack := ok.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	if b.SessionCount() != 1 {
		t.Fatalf("sessions: %d", b.SessionCount())
	}
}

// denyAll refuses every client.
type denyAll struct{}

func (denyAll) Name() string { return "deny" }
func (denyAll) Authenticate(context.Context, *auth.Request) (auth.Result, error) {
	return auth.Result{Decision: auth.Deny, Reason: packet.BadUserNameOrPassword, Detail: "test"}, nil
}

func TestAuthDenied(t *testing.T) {
	rec := &recorder{}
	addr, _ := startBroker(t, broker.Options{Auth: auth.Chain{denyAll{}}, Audit: rec})
	c := dial(t, addr, v5("x"))
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("MQTT 5: want 0x86, got %v", ack.ReasonCode)
	}
	c3 := dial(t, addr, &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, ClientID: "y"})
	ack := c3.read(t, packet.V311).(*packet.Connack)
	if ack.ReasonCode.V3ConnectReturn() != 4 {
		t.Fatalf("MQTT 3.1.1: want return code 4, got %v", ack.ReasonCode)
	}
	if !rec.has(audit.AuthFailure, packet.BadUserNameOrPassword) {
		t.Fatal("no audit event for the failure")
	}
}

// twoStep is an enhanced authenticator for method "test": the client must
// answer the challenge "c1" with "r1"; then it is allowed with the final
// server data "ok". Re-authentication repeats the same exchange.
type twoStep struct{}

func (twoStep) Name() string { return "twostep" }
func (twoStep) Authenticate(_ context.Context, r *auth.Request) (auth.Result, error) {
	if r.Method != "test" {
		return auth.Result{}, nil
	}
	switch {
	case r.Step == 0:
		return auth.Result{Decision: auth.Continue, Data: []byte("c1"), State: "sent c1"}, nil
	case r.Step == 1 && r.State == "sent c1" && bytes.Equal(r.Data, []byte("r1")):
		return auth.Result{Decision: auth.Allow, Data: []byte("ok"), Identity: &auth.Identity{Name: r.Username, Method: "test"}}, nil
	}
	return auth.Result{Decision: auth.Deny, Reason: packet.NotAuthorized, Detail: "wrong answer"}, nil
}

func authProps(data string) packet.Properties {
	var p packet.Properties
	p.AuthenticationMethod = "test"
	p.Set(packet.PropAuthenticationMethod)
	if data != "" {
		p.AuthenticationData = []byte(data)
		p.Set(packet.PropAuthenticationData)
	}
	return p
}

func TestEnhancedAuthExchangeAndReauth(t *testing.T) {
	addr, _ := startBroker(t, broker.Options{Auth: auth.Chain{twoStep{}}})
	cp := v5("enh")
	cp.Properties = authProps("")
	c := dial(t, addr, cp)
	a, ok := c.read(t, packet.V5).(*packet.Auth)
	if !ok || a.ReasonCode != packet.ContinueAuthentication || string(a.Properties.AuthenticationData) != "c1" {
		t.Fatalf("want AUTH 0x18 with challenge, got %+v", a)
	}
	c.send(t, &packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: authProps("r1")}, packet.V5)
	ack, ok := c.read(t, packet.V5).(*packet.Connack)
	if !ok || ack.ReasonCode != 0 || string(ack.Properties.AuthenticationData) != "ok" || ack.Properties.AuthenticationMethod != "test" {
		t.Fatalf("want CONNACK success with method and data, got %+v", ack)
	}
	// Re-authentication [MQTT-4.12.1-1].
	c.send(t, &packet.Auth{ReasonCode: packet.ReAuthenticate, Properties: authProps("")}, packet.V5)
	if a := c.read(t, packet.V5).(*packet.Auth); a.ReasonCode != packet.ContinueAuthentication {
		t.Fatalf("re-auth: want AUTH 0x18, got %v", a.ReasonCode)
	}
	c.send(t, &packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: authProps("r1")}, packet.V5)
	if a := c.read(t, packet.V5).(*packet.Auth); a.ReasonCode != packet.Success {
		t.Fatalf("re-auth: want AUTH 0x00, got %v", a.ReasonCode)
	}
	// A failed re-authentication disconnects.
	c.send(t, &packet.Auth{ReasonCode: packet.ReAuthenticate, Properties: authProps("")}, packet.V5)
	c.read(t, packet.V5)
	c.send(t, &packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: authProps("wrong")}, packet.V5)
	if d, ok := c.read(t, packet.V5).(*packet.Disconnect); !ok || d.ReasonCode != packet.NotAuthorized {
		t.Fatalf("want DISCONNECT 0x87, got %+v", d)
	}
}

func TestEnhancedAuthWrongAnswerAndUnknownMethod(t *testing.T) {
	addr, _ := startBroker(t, broker.Options{Auth: auth.Chain{twoStep{}}})
	cp := v5("enh")
	cp.Properties = authProps("")
	c := dial(t, addr, cp)
	c.read(t, packet.V5)
	c.send(t, &packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: authProps("nope")}, packet.V5)
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("want CONNACK 0x87, got %v", ack.ReasonCode)
	}
	cp = v5("other")
	cp.Properties.AuthenticationMethod = "SCRAM-SHA-1"
	cp.Properties.Set(packet.PropAuthenticationMethod)
	c = dial(t, addr, cp)
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("want CONNACK 0x8C, got %v", ack.ReasonCode)
	}
}

func TestAuditConnectionEvents(t *testing.T) {
	rec := &recorder{}
	addr, _ := startBroker(t, broker.Options{Audit: rec})
	c := dial(t, addr, v5("a"))
	c.read(t, packet.V5)
	testutil.Eventually(t, 2*time.Second, "connection.accepted recorded", func() bool {
		return rec.has(audit.ConnectionAccepted, 0)
	})
	// A wildcard in a topic name is a malformed publish: DISCONNECT 0x90
	// and an audit record.
	if _, err := c.nc.Write([]byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '#', 0x00}); err != nil {
		t.Fatal(err)
	}
	if d, ok := c.read(t, packet.V5).(*packet.Disconnect); !ok || d.ReasonCode != packet.TopicNameInvalid {
		t.Fatalf("want DISCONNECT 0x90, got %+v", d)
	}
	testutil.Eventually(t, 2*time.Second, "protocol violation recorded", func() bool {
		return rec.has(audit.ProtocolViolation, packet.TopicNameInvalid)
	})
}

func testLog() *slog.Logger {
	if os.Getenv("MOAT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// A client that floods QoS 1 publishes and never reads its PUBACKs is not
// read any more once its answers pile up: its writes stall instead of the
// broker buffering without bound, and other clients are served meanwhile.
func TestFloodWithoutReadingIsBackpressured(t *testing.T) {
	addr, _ := startBroker(t, broker.Options{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.(*net.TCPConn).SetReadBuffer(4096)
	cp, _ := packet.Append(nil, &packet.Connect{ProtocolName: "MQTT", Version: packet.V311, CleanStart: true, ClientID: "flood"}, packet.V311)
	if _, err := nc.Write(cp); err != nil {
		t.Fatal(err)
	}
	// 4096 publishes per write, each answered by a 4-byte PUBACK.
	var batch []byte
	for i := range 4096 {
		batch = packet.AppendPublish(batch, &packet.Publish{Topic: "f", QoS: 1, PacketID: uint16(i + 1)}, packet.V311)
	}
	const limit = 256 << 20
	written := 0
	for written < limit {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := nc.Write(batch)
		written += n
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("write: %v", err)
			}
			break
		}
	}
	if written >= limit {
		t.Fatalf("broker kept reading %d MiB from a client that never reads", written>>20)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("writes stalled after %d KiB; heap in use %d MiB", written>>10, ms.HeapAlloc>>20)
	// Without backpressure the queued answers alone take hundreds of MiB.
	if ms.HeapAlloc > 64<<20 {
		t.Fatalf("broker heap grew to %d MiB under a flood from a client that never reads", ms.HeapAlloc>>20)
	}
	good := dial(t, addr, v5("good"))
	if ack := good.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// gate refuses user "banned" after CONNECT and client id "quota" after
// authentication, and counts releases.
type gate struct {
	limits.Open
	mu       sync.Mutex
	admitted map[string]int // client id: Connect passed minus Closed
}

func (g *gate) Connect(c *limits.Client) packet.ReasonCode {
	if c.Username == "banned" {
		return packet.Banned
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admitted[c.ClientID]++
	return 0
}

func (g *gate) Authenticated(c *limits.Client) packet.ReasonCode {
	if c.Identity == nil {
		panic("Authenticated without identity")
	}
	if c.ClientID == "quota" {
		return packet.QuotaExceeded
	}
	return 0
}

func (g *gate) Closed(c *limits.Client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.admitted[c.ClientID]--
}

func (g *gate) open(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.admitted[id]
}

func TestAdmissionGates(t *testing.T) {
	g := &gate{admitted: map[string]int{}}
	addr, _ := startBroker(t, broker.Options{Admission: g})
	cp := v5("b")
	cp.Username, cp.UsernameFlag = "banned", true
	c := dial(t, addr, cp)
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.Banned {
		t.Fatalf("want CONNACK 0x8A, got %v", ack.ReasonCode)
	}
	c = dial(t, addr, v5("quota"))
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("want CONNACK 0x97, got %v", ack.ReasonCode)
	}
	ok := dial(t, addr, v5("fine"))
	if ack := ok.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	if g.open("fine") != 1 {
		t.Fatalf("admitted client not counted open: %d", g.open("fine"))
	}
	ok.send(t, &packet.Disconnect{}, packet.V5)
	testutil.Eventually(t, 2*time.Second, "Closed called for every admitted client", func() bool {
		return g.open("fine") == 0 && g.open("quota") == 0
	})
}

// ConnInfo carries the certificate identity to authenticators, and
// RequireUsernameMatch refuses a user name that is not that identity.
func TestCertificateIdentity(t *testing.T) {
	seen := make(chan string, 4)
	a := authFunc(func(r *auth.Request) auth.Result {
		seen <- r.CertIdentity
		return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: r.CertIdentity, Method: "certificate"}}
	})
	b := broker.New(broker.Options{Limits: server.Limits(config.Default()), Auth: auth.Chain{a}})
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	connect := func(user string) packet.ReasonCode {
		cli, srv := net.Pipe()
		defer cli.Close()
		go b.Serve(srv, broker.ConnInfo{Listener: "mtls", CertIdentity: "device-7", RequireUsernameMatch: true})
		c := &rawClient{nc: cli, r: packet.NewReader(cli, 512)}
		cp := v5("dev")
		cp.Username, cp.UsernameFlag = user, user != ""
		c.send(t, cp, packet.V5)
		return c.read(t, packet.V5).(*packet.Connack).ReasonCode
	}
	if code := connect("device-7"); code != 0 {
		t.Fatalf("matching user name refused: %v", code)
	}
	if got := <-seen; got != "device-7" {
		t.Fatalf("authenticator saw identity %q", got)
	}
	for _, user := range []string{"device-8", ""} {
		if code := connect(user); code != packet.NotAuthorized {
			t.Fatalf("user %q: want 0x87, got %v", user, code)
		}
	}
}

type authFunc func(r *auth.Request) auth.Result

func (authFunc) Name() string { return "func" }
func (f authFunc) Authenticate(_ context.Context, r *auth.Request) (auth.Result, error) {
	return f(r), nil
}

// A session belongs to the identity that holds it: another identity reusing
// its client id is refused and neither takes it over nor reads it; the
// owner can take it over.
func TestSessionOwnership(t *testing.T) {
	byUser := authFunc(func(r *auth.Request) auth.Result {
		return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: r.Username, Method: "test"}}
	})
	rec := &recorder{}
	addr, _ := startBroker(t, broker.Options{Auth: auth.Chain{byUser}, Audit: rec})
	as := func(user string, clean bool) *packet.Connect {
		cp := v5("device-1")
		cp.CleanStart = clean
		cp.Username, cp.UsernameFlag = user, true
		cp.Properties.SessionExpiryInterval = 60
		cp.Properties.Set(packet.PropSessionExpiryInterval)
		return cp
	}
	owner := dial(t, addr, as("alice", true))
	if ack := owner.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("owner CONNACK %v", ack.ReasonCode)
	}
	owner.send(t, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "secret/#", QoS: 1}}}, packet.V5)
	owner.read(t, packet.V5) // SUBACK
	for _, clean := range []bool{false, true} {
		thief := dial(t, addr, as("mallory", clean))
		if ack := thief.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.NotAuthorized || ack.SessionPresent {
			t.Fatalf("clean=%v: another identity got CONNACK %v (session present %v)", clean, ack.ReasonCode, ack.SessionPresent)
		}
	}
	// The owner was not disconnected and still holds the session.
	owner.send(t, &packet.Pingreq{}, packet.V5)
	if _, ok := owner.read(t, packet.V5).(*packet.Pingresp); !ok {
		t.Fatal("the owner lost its connection")
	}
	if !rec.has(audit.SessionTakeoverRefused, packet.NotAuthorized) {
		t.Fatal("the refused takeover is not audited")
	}
	// The owner itself may take the session over.
	again := dial(t, addr, as("alice", false))
	if ack := again.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Fatalf("owner takeover: CONNACK %v, session present %v", ack.ReasonCode, ack.SessionPresent)
	}
}
