package test

// End-to-end tests of ACL policies (acl.file) over real sockets: what a
// client may subscribe to, publish, retain and receive, per identity; wills
// and retained messages under the policy; shared subscriptions; and policy
// reloads (a new policy revokes subscriptions, a broken one is refused and
// the old one stays). Absence of a message is shown by sentinel ordering:
// the forbidden message is published before a sentinel the client may
// receive, so once the sentinel has arrived the forbidden one would have
// too.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/server"
	"github.com/moatmq/moat/internal/testutil"
)

// Reason codes the tests expect on the wire.
const (
	aclRCSuccess          = 0x00
	aclRCNoMatching       = 0x10 // PUBACK/PUBREC: accepted, no subscriber
	aclRCNoSubscription   = 0x11 // UNSUBACK
	aclRCNotAuthorized    = 0x87 // MQTT 5
	aclRCSubackFailure311 = 0x80 // MQTT 3.1.1 SUBACK
	aclRCConnack311Denied = 0x05 // MQTT 3.1.1 CONNACK "not authorized"
)

// aclEnv is a broker running with a policy file the test may rewrite.
type aclEnv struct {
	addr   string
	srv    *server.Server
	policy string // path of the policy file
}

// aclPassword is the password writeUsers gets for user.
func aclPassword(user string) string { return "pw-" + user }

// startACL writes policy to a file and starts a broker enforcing it. With
// users, anonymous access is off and each user logs in with
// aclPassword(user); without, every client is anonymous. mutate (may be
// nil) adjusts the configuration further.
func startACL(t *testing.T, policy string, users []string, mutate func(*config.Config)) *aclEnv {
	t.Helper()
	e := &aclEnv{policy: filepath.Join(t.TempDir(), "acl.yaml")}
	e.write(t, policy)
	var pwFile string
	if len(users) > 0 {
		m := make(map[string]string, len(users))
		for _, u := range users {
			m[u] = aclPassword(u)
		}
		pwFile = writeUsers(t, m)
	}
	e.addr, e.srv = testutil.Start(t, func(c *config.Config) {
		c.ACL.File = e.policy
		if pwFile != "" {
			c.Auth.AllowAnonymous = false
			c.Auth.PasswordFile = pwFile
		}
		if mutate != nil {
			mutate(c)
		}
	})
	return e
}

