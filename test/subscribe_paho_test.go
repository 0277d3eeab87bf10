package test

// SUBSCRIBE / UNSUBSCRIBE: wildcards, $ topics, subscription options,
// subscription identifiers and shared subscriptions.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/moatmq/moat/internal/testutil"
)

var wildcardCases = []struct {
	topic string
	match bool
}{
	{"w/b/c", true},
	{"w/b/d", false},
	{"w/b/c/d", false},
	{"w/c", false},
	{"x", true}, // "x/#" matches its parent level too (§4.7.1.2)
	{"x/y", true},
	{"x/y/z", true},
	{"y/x", false},
}

// §4.7.1: "+" matches exactly one level, "#" any number including the parent.
func TestPaho5_Wildcards(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("wc-sub"))
	s.sub(t, "w/+/c", 1)
	s.sub(t, "x/#", 1)
	p := mustDial5(t, addr, cleanConnect("wc-pub"))
	for _, tc := range wildcardCases {
		p.pubs(t, tc.topic, 1, tc.topic)
	}
	p.pubs(t, "x/end", 1, "end")
	s.Inbox.waitPayload(t, "end")
	time.Sleep(grace)
	for _, tc := range wildcardCases {
		if n := s.Inbox.count(tc.topic); (n == 1) != tc.match || n > 1 {
			t.Errorf("topic %q delivered %d times, match=%v (filters w/+/c, x/#)", tc.topic, n, tc.match)
		}
	}
}

func TestPaho3_Wildcards(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial3(t, addr, "wc3-sub", true)
	s.sub(t, "w/+/c", 1)
	s.sub(t, "x/#", 1)
	p := mustDial3(t, addr, "wc3-pub", true)
	for _, tc := range wildcardCases {
		p.pubs(t, tc.topic, 1, false, tc.topic)
	}
	p.pubs(t, "x/end", 1, false, "end")
	s.Inbox.waitPayload(t, "end")
	time.Sleep(grace)
	for _, tc := range wildcardCases {
		if n := s.Inbox.count(tc.topic); (n == 1) != tc.match || n > 1 {
			t.Errorf("topic %q delivered %d times, match=%v (filters w/+/c, x/#)", tc.topic, n, tc.match)
		}
	}
}

// [MQTT-4.7.2-1]: filters starting with a wildcard do not match topic names
// starting with "$".
func TestPaho5_DollarTopicsNotMatchedByWildcards(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	all := mustDial5(t, addr, cleanConnect("dollar-all"))
	all.sub(t, "#", 1)
	all.sub(t, "+/x", 1)
	explicit := mustDial5(t, addr, cleanConnect("dollar-explicit"))
	explicit.sub(t, "$foo", 1)
	explicit.sub(t, "$foo/x", 1)

	accepted := map[string]bool{}
	for _, topic := range []string{"$foo", "$foo/x", "$SYS/x"} {
		// A broker may refuse client publishes to "$" topics: use a fresh
		// publisher each time and only note whether it was accepted.
		p := mustDial5(t, addr, cleanConnect("dollar-pub-"+strings.ReplaceAll(topic, "/", "-")))
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		r, err := p.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)})
		cancel()
		accepted[topic] = err == nil && r != nil && r.ReasonCode == 0
		t.Logf("publish %q: accepted=%v err=%v", topic, accepted[topic], err)
	}
	p := mustDial5(t, addr, cleanConnect("dollar-pub"))
	p.pubs(t, "norm/x", 1, "norm/x")
	all.Inbox.waitPayload(t, "norm/x")
	for _, topic := range []string{"$foo", "$foo/x"} {
		if accepted[topic] {
			explicit.Inbox.waitPayload(t, topic)
		}
	}
	time.Sleep(grace)
	for _, m := range all.Inbox.all() {
		if strings.HasPrefix(m.Topic, "$") {
			t.Errorf("wildcard subscriber (# and +/x) received %q [MQTT-4.7.2-1]", m.Topic)
		}
	}
}

// [MQTT-3.8.3-3]: No Local stops a client's own publications coming back.
func TestPaho5_NoLocal(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	x := mustDial5(t, addr, cleanConnect("nl-x"))
	x.subOpts(t, paho.SubscribeOptions{Topic: "nl/t", QoS: 1, NoLocal: true}, nil)
	y := mustDial5(t, addr, cleanConnect("nl-y"))
	y.sub(t, "nl/t", 1)

	x.pubs(t, "nl/t", 1, "from-x")
	y.pubs(t, "nl/t", 1, "from-y")
	y.Inbox.waitPayload(t, "from-x")
	x.Inbox.waitPayload(t, "from-y")
	time.Sleep(grace)
	if n := x.Inbox.count("from-x"); n != 0 {
		t.Errorf("No Local subscriber received its own message %d times [MQTT-3.8.3-3]", n)
	}
}

