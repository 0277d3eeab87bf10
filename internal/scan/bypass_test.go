package scan

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
	"github.com/moatmq/moat/internal/topic"
)

// notesHave fails unless a note of res contains each of subs.
func notesHave(t *testing.T, res *Result, subs ...string) {
	t.Helper()
	notes := strings.Join(res.Notes, "\n")
	for _, s := range subs {
		if !strings.Contains(notes, s) {
			t.Errorf("no note contains %q; notes:\n%s", s, notes)
		}
	}
}

// TestScanSharedBypassWebhook: Moat whose authorization webhook denies a
// subtree by prefix, and so forgets that a shared subscription's filter
// starts with $share/GROUP/: the plain subscription to the scanner's topic
// is refused and the shared one granted, which the probe reports (medium:
// Moat still asks the webhook at each delivery, with the real topic, and
// delivers nothing).
func TestScanSharedBypassWebhook(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sharedAsked bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Action, Topic string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/auth" { // logins with a user name: none in this test
			_ = json.NewEncoder(w).Encode(map[string]string{"result": "deny"})
			return
		}
		result := "allow"
		if strings.HasPrefix(req.Topic, "moat-scan/") {
			result = "deny"
		}
		if strings.HasPrefix(req.Topic, "$share/") {
			mu.Lock()
			sharedAsked = true
			mu.Unlock()
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"result": result})
	}))
	t.Cleanup(hook.Close)
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.Auth.HTTP.AuthURL, c.Auth.HTTP.ACLURL = hook.URL+"/auth", hook.URL+"/acl"
	})
	res := run(t, Options{Intrusive: true, IdleWait: -1, Listen: 300 * time.Millisecond}, addr)
	want(t, res.Findings, doctor.IDACLSharedBypass)
	if f, _ := find(res.Findings, doctor.IDACLSharedBypass); f.Severity != doctor.SeverityMedium || !strings.Contains(f.Message, "granted \"$share/") {
		t.Errorf("shared-subscription finding: %s", f)
	}
	mu.Lock()
	defer mu.Unlock()
	if !sharedAsked {
		t.Error("the webhook was never asked about a $share/ filter")
	}
}

// laxBroker is a small MQTT broker written for this test, because neither
// Moat nor Mosquitto has the flaw: it refuses publishes under moat-scan/
// from every user but "watcher" (PUBACK 0x87 with MQTT 5, dropped with
// 3.1.1), yet sends a will wherever its client asked when the connection
// drops, unchecked. Filters match exactly, or by "#".
type laxBroker struct {
	mu    sync.Mutex
	conns map[*laxConn]bool
}

type laxConn struct {
	c       net.Conn
	v       packet.Version
	wmu     sync.Mutex
	filters map[string]bool // guarded by laxBroker.mu
}

func (c *laxConn) send(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.c.Write(b)
}

// route sends a QoS 0 copy of the message to every matching filter.
func (lb *laxBroker) route(name string, payload []byte) {
	lb.mu.Lock()
	var to []*laxConn
	for c := range lb.conns {
		for f := range c.filters {
			if topic.MatchFilter(f, name) {
				to = append(to, c)
				break
			}
		}
	}
	lb.mu.Unlock()
	for _, c := range to {
		c.send(packet.AppendPublish(nil, &packet.Publish{Topic: name, Payload: payload}, c.v))
	}
}

func (lb *laxBroker) serve(conn net.Conn) {
	r := packet.NewReader(conn, 0)
	pk, err := r.ReadPacket(0)
	cp, ok := pk.(*packet.Connect)
	if err != nil || !ok {
		return
	}
	c := &laxConn{c: conn, v: cp.Version, filters: map[string]bool{}}
	var will *packet.Publish
	if cp.WillFlag {
		will = &packet.Publish{Topic: cp.WillTopic, Payload: cp.WillPayload}
	}
	c.send(packet.AppendConnack(nil, &packet.Connack{}, c.v))
	lb.mu.Lock()
	lb.conns[c] = true
	lb.mu.Unlock()
	defer func() {
		lb.mu.Lock()
		delete(lb.conns, c)
		lb.mu.Unlock()
		if will != nil {
			lb.route(will.Topic, will.Payload) // the flaw: no authorization
		}
	}()
	for {
		pk, err := r.ReadPacket(c.v)
		if err != nil {
			return
		}
		switch p := pk.(type) {
		case *packet.Subscribe:
			lb.mu.Lock()
			for _, s := range p.Subscriptions {
				c.filters[s.Filter] = true
			}
			lb.mu.Unlock()
			c.send(packet.AppendSuback(nil, &packet.Suback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Subscriptions))}, c.v))
		case *packet.Unsubscribe:
			lb.mu.Lock()
			for _, f := range p.Filters {
				delete(c.filters, f)
			}
			lb.mu.Unlock()
			c.send(packet.AppendUnsuback(nil, &packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}, c.v))
		case *packet.Publish:
			code := packet.Success
			if strings.HasPrefix(p.Topic, "moat-scan/") && cp.Username != "watcher" {
				code = packet.NotAuthorized
			} else {
				lb.route(p.Topic, p.Payload)
			}
			if p.QoS == 1 {
				c.send(packet.AppendPuback(nil, p.PacketID, code, nil, c.v))
			}
		case *packet.Pingreq:
			c.send(packet.AppendPingresp(nil))
		case *packet.Disconnect:
			will = nil // a normal DISCONNECT discards the will
			return
		}
	}
}