// write replaces the policy file (the broker notices on Reload).
func (e *aclEnv) write(t *testing.T, policy string) {
	t.Helper()
	if err := os.WriteFile(e.policy, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload rewrites the policy and reloads it, failing the test on error.
func (e *aclEnv) reload(t *testing.T, policy string) {
	t.Helper()
	e.write(t, policy)
	if err := e.srv.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

// raw connects a raw client as user ("" for anonymous).
func (e *aclEnv) raw(t *testing.T, v5 bool, id, user string) *rawClient {
	t.Helper()
	c := dialRaw(t, e.addr, v5)
	c.connect(aclRawConnect(v5, id, user))
	return c
}

// aclRawConnect is a clean-start CONNECT logging in as user ("" for
// anonymous).
func aclRawConnect(v5 bool, id, user string) rawConnect {
	rc := rawConnect{Version: protoVersion(v5), ClientID: id, Clean: true, KeepAlive: 30}
	if user != "" {
		u := user
		rc.Username, rc.Password = &u, []byte(aclPassword(user))
	}
	return rc
}

// paho connects an MQTT 5 paho client as user ("" for anonymous).
func (e *aclEnv) paho(t *testing.T, id, user string) *client5 {
	t.Helper()
	cp := cleanConnect(id)
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(aclPassword(user)), true
	}
	return mustDial5(t, e.addr, cp)
}

// aclPublish publishes and returns the reason code of the PUBACK (QoS 1)
// or PUBREC (QoS 2); 0 for MQTT 3.1.1, which has none. A QoS 2 flow the
// broker accepted is completed with PUBREL/PUBCOMP. For QoS 0 a PINGREQ
// round trip shows that the broker has handled the PUBLISH.
func (c *rawClient) aclPublish(id uint16, topic string, qos byte, retain bool, payload string) byte {
	c.t.Helper()
	c.send(rawPublish{Topic: topic, QoS: qos, Retain: retain, ID: id, Payload: []byte(payload)}.bytes(c.v5))
	switch qos {
	case 0:
		if other := c.ping(); len(other) != 0 {
			c.t.Fatalf("publish %q: unexpected %v", topic, other)
		}
		return 0
	case 1:
		got, code := ackID(c.expect(tPUBACK))
		if got != id {
			c.t.Fatalf("PUBACK id %d, want %d", got, id)
		}
		return code
	}
	got, code := ackID(c.expect(tPUBREC))
	if got != id {
		c.t.Fatalf("PUBREC id %d, want %d", got, id)
	}
	if code < 0x80 {
		c.send(rawAck(tPUBREL, id))
		if got, _ := ackID(c.expect(tPUBCOMP)); got != id {
			c.t.Fatalf("PUBCOMP id %d, want %d", got, id)
		}
	}
	return code
}

// aclSubscribe sends one SUBSCRIBE with every filter at qos and returns
// the SUBACK codes.
func (c *rawClient) aclSubscribe(id uint16, qos byte, filters ...string) []byte {
	c.t.Helper()
	c.send(rawSubscribe(c.v5, id, nil, filters, bytes.Repeat([]byte{qos}, len(filters))))
	p := c.expect(tSUBACK)
	if got, _ := ackID(p); got != id {
		c.t.Fatalf("SUBACK id %d, want %d", got, id)
	}
	return subackCodes(c.t, p, c.v5)
}

// aclUnsubscribe sends one UNSUBSCRIBE and returns the UNSUBACK codes
// (MQTT 5 only: 3.1.1 has none).
func (c *rawClient) aclUnsubscribe(id uint16, filters ...string) []byte {
	c.t.Helper()
	b := appendU16(nil, id)
	if c.v5 {
		b = append(b, encodeProps(nil)...)
	}
	for _, f := range filters {
		b = appendStr(b, f)
	}
	c.send(frame(tUNSUBSCRIBE<<4|0x02, b))
	p := c.expect(tUNSUBACK)
	if got, _ := ackID(p); got != id {
		c.t.Fatalf("UNSUBACK id %d, want %d", got, id)
	}
	return subackCodes(c.t, p, c.v5)
}

// aclSubCodes subscribes a paho client to filters in one SUBSCRIBE and
// returns the SUBACK codes, refusals included.
func aclSubCodes(t *testing.T, c *client5, qos byte, filters ...string) []byte {
	t.Helper()
	opts := make([]paho.SubscribeOptions, len(filters))
	for i, f := range filters {
		opts[i] = paho.SubscribeOptions{Topic: f, QoS: qos}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: opts})
	if sa == nil {
		t.Fatalf("%s: subscribe %q: %v", c.ID, filters, err)
	}
	return sa.Reasons
}

// aclWantCodes fails unless got equals want.
func aclWantCodes(t *testing.T, what string, got []byte, want ...byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: codes % #x, want % #x", what, got, want)
	}
}

// aclWantCode fails unless got is one of want.
func aclWantCode(t *testing.T, what string, got byte, want ...byte) {
	t.Helper()
	if !bytes.Contains(want, []byte{got}) {
		t.Errorf("%s: reason code %#x, want one of % #x", what, got, want)
	}
}

// aclNotReceived fails if any of payloads arrived in b.
func aclNotReceived(t *testing.T, who string, b *inbox, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if n := b.count(p); n != 0 {
			t.Errorf("%s received the forbidden message %q (%d times); inbox %q", who, p, n, b.payloads())
		}
	}
}

// aclLineOf returns the 1-based line of the first line of text holding s.
func aclLineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the policy", s)
	return 0
}

// ---------------------------------------------------------------------------

const policyOpen = `version: 1
rules:
  - name: open
    allow: [publish, subscribe, receive]
    who: [all]
    topics: ["open/#"]
`

// TestACL_ForbiddenSubscribe: a filter the policy does not allow is refused
// in the SUBACK (MQTT 5: 0x87, MQTT 3.1.1: 0x80) while the allowed filters
// of the same SUBSCRIBE get their QoS [MQTT-3.9.3-1]; the refused filter
// is not subscribed (UNSUBACK 0x11).
func TestACL_ForbiddenSubscribe(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyOpen, nil, nil)

	t.Run("v5", func(t *testing.T) {
		c := e.raw(t, true, "acl-sub-v5", "")
		codes := c.aclSubscribe(1, 1, "open/+", "secret/x", "open/#", "#")
		aclWantCodes(t, "SUBSCRIBE open/+, secret/x, open/#, #", codes, 1, aclRCNotAuthorized, 1, aclRCNotAuthorized)
		aclWantCodes(t, "UNSUBSCRIBE secret/x", c.aclUnsubscribe(2, "secret/x"), aclRCNoSubscription)
		aclWantCodes(t, "UNSUBSCRIBE open/+", c.aclUnsubscribe(3, "open/+"), aclRCSuccess)

		// QoS is the one asked for, per filter.
		c.send(rawSubscribe(true, 4, nil, []string{"open/a", "secret/y", "open/b"}, []byte{2, 2, 0}))
		aclWantCodes(t, "SUBSCRIBE open/a@2, secret/y@2, open/b@0", subackCodes(t, c.expect(tSUBACK), true),
			2, aclRCNotAuthorized, 0)
	})

	t.Run("v311", func(t *testing.T) {
		c := e.raw(t, false, "acl-sub-v311", "")
		codes := c.aclSubscribe(1, 2, "open/x", "secret/x", "$SYS/#")
		aclWantCodes(t, "SUBSCRIBE open/x, secret/x, $SYS/#", codes, 2, aclRCSubackFailure311, aclRCSubackFailure311)
	})

	t.Run("mosquitto_sub", func(t *testing.T) {
		requireMosquitto(t)
		host, port, _ := net.SplitHostPort(e.addr)
		m := mosqClients{host: host, port: port, version: "mqttv311"}
		s := m.sub(t, "-i", "acl-mosq-sub", "-t", "secret/x", "-t", "open/m", "-q", "1", "-E")
		s.wait(t)
		if out := s.output(); !strings.Contains(out, "Subscribed (mid: 1): 128, 1") {
			t.Errorf("mosquitto_sub -V mqttv311: want SUBACK codes 128 (failure) and 1:\n%s", out)
		}
	})
}