// [MQTT-3.3.1-12]/[MQTT-3.3.1-13]: Retain As Published controls the RETAIN
// flag on live forwarding; retained messages sent because of a new
// subscription always carry RETAIN 1 (§3.3.1.3).
func TestPaho5_RetainAsPublished(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	rap := mustDial5(t, addr, cleanConnect("rap-1"))
	rap.subOpts(t, paho.SubscribeOptions{Topic: "rap/t", QoS: 1, RetainAsPublished: true}, nil)
	plain := mustDial5(t, addr, cleanConnect("rap-0"))
	plain.sub(t, "rap/t", 1)

	p := mustDial5(t, addr, cleanConnect("rap-pub"))
	p.pub(t, &paho.Publish{Topic: "rap/t", QoS: 1, Retain: true, Payload: []byte("kept")})
	p.pubs(t, "rap/t", 1, "not-kept")

	if m := rap.Inbox.waitPayload(t, "kept"); !m.Retain {
		t.Errorf("RAP 1: live retained message forwarded with RETAIN 0, want 1 [MQTT-3.3.1-13]")
	}
	if m := rap.Inbox.waitPayload(t, "not-kept"); m.Retain {
		t.Errorf("RAP 1: non-retained message forwarded with RETAIN 1 [MQTT-3.3.1-13]")
	}
	if m := plain.Inbox.waitPayload(t, "kept"); m.Retain {
		t.Errorf("RAP 0: live retained message forwarded with RETAIN 1, want 0 [MQTT-3.3.1-12]")
	}

	late := mustDial5(t, addr, cleanConnect("rap-late"))
	late.sub(t, "rap/t", 1)
	if m := late.Inbox.waitPayload(t, "kept"); !m.Retain {
		t.Errorf("retained message sent on subscribe with RETAIN 0, want 1 (§3.3.1.3)")
	}
}

// Retain Handling: 0 sends retained messages on every subscribe
// [MQTT-3.3.1-9], 1 only if the subscription is new [MQTT-3.3.1-10],
// 2 never [MQTT-3.3.1-11].
func TestPaho5_RetainHandling(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	p := mustDial5(t, addr, cleanConnect("rh-pub"))
	p.pub(t, &paho.Publish{Topic: "rh/t", QoS: 1, Retain: true, Payload: []byte("retained")})

	subTwice := func(id string, rh byte) int {
		c := mustDial5(t, addr, cleanConnect(id))
		for i := 0; i < 2; i++ {
			c.subOpts(t, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: rh}, nil)
			c.sync(t)
		}
		time.Sleep(grace)
		return c.Inbox.count("retained")
	}
	if n := subTwice("rh-0", 0); n != 2 {
		t.Errorf("retain handling 0, subscribed twice: %d retained deliveries, want 2 [MQTT-3.3.1-9]", n)
	}
	if n := subTwice("rh-1", 1); n != 1 {
		t.Errorf("retain handling 1, subscribed twice: %d retained deliveries, want 1 [MQTT-3.3.1-10]", n)
	}
	if n := subTwice("rh-2", 2); n != 0 {
		t.Errorf("retain handling 2: %d retained deliveries, want 0 [MQTT-3.3.1-11]", n)
	}
}

// [MQTT-3.3.4-3]: a PUBLISH caused by a subscription with an identifier
// carries that identifier; one without carries none.
func TestPaho5_SubscriptionIdentifiers(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("sid-sub"))
	s.subOpts(t, paho.SubscribeOptions{Topic: "sid/a/+", QoS: 1}, &paho.SubscribeProperties{SubscriptionIdentifier: intPtr(7)})
	s.subOpts(t, paho.SubscribeOptions{Topic: "sid/b/#", QoS: 1}, &paho.SubscribeProperties{SubscriptionIdentifier: intPtr(300000)})
	s.sub(t, "sid/none", 1)

	p := mustDial5(t, addr, cleanConnect("sid-pub"))
	p.pubs(t, "sid/a/x", 1, "a")
	p.pubs(t, "sid/b/y/z", 1, "b")
	p.pubs(t, "sid/none", 1, "none")
	for payload, want := range map[string]int{"a": 7, "b": 300000, "none": 0} {
		m := s.Inbox.waitPayload(t, payload)
		var got int
		if m.Props != nil && m.Props.SubscriptionIdentifier != nil {
			got = *m.Props.SubscriptionIdentifier
		}
		if got != want {
			t.Errorf("message %q: subscription identifier %d, want %d (0 = none) [MQTT-3.3.4-3]", payload, got, want)
		}
	}
}