// TestScanWillBypass: against a broker that refuses the probe identity's
// own publishes to the will topic but delivers its will there, the probe
// reports MOAT-ACL-011 from what the second account ("watcher") saw.
func TestScanWillBypass(t *testing.T) {
	t.Parallel()
	lb := &laxBroker{conns: map[*laxConn]bool{}}
	addr := fakeBroker(t, lb.serve)
	res := run(t, Options{Intrusive: true, Username2: "watcher", Password2: "pw", IdleWait: -1, Listen: 300 * time.Millisecond}, addr)
	want(t, res.Findings, doctor.IDACLWillBypass)
	f, _ := find(res.Findings, doctor.IDACLWillBypass)
	if !strings.Contains(f.Message, "refused (PUBACK not authorized)") || !strings.Contains(f.Message, `"watcher"`) || f.Severity != doctor.SeverityHigh {
		t.Errorf("will finding: %s", f)
	}
	// The broker has no read ACL: the probe identity reads the shared
	// probe's topic directly, and the shared-subscription probe says so.
	notesHave(t, res, "may read moat-scan/", "directly; a shared subscription there proves nothing")
}

// TestScanWillEnforced: Mosquitto accepts a will its client may not
// publish and drops it when the connection ends; with a second account
// that may read and write moat-scan/# the probe concludes "not
// bypassed". (Moat refuses such a will at CONNECT: TestScanIntrusiveMoat.)
func TestScanWillEnforced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	requireMosquitto(t)
	addr := startMosquitto(t, "allow_anonymous false\npassword_file "+
		write("passwd", "bob:"+mosquittoHash(t, "bob-pw")+"\ncarol:"+mosquittoHash(t, "carol-pw")+"\n")+
		"\nacl_file "+write("acl", "user bob\ntopic readwrite devices/bob/#\nuser carol\ntopic readwrite moat-scan/#\n")+"\n")
	res := run(t, Options{Username: "bob", Password: "bob-pw", Username2: "carol", Password2: "carol-pw",
		Intrusive: true, IdleWait: -1, Listen: 500 * time.Millisecond}, addr)
	none(t, res.Findings, doctor.IDACLWillBypass, doctor.IDACLSharedBypass)
	notesHave(t, res, "did not deliver it (its PUBLISH there was refused (PUBACK not authorized)): not bypassed",
		`delivered nothing that the second account "carol" saw published: not bypassed`)
}

// signedRegistry writes an empty key registry: every signature is then
// refused, which is all the probe needs.
func signedRegistry(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(p, []byte(`{"keys": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScanSignedTopic: a Moat without a signed-topics rule for the topic
// accepts and delivers both probes (MOAT-SIGN-002, the ID moat doctor
// uses for a signed-topic policy that does not hold); with the rule, both
// are refused with PUBACK not authorized and nothing is delivered.
func TestScanSignedTopic(t *testing.T) {
	t.Parallel()
	const cmd = "plant/moat-scan-test/cmd"
	t.Run("not enforced", func(t *testing.T) {
		t.Parallel()
		addr, _ := testutil.Start(t, nil)
		res := run(t, Options{Intrusive: true, SignedTopic: cmd, IdleWait: -1, Listen: 300 * time.Millisecond}, addr)
		want(t, res.Findings, doctor.IDSignedPolicy)
		f, _ := find(res.Findings, doctor.IDSignedPolicy)
		for _, s := range []string{"an unsigned message (PUBACK success and delivered to", "a message with a garbage signature (PUBACK success and delivered"} {
			if !strings.Contains(f.Message, s) {
				t.Errorf("signed-topic finding lacks %q: %s", s, f)
			}
		}
	})
	t.Run("enforced", func(t *testing.T) {
		t.Parallel()
		addr, _ := testutil.Start(t, func(c *config.Config) {
			c.SignedTopics = config.SignedTopics{Keys: signedRegistry(t), Rules: []config.SignedRule{{Topics: []string{"plant/+/cmd"}}}}
		})
		res := run(t, Options{Intrusive: true, SignedTopic: cmd, IdleWait: -1, Listen: 300 * time.Millisecond}, addr)
		none(t, res.Findings, doctor.IDSignedPolicy)
		notesHave(t, res, "refused an unsigned message: PUBACK not authorized and a message with a garbage signature: PUBACK not authorized")
	})
	t.Run("refused options", func(t *testing.T) {
		t.Parallel()
		for _, o := range []Options{{SignedTopic: cmd}, {Intrusive: true, SignedTopic: "plant/+/cmd"}, {Intrusive: true, SignedTopic: "$SYS/x"}} {
			if _, err := Run(t.Context(), []string{"127.0.0.1:1"}, o); err == nil {
				t.Errorf("Run accepted %+v", o)
			}
		}
	})
}