const policyPublish = `version: 1
rules:
  - name: observe
    allow: [subscribe, receive]
    who: [all]
    topics: ["open/#", "closed/#"]
  - name: write-open
    allow: [publish]
    who: [all]
    topics: ["open/#"]
`

// TestACL_ForbiddenPublish: a publish the policy refuses gets 0x87 in the
// PUBACK or PUBREC of an MQTT 5 client, is silently dropped for MQTT 3.1.1
// (the publisher still gets its acknowledgement), and is never delivered,
// even to a subscriber allowed to receive the topic. With
// acl.disconnect_on_denied_publish the 3.1.1 publisher is disconnected
// instead [MQTT-3.3.5-2]; MQTT 5 publishers keep their connection.
func TestACL_ForbiddenPublish(t *testing.T) {
	t.Parallel()

	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		e := startACL(t, policyPublish, nil, nil)
		sub := e.paho(t, "acl-pub-watch", "")
		aclWantCodes(t, "watcher SUBSCRIBE", aclSubCodes(t, sub, 2, "open/#", "closed/#"), 2, 2)

		t.Run("v5", func(t *testing.T) {
			p := e.raw(t, true, "acl-pub-v5", "")
			aclWantCode(t, "v5 QoS 1 closed/a", p.aclPublish(1, "closed/a", 1, false, "v5-q1"), aclRCNotAuthorized)
			aclWantCode(t, "v5 QoS 2 closed/b", p.aclPublish(2, "closed/b", 2, false, "v5-q2"), aclRCNotAuthorized)
			p.aclPublish(0, "closed/c", 0, false, "v5-q0")
			// The refused QoS 2 id is free again: no PUBREL is expected.
			aclWantCode(t, "v5 QoS 2 open/b", p.aclPublish(2, "open/b", 2, false, "v5-ok2"), aclRCSuccess)
			aclWantCode(t, "v5 QoS 1 open/sentinel", p.aclPublish(3, "open/sentinel", 1, false, "v5-sentinel"), aclRCSuccess)
			sub.Inbox.waitPayload(t, "v5-sentinel")
			sub.Inbox.waitPayload(t, "v5-ok2")
			aclNotReceived(t, "watcher", sub.Inbox, "v5-q1", "v5-q2", "v5-q0")
		})

		t.Run("v311", func(t *testing.T) {
			p := e.raw(t, false, "acl-pub-v311", "")
			p.aclPublish(1, "closed/a", 1, false, "v311-q1") // PUBACK, no reason in 3.1.1
			p.aclPublish(2, "closed/b", 2, false, "v311-q2") // PUBREC, then PUBREL/PUBCOMP
			p.aclPublish(0, "closed/c", 0, false, "v311-q0")
			p.aclPublish(3, "open/sentinel", 1, false, "v311-sentinel")
			sub.Inbox.waitPayload(t, "v311-sentinel")
			aclNotReceived(t, "watcher", sub.Inbox, "v311-q1", "v311-q2", "v311-q0")
		})

		t.Run("mosquitto_pub", func(t *testing.T) {
			requireMosquitto(t)
			host, port, _ := net.SplitHostPort(e.addr)
			m := mosqClients{host: host, port: port, version: "mqttv311"}
			for _, q := range []string{"1", "2"} {
				out := m.pub(t, "-i", "acl-mosq-pub"+q, "-t", "closed/mosq", "-m", "mosq-q"+q, "-q", q)
				want := map[string]string{"1": "received PUBACK", "2": "received PUBCOMP"}[q]
				if !strings.Contains(out, want) {
					t.Errorf("mosquitto_pub -q %s to a forbidden topic: output lacks %q:\n%s", q, want, out)
				}
			}
			m.pub(t, "-i", "acl-mosq-pub-ok", "-t", "open/mosq", "-m", "mosq-sentinel", "-q", "1")
			sub.Inbox.waitPayload(t, "mosq-sentinel")
			aclNotReceived(t, "watcher", sub.Inbox, "mosq-q1", "mosq-q2")
		})
	})

	t.Run("disconnect", func(t *testing.T) {
		t.Parallel()
		e := startACL(t, policyPublish, nil, func(c *config.Config) { c.ACL.DisconnectOnDeniedPublish = true })
		sub := e.paho(t, "acl-disc-watch", "")
		aclWantCodes(t, "watcher SUBSCRIBE", aclSubCodes(t, sub, 1, "open/#", "closed/#"), 1, 1)

		for _, qos := range []byte{0, 1, 2} {
			p := e.raw(t, false, fmt.Sprintf("acl-disc-v311-q%d", qos), "")
			p.send(rawPublish{Topic: "closed/x", QoS: qos, ID: 7, Payload: []byte(fmt.Sprintf("disc-q%d", qos))}.bytes(false))
			p.expectClosed(waitTimeout, 0, fmt.Sprintf("3.1.1 denied QoS %d publish with disconnect_on_denied_publish", qos))
		}

		// MQTT 5 can be told: 0x87, and the connection stays.
		p := e.raw(t, true, "acl-disc-v5", "")
		aclWantCode(t, "v5 QoS 1 closed/x", p.aclPublish(1, "closed/x", 1, false, "disc-v5"), aclRCNotAuthorized)
		aclWantCode(t, "v5 QoS 1 open/sentinel", p.aclPublish(2, "open/sentinel", 1, false, "disc-sentinel"), aclRCSuccess)
		sub.Inbox.waitPayload(t, "disc-sentinel")
		aclNotReceived(t, "watcher", sub.Inbox, "disc-q0", "disc-q1", "disc-q2", "disc-v5")
	})
}