// [MQTT-3.3.4-4]/[MQTT-3.3.4-5]: overlapping subscriptions with identifiers:
// either one PUBLISH carrying both, or one PUBLISH per subscription each
// carrying its own. Raw, because paho keeps only one identifier.
func TestRaw_SubscriptionIdentifiersOverlapping(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	c := dialRaw(t, addr, true)
	c.connect(rawConnect{Version: 5, ClientID: "sido", Clean: true, KeepAlive: 30})
	c.subscribe(1, "so/#", 1, props{{ID: propSubscriptionID, N: 3}})
	c.subscribe(2, "so/+", 1, props{{ID: propSubscriptionID, N: 4}})

	p := mustDial5(t, addr, cleanConnect("sido-pub"))
	p.pubs(t, "so/x", 0, "both")

	seen := map[uint32]int{}
	deadline := time.Now().Add(waitTimeout)
	for (seen[3] == 0 || seen[4] == 0) && time.Now().Before(deadline) {
		pk, err := c.read(time.Until(deadline))
		if err != nil {
			break
		}
		pb := parsePublish(t, pk, true)
		ids := pb.Props.all(propSubscriptionID)
		if len(ids) == 0 {
			t.Errorf("PUBLISH without subscription identifier")
		}
		for _, id := range ids {
			seen[id.N]++
		}
	}
	if seen[3] != 1 || seen[4] != 1 {
		t.Errorf("subscription identifiers seen %v, want 3 and 4 once each [MQTT-3.3.4-4]/[MQTT-3.3.4-5]", seen)
	}
}

// §4.8.2: each message to a shared subscription goes to exactly one member.
func TestPaho5_SharedSubscriptionDistribution(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	var members []*client5
	for i := 0; i < 3; i++ {
		m := mustDial5(t, addr, cleanConnect(fmt.Sprintf("sh-%d", i)))
		m.sub(t, "$share/g/sh/t", 1)
		members = append(members, m)
	}
	observer := mustDial5(t, addr, cleanConnect("sh-observer"))
	observer.sub(t, "sh/t", 1)

	const n = 30
	p := mustDial5(t, addr, cleanConnect("sh-pub"))
	for i := 0; i < n; i++ {
		p.pubs(t, "sh/t", 1, fmt.Sprintf("m%02d", i))
	}
	observer.Inbox.waitCount(t, n)
	total := func() int {
		s := 0
		for _, m := range members {
			s += len(m.Inbox.all())
		}
		return s
	}
	testutil.Eventually(t, waitTimeout, "members to receive every message", func() bool { return total() >= n })
	time.Sleep(grace)

	var got []string
	for i, m := range members {
		ps := m.Inbox.payloads()
		if len(ps) == 0 {
			t.Errorf("member %d received none of %d messages (distribution expected)", i, n)
		}
		got = append(got, ps...)
	}
	sort.Strings(got)
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("m%02d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("members together received %d messages %q, want each of %d exactly once (§4.8.2)", len(got), got, n)
	}
	if len(observer.Inbox.all()) != n {
		t.Errorf("non-shared subscriber received %d, want %d", len(observer.Inbox.all()), n)
	}
}