const policyDevices = `version: 1
rules:
  - name: own-device
    allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["devices/%u/#"]
  - name: monitor
    allow: [subscribe, receive]
    who: ["user:monitor"]
    topics: ["devices/#"]
`

// TestACL_PerDeviceTopics: with "devices/%u/#", each user publishes and
// subscribes under its own name only, and user names that look like
// wildcards ("+", "a/#") gain nothing (the class of CVE-2017-7650).
func TestACL_PerDeviceTopics(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyDevices, []string{"alice", "bob", "monitor", "+", "a/#"}, nil)
	mon := e.paho(t, "acl-dev-monitor", "monitor")
	mon.sub(t, "devices/#", 1)
	bob := e.paho(t, "acl-dev-bob", "bob")
	bob.sub(t, "devices/bob/#", 1)

	alice := e.raw(t, true, "acl-dev-alice", "alice")
	aclWantCode(t, "alice -> devices/alice/x", alice.aclPublish(1, "devices/alice/x", 1, false, "alice-own"), aclRCSuccess)
	aclWantCode(t, "alice -> devices/bob/x", alice.aclPublish(2, "devices/bob/x", 1, false, "alice-at-bob"), aclRCNotAuthorized)
	// A second connection subscribes, so that alice's publisher receives
	// nothing but acknowledgements.
	aliceSub := e.raw(t, true, "acl-dev-alice-sub", "alice")
	aclWantCodes(t, "alice SUBSCRIBE", aliceSub.aclSubscribe(1, 1, "devices/alice/#", "devices/bob/#", "devices/+/x", "devices/#"),
		1, aclRCNotAuthorized, aclRCNotAuthorized, aclRCNotAuthorized)

	plus := e.raw(t, true, "acl-dev-plus", "+")
	aclWantCode(t, `"+" -> devices/bob/x`, plus.aclPublish(1, "devices/bob/x", 1, false, "plus-at-bob"), aclRCNotAuthorized)
	aclWantCodes(t, `"+" SUBSCRIBE`, plus.aclSubscribe(2, 1, "devices/+/#", "devices/+/x", "devices/#", "devices/bob/#"),
		aclRCNotAuthorized, aclRCNotAuthorized, aclRCNotAuthorized, aclRCNotAuthorized)

	hash := e.raw(t, true, "acl-dev-hash", "a/#")
	aclWantCode(t, `"a/#" -> devices/a/x`, hash.aclPublish(1, "devices/a/x", 1, false, "hash-at-a"), aclRCNotAuthorized)
	aclWantCodes(t, `"a/#" SUBSCRIBE`, hash.aclSubscribe(2, 1, "devices/a/#", "devices/a/x", "devices/#"),
		aclRCNotAuthorized, aclRCNotAuthorized, aclRCNotAuthorized)

	// Sentinels, published after every refused message.
	aclWantCode(t, "alice sentinel", alice.aclPublish(4, "devices/alice/end", 1, false, "alice-end"), aclRCSuccess)
	mon.Inbox.waitPayload(t, "alice-end")
	if m := mon.Inbox.waitPayload(t, "alice-own"); m.Topic != "devices/alice/x" {
		t.Errorf("monitor got alice's message on %q", m.Topic)
	}
	bob.pubs(t, "devices/bob/end", 1, "bob-end")
	bob.Inbox.waitPayload(t, "bob-end")
	for who, c := range map[string]*client5{"monitor": mon, "bob": bob} {
		aclNotReceived(t, who, c.Inbox, "alice-at-bob", "plus-at-bob", "hash-at-a")
	}
}

const policyRetained = `version: 1
rules:
  - name: writer
    allow: [publish, retain]
    who: ["user:writer"]
    topics: ["secret/#", "public/#"]
  - name: reader-subscribe
    allow: [subscribe]
    who: ["user:reader"]
    topics: ["+/x", "public/#"]
  - name: reader-receive
    allow: [receive]
    who: ["user:reader"]
    topics: ["public/#"]
`

// TestACL_RetainedNeedsReceive: a subscription allowed by the policy does
// not hand over a retained message on a topic the subscriber may not
// receive, while retained messages on topics it may receive arrive; live
// messages follow the same check.
func TestACL_RetainedNeedsReceive(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyRetained, []string{"writer", "reader"}, nil)
	w := e.raw(t, true, "acl-ret-writer", "writer")
	for i, m := range []struct{ topic, payload string }{
		{"secret/x", "secret-retained"}, {"public/x", "public-retained"}, {"public/sync", "sync-retained"},
	} {
		aclWantCode(t, "retain "+m.topic, w.aclPublish(uint16(i+1), m.topic, 1, true, m.payload), aclRCSuccess, aclRCNoMatching)
	}
	dropped := e.srv.Broker().Metrics().Dropped[metrics.DropNotAuthorized].Load()

	r := e.paho(t, "acl-ret-reader", "reader")
	r.sub(t, "+/x", 1) // covers secret/x: subscribing is allowed, receiving it is not
	// SUBSCRIBE packets are handled in order, so the retained messages of
	// "+/x" were queued before the one of public/sync.
	r.sub(t, "public/sync", 1)
	r.Inbox.waitPayload(t, "sync-retained")
	if m := r.Inbox.waitPayload(t, "public-retained"); !m.Retain || m.Topic != "public/x" {
		t.Errorf("retained public message arrived as %+v, want retain flag on public/x", m)
	}
	aclNotReceived(t, "reader", r.Inbox, "secret-retained")
	if now := e.srv.Broker().Metrics().Dropped[metrics.DropNotAuthorized].Load(); now <= dropped {
		t.Errorf("dropped not_authorized counter %d -> %d: the retained secret message was not refused by the receive check", dropped, now)
	}

	// Live traffic: the same receive check.
	aclWantCode(t, "live secret/x", w.aclPublish(10, "secret/x", 1, false, "secret-live"), aclRCSuccess, aclRCNoMatching)
	aclWantCode(t, "live public/x", w.aclPublish(11, "public/x", 1, false, "public-live"), aclRCSuccess)
	r.Inbox.waitPayload(t, "public-live")
	aclNotReceived(t, "reader", r.Inbox, "secret-live")
}

const policyWills = `version: 1
rules:
  - name: watch
    allow: [subscribe, receive]
    who: [all]
    topics: ["wills/#"]
  - name: wills
    allow: [publish]
    who: [all]
    topics: ["wills/ok/#", "wills/sentinel"]
`

// policyWillsNarrowed no longer allows publishing to wills/ok/dying.
const policyWillsNarrowed = `version: 1
rules:
  - name: watch
    allow: [subscribe, receive]
    who: [all]
    topics: ["wills/#"]
  - name: wills
    allow: [publish]
    who: [all]
    topics: ["wills/ok/control", "wills/sentinel"]
`