// §4.8.2: QoS 1 messages unacknowledged by a member whose session ends are
// sent to another member of the group (SHOULD).
func TestRaw_SharedSubscriptionRedeliveredOnMemberLoss(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	a := dialRaw(t, addr, true)
	a.connect(rawConnect{Version: 5, ClientID: "shr-a", Clean: true, KeepAlive: 30}) // session ends with the connection
	a.subscribe(1, "$share/g/shr/t", 1, nil)
	b := mustDial5(t, addr, cleanConnect("shr-b"))
	b.sub(t, "$share/g/shr/t", 1)

	var mu sync.Mutex
	var heldByA []string
	go func() { // A reads but never acknowledges
		for {
			pk, err := a.read(30 * time.Second)
			if err != nil {
				return
			}
			if pk.Type == tPUBLISH {
				r := &reader{b: pk.Body}
				r.str()
				r.u16()
				r.props()
				mu.Lock()
				heldByA = append(heldByA, string(r.b))
				mu.Unlock()
			}
		}
	}()
	held := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), heldByA...)
	}

	p := mustDial5(t, addr, cleanConnect("shr-pub"))
	var sent []string
	for i := 0; i < 20 && len(held()) == 0; i++ {
		payload := fmt.Sprintf("m%02d", i)
		p.pubs(t, "shr/t", 1, payload)
		sent = append(sent, payload)
		testutil.Eventually(t, waitTimeout, "a member to get "+payload, func() bool {
			return slices.Contains(held(), payload) || b.Inbox.count(payload) > 0
		})
	}
	if len(held()) == 0 {
		t.Skip("broker never chose member A in 20 messages; cannot test redelivery")
	}
	_ = a.conn.Close()

	testutil.Eventually(t, waitTimeout, fmt.Sprintf("member B to receive A's unacknowledged %q", held()), func() bool {
		for _, s := range sent {
			if b.Inbox.count(s) == 0 {
				return false
			}
		}
		return true
	})
}

// UNSUBACK carries 0x00 for a removed subscription and 0x11 where none
// existed (§3.11.3); delivery stops after UNSUBSCRIBE [MQTT-3.10.4-2].
func TestPaho5_UnsubackReasonCodes(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial5(t, addr, cleanConnect("us-sub"))
	s.sub(t, "us/a", 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ua, err := s.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"us/a", "us/none"}})
	if err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if !slices.Equal(ua.Reasons, []byte{0x00, 0x11}) {
		t.Errorf("UNSUBACK reasons %#v, want [0x00 0x11] (§3.11.3)", ua.Reasons)
	}
	p := mustDial5(t, addr, cleanConnect("us-pub"))
	p.pubs(t, "us/a", 1, "after-unsub")
	s.sync(t)
	time.Sleep(grace)
	if n := s.Inbox.count("after-unsub"); n != 0 {
		t.Errorf("message delivered %d times after UNSUBSCRIBE [MQTT-3.10.4-2]", n)
	}
}

func TestPaho3_Unsubscribe(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	s := mustDial3(t, addr, "us3-sub", true)
	s.sub(t, "us/a", 1)
	waitToken(t, "unsubscribe", s.Unsubscribe("us/a", "us/none"))
	p := mustDial3(t, addr, "us3-pub", true)
	p.pubs(t, "us/a", 1, false, "after-unsub")
	s.sync(t, 1)
	time.Sleep(grace)
	if n := s.Inbox.count("after-unsub"); n != 0 {
		t.Errorf("message delivered %d times after UNSUBSCRIBE [MQTT-3.10.4-2]", n)
	}
}

// 3.1.1 [MQTT-4.7.2-1]: the same "$" rule for MQTT 3.1.1 subscribers.
func TestPaho3_DollarTopicsNotMatchedByWildcards(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	all := mustDial3(t, addr, "dollar3-all", true)
	all.sub(t, "#", 1)
	all.sub(t, "+/x", 1)
	explicit := mustDial3(t, addr, "dollar3-explicit", true)
	explicit.sub(t, "$foo/x", 1)
	p := mustDial5(t, addr, cleanConnect("dollar3-pub"))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	r, err := p.Publish(ctx, &paho.Publish{Topic: "$foo/x", QoS: 1, Payload: []byte("$foo/x")})
	cancel()
	if err == nil && r.ReasonCode == 0 {
		explicit.Inbox.waitPayload(t, "$foo/x")
	}
	p.pubs(t, "norm/x", 1, "norm/x")
	all.Inbox.waitPayload(t, "norm/x")
	time.Sleep(grace)
	for _, m := range all.Inbox.all() {
		if strings.HasPrefix(m.Topic, "$") {
			t.Errorf("wildcard subscriber (# and +/x) received %q [MQTT-4.7.2-1]", m.Topic)
		}
	}
}

// [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
func TestRaw_NoLocalOnSharedSubscription(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, nil)
	c := dialRaw(t, addr, true)
	c.connect(rawConnect{Version: 5, ClientID: "nl-shared", Clean: true, KeepAlive: 30})
	c.sendMaybe(rawSubscribe(true, 1, nil, []string{"$share/g/nl/t"}, []byte{0x04 | 1}))
	c.expectClosed(2*time.Second, 0x82, "[MQTT-3.8.3-4] No Local on a shared subscription")
	assertServing(t, addr)
}