// TestACL_Will: a will on a topic the client may not publish to is refused
// at CONNECT (MQTT 5: CONNACK 0x87; 3.1.1: 0x05), as is a retained will
// without the retain permission; a will allowed at CONNECT is checked again
// when it fires, so one the policy forbade since (by a reload) is not
// published.
func TestACL_Will(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyWills, nil, nil)

	t.Run("refused at CONNECT", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			v5   bool
			will rawWill
			want byte
		}{
			{"v5 forbidden topic", true, rawWill{Topic: "wills/forbidden", Payload: "x", QoS: 1}, aclRCNotAuthorized},
			{"v5 retain without permission", true, rawWill{Topic: "wills/ok/r", Payload: "x", Retain: true}, aclRCNotAuthorized},
			{"v311 forbidden topic", false, rawWill{Topic: "wills/forbidden", Payload: "x", QoS: 1}, aclRCConnack311Denied},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, e.addr, tc.v5)
				rc := aclRawConnect(tc.v5, "acl-will-refused", "")
				rc.Will = &tc.will
				if ca := c.connectAny(rc); ca.Code != tc.want {
					t.Errorf("CONNACK %#x, want %#x", ca.Code, tc.want)
				}
				c.expectClosed(waitTimeout, 0, "after a refused CONNECT [MQTT-3.2.2-7]")
			})
		}
	})

	t.Run("forbidden after reload", func(t *testing.T) {
		sub := e.paho(t, "acl-will-watch", "")
		sub.sub(t, "wills/#", 1)
		base := e.srv.Broker().SessionCount()
		connectWill := func(id, topic, payload string) *rawClient {
			c := dialRaw(t, e.addr, true)
			rc := aclRawConnect(true, id, "")
			rc.Will = &rawWill{Topic: topic, Payload: payload, QoS: 1}
			c.connect(rc)
			return c
		}
		dying := connectWill("acl-will-dying", "wills/ok/dying", "dying-will")
		control := connectWill("acl-will-control", "wills/ok/control", "control-will")

		e.reload(t, policyWillsNarrowed)
		// Drop both connections without DISCONNECT: both wills fire.
		_ = dying.conn.Close()
		_ = control.conn.Close()
		testutil.Eventually(t, waitTimeout, "both will clients' sessions ended", func() bool {
			return e.srv.Broker().SessionCount() == base
		})
		// The control will shows wills do fire after the reload.
		sub.Inbox.waitPayload(t, "control-will")
		sub.pubs(t, "wills/sentinel", 1, "will-sentinel")
		sub.Inbox.waitPayload(t, "will-sentinel")
		// The session leaves the registry just before its will is checked
		// and routed: allow that last step a short bounded wait.
		time.Sleep(grace)
		aclNotReceived(t, "watcher", sub.Inbox, "dying-will")
	})
}

const policyShared = `version: 1
rules:
  - name: workers-subscribe
    allow: [subscribe]
    who: ["user:w1", "user:w2"]
    topics: ["jobs/#"]
  - name: w1-receive
    allow: [receive]
    who: ["user:w1"]
    topics: ["jobs/#"]
  - name: w2-ping
    allow: [subscribe, receive]
    who: ["user:w2"]
    topics: ["ping/w2"]
  - name: boss
    allow: [publish]
    who: ["user:boss"]
    topics: ["jobs/#", "ping/w2"]
`

// TestACL_SharedSubscriptionReceive: a member of a shared subscription
// without the receive permission gets none of the group's messages; the
// broker skips it when choosing the member, so every message reaches the
// permitted member.
func TestACL_SharedSubscriptionReceive(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyShared, []string{"w1", "w2", "boss"}, nil)
	w1 := e.paho(t, "acl-share-w1", "w1")
	w2 := e.paho(t, "acl-share-w2", "w2")
	w1.sub(t, "$share/g/jobs/#", 1)
	w2.sub(t, "$share/g/jobs/#", 1) // subscribing is allowed, receiving is not
	w2.sub(t, "ping/w2", 1)

	boss := e.raw(t, true, "acl-share-boss", "boss")
	const n = 20
	var jobs []string
	for i := range n {
		p := fmt.Sprintf("job-%d", i)
		jobs = append(jobs, p)
		aclWantCode(t, "publish "+p, boss.aclPublish(uint16(i+1), fmt.Sprintf("jobs/%d", i), 1, false, p), aclRCSuccess)
	}
	aclWantCode(t, "ping w2", boss.aclPublish(n+1, "ping/w2", 1, false, "w2-sentinel"), aclRCSuccess)

	w2.Inbox.waitPayload(t, "w2-sentinel")
	aclNotReceived(t, "w2 (no receive permission)", w2.Inbox, jobs...)
	got := w1.Inbox.waitCount(t, n)
	for _, p := range jobs {
		if c := w1.Inbox.count(p); c != 1 {
			t.Errorf("w1 got %q %d times, want once; inbox %q", p, c, w1.Inbox.payloads())
		}
	}
	if len(got) != n {
		t.Errorf("w1 got %d messages, want %d: %q", len(got), n, w1.Inbox.payloads())
	}
}

const policyFeed = `version: 1
rules:
  - name: read
    allow: [subscribe, receive]
    who: [all]
    topics: ["feed/#", "ctl/#"]
  - name: write
    allow: [publish]
    who: [all]
    topics: ["feed/#", "ctl/#", "b/#"]
`

// policyFeedNoSubscribe still allows receiving feed/#, but no longer
// subscribing to it: only the revocation of the subscription can stop
// the delivery.
const policyFeedNoSubscribe = `version: 1
rules:
  - name: read
    allow: [subscribe, receive]
    who: [all]
    topics: ["ctl/#"]
  - name: receive-feed
    allow: [receive]
    who: [all]
    topics: ["feed/#"]
  - name: write
    allow: [publish]
    who: [all]
    topics: ["feed/#", "ctl/#"]
`

// TestACL_ReloadRevokesSubscription: a policy reload removes a live
// subscription the new policy no longer allows: nothing more is delivered
// on it, a publish finds no subscriber, and UNSUBSCRIBE answers 0x11.
func TestACL_ReloadRevokesSubscription(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyFeed, nil, nil)
	sub := e.paho(t, "acl-revoke-sub", "")
	aclWantCodes(t, "SUBSCRIBE", aclSubCodes(t, sub, 1, "feed/t", "ctl/s"), 1, 1)
	p := e.raw(t, true, "acl-revoke-pub", "")
	aclWantCode(t, "feed/t before", p.aclPublish(1, "feed/t", 1, false, "before"), aclRCSuccess)
	sub.Inbox.waitPayload(t, "before")

	e.reload(t, policyFeedNoSubscribe)
	aclWantCode(t, "feed/t after the reload", p.aclPublish(2, "feed/t", 1, false, "after"), aclRCNoMatching)
	aclWantCode(t, "ctl/s sentinel", p.aclPublish(3, "ctl/s", 1, false, "revoke-sentinel"), aclRCSuccess)
	sub.Inbox.waitPayload(t, "revoke-sentinel")
	aclNotReceived(t, "subscriber", sub.Inbox, "after")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ua, err := sub.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"feed/t", "ctl/s"}})
	if err != nil {
		t.Fatalf("UNSUBSCRIBE: %v", err)
	}
	aclWantCodes(t, "UNSUBSCRIBE feed/t, ctl/s", ua.Reasons, aclRCNoSubscription, aclRCSuccess)
	aclWantCodes(t, "SUBSCRIBE feed/t again", aclSubCodes(t, sub, 1, "feed/t"), aclRCNotAuthorized)
}

// TestACL_BrokenReloadKeepsPolicy: a policy file that does not load is
// refused by Reload with its file and line, and the policy in force stays:
// its rules still decide and its subscriptions stay.
func TestACL_BrokenReloadKeepsPolicy(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyFeed, nil, nil)
	sub := e.paho(t, "acl-broken-sub", "")
	sub.sub(t, "feed/#", 1)
	p := e.raw(t, true, "acl-broken-pub", "")

	unknownAction := `version: 1
rules:
  - name: read
    allow: [subscribe, receive]
    who: [all]
    topics: ["ctl/#"]
  - name: write
    allow: [publish, teleport]
    who: [all]
    topics: ["ctl/#"]
`
	for i, tc := range []struct {
		name, policy string
		want         *regexp.Regexp
	}{
		{"unknown action", unknownAction, regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%s:%d:",
			e.policy, aclLineOf(t, unknownAction, "teleport"))) + `\d+: rules\[1\]\.allow\[1\]: unknown action "teleport"`)},
		{"YAML syntax", "version: 1\nrules:\n  - allow: [publish\n    who: {all\n", regexp.MustCompile(regexp.QuoteMeta(e.policy) + `:\d+`)},
		// yaml.v3 gives no position for control characters: the file only.
		{"control characters", "\x00\x01garbage\t: : [", regexp.MustCompile(regexp.QuoteMeta(e.policy) + `: invalid YAML`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.write(t, tc.policy)
			err := e.srv.Reload()
			if err == nil {
				t.Fatal("Reload accepted a broken policy")
			}
			if !tc.want.MatchString(err.Error()) || !strings.Contains(err.Error(), "the policy in force stays") {
				t.Errorf("Reload error %q, want it to match %q and say the policy in force stays", err, tc.want)
			}
			// The old policy: feed/ still published and delivered on the
			// old subscription; b/ (allowed only by the old one) too.
			id := uint16(10 * (i + 1))
			payload := fmt.Sprintf("kept-%d", i)
			aclWantCode(t, "feed/x", p.aclPublish(id, "feed/x", 1, false, payload), aclRCSuccess)
			aclWantCode(t, "b/x", p.aclPublish(id+1, "b/x", 1, false, "b"), aclRCNoMatching)
			sub.Inbox.waitPayload(t, payload)
		})
	}
}

// TestACL_BadPolicyAtStart: server.New refuses a policy with an unknown
// action and reports every problem with file:line:col, path and reason.
func TestACL_BadPolicyAtStart(t *testing.T) {
	t.Parallel()
	policy := `version: 1
rules:
  - name: ok
    allow: [publish]
    who: [all]
    topics: ["a/#"]
  - name: bad-action
    allow: [publish, frobnicate]
    who: [all]
    topics: ["b/#"]
  - name: bad-who
    deny: [receive]
    who: [everyone]
    topics: ["c/#"]
`
	path := filepath.Join(t.TempDir(), "acl.yaml")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Name: "test", Address: "127.0.0.1:0", Transport: "tcp"}}
	cfg.Auth.AllowAnonymous = true
	cfg.DataDir = t.TempDir()
	cfg.ACL.File = path
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
		t.Fatal("server.New accepted a policy with an unknown action")
	}
	msg := err.Error()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%s:%d:", path, aclLineOf(t, policy, "frobnicate"))) +
			`\d+: rules\[1\]\.allow\[1\]: unknown action "frobnicate"`),
		regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%s:%d:", path, aclLineOf(t, policy, "everyone"))) +
			`\d+: rules\[2\]\.who\[0\]: unknown who entry "everyone"`),
	} {
		if !want.MatchString(msg) {
			t.Errorf("server.New error does not match %q:\n%s", want, msg)
		}
	}
	if !strings.HasPrefix(msg, "acl.file: ") {
		t.Errorf("server.New error %q does not name the setting acl.file", msg)
	}
}

const policyDollar = `version: 1
rules:
  - name: everything
    allow: [all]
    who: [all]
    topics: ["#"]
  - name: bar-tree
    allow: [all]
    who: [all]
    topics: ["$bar/#"]
  - name: sys-attempt
    allow: [all]
    who: [all]
    topics: ["$SYS/#"]
`

// TestACL_DollarTopics: "#" in a rule never reaches topics starting with
// '$' [MQTT-4.7.2-1]: publishing to $foo/x needs a rule whose pattern
// starts with "$foo"; publishing to $SYS is refused whatever the rules say.
func TestACL_DollarTopics(t *testing.T) {
	t.Parallel()
	e := startACL(t, policyDollar, nil, nil)
	sub := e.paho(t, "acl-dollar-watch", "")
	aclWantCodes(t, "SUBSCRIBE #, $bar/#, $SYS/#, $foo/#", aclSubCodes(t, sub, 1, "#", "$bar/#", "$SYS/#", "$foo/#"),
		1, 1, 1, aclRCNotAuthorized)

	for _, v5 := range []bool{true, false} {
		p := e.raw(t, v5, fmt.Sprintf("acl-dollar-pub-%d", protoVersion(v5)), "")
		tag := fmt.Sprintf("v%d", protoVersion(v5))
		for i, tc := range []struct {
			topic string
			qos   byte
		}{{"$foo/x", 1}, {"$foo", 1}, {"$SYS/x", 1}, {"$SYS", 1}, {"$SYS/broker/clients", 2}} {
			code := p.aclPublish(uint16(i+1), tc.topic, tc.qos, false, tag+"-denied-"+tc.topic)
			if v5 {
				aclWantCode(t, tag+" publish "+tc.topic, code, aclRCNotAuthorized)
			}
		}
		code := p.aclPublish(20, "$SYS/x", 1, true, tag+"-denied-retained-sys")
		if v5 {
			aclWantCode(t, tag+" retain $SYS/x", code, aclRCNotAuthorized)
		}
		aclWantCode(t, tag+" publish plain/x", p.aclPublish(21, "plain/x", 1, false, tag+"-plain"), aclRCSuccess)
		aclWantCode(t, tag+" publish $bar/x", p.aclPublish(22, "$bar/x", 1, false, tag+"-bar"), aclRCSuccess)
		sub.Inbox.waitPayload(t, tag+"-bar")
		sub.Inbox.waitPayload(t, tag+"-plain")
		for _, m := range sub.Inbox.all() {
			if strings.HasPrefix(string(m.Payload), tag+"-denied-") {
				t.Errorf("%s: a refused publish was delivered: %q on %q", tag, m.Payload, m.Topic)
			}
		}
	}
}
