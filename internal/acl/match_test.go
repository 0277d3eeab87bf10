package acl

import (
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/auth"
)

func user(name string, groups ...string) *Subject {
	return &Subject{ClientID: "cid-" + name, Username: name,
		Identity: &auth.Identity{Name: name, Groups: groups, Method: "password"}}
}

func certSubject(name string) *Subject {
	return &Subject{ClientID: "cid-" + name, Identity: &auth.Identity{Name: name, Method: certMethod}}
}

func anonymous(clientID string) *Subject {
	return &Subject{ClientID: clientID, Identity: &auth.Identity{Name: "anonymous", Method: "anonymous", Anonymous: true}}
}

func withClient(s *Subject, clientID string) *Subject {
	c := *s
	c.ClientID = clientID
	return &c
}

// check is one request and the answer it must get.
type check struct {
	s     *Subject
	a     Action
	topic string
	qos   byte
	size  int
	allow bool
	rule  string // the exact Result.Rule; "" skips the comparison
	max   byte   // Result.MaxQoS, checked when allow
}

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(src), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runChecks asks p, a cached p and Explain, which must agree.
func runChecks(t *testing.T, p *Policy, checks []check) {
	t.Helper()
	c := NewCached(p, 1024)
	for i, ck := range checks {
		r := Request{Action: ck.a, Topic: ck.topic, QoS: ck.qos, Payload: ck.size}
		who := "<nil>"
		if ck.s != nil && ck.s.Identity != nil {
			who = short(ck.s.Identity.Name)
		}
		got := p.Authorize(ck.s, r)
		if got.Allowed != ck.allow || (ck.rule != "" && got.Rule != ck.rule) || (ck.allow && got.MaxQoS != ck.max) {
			t.Errorf("#%d %s %v %q qos %d size %d: got %+v, want allowed %v rule %q max %d",
				i, who, ck.a, short(ck.topic), ck.qos, ck.size, got, ck.allow, ck.rule, ck.max)
		}
		if got.Rule == "" {
			t.Errorf("#%d: empty Result.Rule", i)
		}
		for pass := range 2 { // miss, then hit
			if cg := c.Authorize(ck.s, r); cg != got {
				t.Errorf("#%d pass %d: cached %+v, uncached %+v", i, pass, cg, got)
			}
		}
		if eg, lines := p.Explain(ck.s, r); eg != got || len(lines) == 0 {
			t.Errorf("#%d: Explain %+v %q, Authorize %+v", i, eg, lines, got)
		}
	}
}

func TestTopicSpecificity(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: a-all, allow: [publish], who: [all], topics: ["a/#"]}
  - {name: ab-deny, deny: [publish], who: [all], topics: ["a/b/#"]}
  - {name: abc, allow: [publish], who: [all], topics: ["a/b/c"]}
  - {name: a-plus-c-d, deny: [publish], who: [all], topics: ["a/+/c/d"]}
  - {name: plus-b-c-d, allow: [publish], who: [all], topics: ["+/b/c/d"]}
  - {name: x-plus, allow: [publish], who: [all], topics: ["x/+"]}
  - {name: x-hash, deny: [publish], who: [all], topics: ["x/#"]}
  - {name: y-hash, allow: [publish], who: [all], topics: ["y/#"]}
  - {name: y-plus-hash, deny: [publish], who: [all], topics: ["y/+/#"]}
  - {name: tmpl, deny: [publish], who: [all], topics: ["a/%u/c"]}
`)
	u := user("u")
	checks := []check{
		{s: u, a: Publish, topic: "a", allow: true, rule: "rules[0] a-all", max: 2},
		{s: u, a: Publish, topic: "a/x", allow: true, rule: "rules[0] a-all", max: 2},
		{s: u, a: Publish, topic: "a/b", rule: "rules[1] ab-deny"},
		{s: u, a: Publish, topic: "a/b/x", rule: "rules[1] ab-deny"},
		// More literal levels win: a/b/c (3) over a/b/# (2).
		{s: u, a: Publish, topic: "a/b/c", allow: true, rule: "rules[2] abc", max: 2},
		// a/+/c/d and +/b/c/d both have 3 literal levels, no '#', one '+':
		// a complete tie, and deny wins.
		{s: u, a: Publish, topic: "a/b/c/d", rule: "rules[3] a-plus-c-d"},
		{s: u, a: Publish, topic: "z/b/c/d", allow: true, rule: "rules[4] plus-b-c-d", max: 2},
		// No trailing '#' beats a trailing '#' with as many literal levels.
		{s: u, a: Publish, topic: "x/1", allow: true, rule: "rules[5] x-plus", max: 2},
		{s: u, a: Publish, topic: "x/1/2", rule: "rules[6] x-hash"},
		{s: u, a: Publish, topic: "x", rule: "rules[6] x-hash"},
		// Both end in '#' with one literal level: fewer '+' wins.
		{s: u, a: Publish, topic: "y/1/2", allow: true, rule: "rules[7] y-hash", max: 2},
		// A %u level counts as literal: a/%u/c ties a/b/c for user b, and
		// deny wins; for user u it is the only 3-literal match.
		{s: user("b"), a: Publish, topic: "a/b/c", rule: "rules[9] tmpl"},
		{s: u, a: Publish, topic: "a/u/c", rule: "rules[9] tmpl"},
		// Actions the rules do not list fall to the default.
		{s: u, a: Subscribe, topic: "a/x", rule: ruleNoMatch},
		{s: u, a: Retain, topic: "a/x", rule: ruleNoMatch},
		{s: u, a: Publish, topic: "b", rule: ruleNoMatch},
	}
	runChecks(t, p, checks)
}

func TestWhoSpecificity(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: everyone, allow: [publish], who: [all], topics: ["w/#"]}
  - {name: members, deny: [publish], who: [authenticated], topics: ["w/#"]}
  - {name: guests, deny: [publish], who: [anonymous], topics: ["w/guest/#"]}
  - {name: group-g, allow: [publish], who: ["group:g"], topics: ["w/#"]}
  - {name: not-bob, deny: [publish], who: ["user:bob"], topics: ["w/#"]}
  - {name: device, allow: [publish], who: ["cert:dev"], topics: ["w/#"]}
  - {name: group-h, deny: [publish], who: ["group:h"], topics: ["w/#"]}
  - {name: bob-x, allow: [publish], who: ["user:bob"], topics: ["w/x"]}
  - {name: anon-exact, allow: [publish], who: [anonymous], topics: ["w/guest/ok"]}
  - {name: all-exact, deny: [publish], who: [all], topics: ["w/guest/ok"]}
`)
	checks := []check{
		{s: anonymous("c1"), a: Publish, topic: "w/a", allow: true, rule: "rules[0] everyone", max: 2},
		{s: nil, a: Publish, topic: "w/a", allow: true, rule: "rules[0] everyone", max: 2},
		{s: &Subject{ClientID: "c"}, a: Publish, topic: "w/a", allow: true, rule: "rules[0] everyone", max: 2},
		{s: anonymous("c1"), a: Publish, topic: "w/guest/1", rule: "rules[2] guests"},
		{s: user("carol"), a: Publish, topic: "w/a", rule: "rules[1] members"},
		{s: user("carol", "g"), a: Publish, topic: "w/a", allow: true, rule: "rules[3] group-g", max: 2},
		// user: beats group:.
		{s: user("bob", "g"), a: Publish, topic: "w/a", rule: "rules[4] not-bob"},
		// The pattern compares before who: w/x beats w/#.
		{s: user("bob", "g"), a: Publish, topic: "w/x", allow: true, rule: "rules[7] bob-x", max: 2},
		// cert: beats authenticated; user:dev is not cert:dev.
		{s: certSubject("dev"), a: Publish, topic: "w/a", allow: true, rule: "rules[5] device", max: 2},
		{s: user("dev"), a: Publish, topic: "w/a", rule: "rules[1] members"},
		// cert:bob is not user:bob.
		{s: certSubject("bob"), a: Publish, topic: "w/a", rule: "rules[1] members"},
		// Two groups tie: deny wins.
		{s: user("carol", "g", "h"), a: Publish, topic: "w/a", rule: "rules[6] group-h"},
		{s: user("carol", "h", "g"), a: Publish, topic: "w/a", rule: "rules[6] group-h"},
		// anonymous beats all; authenticated clients are not anonymous.
		{s: anonymous("c1"), a: Publish, topic: "w/guest/ok", allow: true, rule: "rules[8] anon-exact", max: 2},
		{s: user("carol", "g"), a: Publish, topic: "w/guest/ok", rule: "rules[9] all-exact"},
		// An anonymous identity carrying a name or groups is still anonymous.
		{s: &Subject{Identity: &auth.Identity{Name: "bob", Groups: []string{"g"}, Anonymous: true}}, a: Publish,
			topic: "w/a", allow: true, rule: "rules[0] everyone", max: 2},
	}
	runChecks(t, p, checks)
}

func TestAllowTieFirstRuleDecides(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: first, allow: [subscribe], who: [all], topics: ["t/#"], max_qos: 0}
  - {name: second, allow: [subscribe], who: [all], topics: ["t/#"], max_qos: 2}
`)
	runChecks(t, p, []check{{s: user("a"), a: Subscribe, topic: "t/1", qos: 2, allow: true, rule: "rules[0] first", max: 0}})
}

func TestLimits(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: q, allow: [publish, subscribe, receive, retain], who: [all], topics: ["q/#"], max_qos: 1}
  - {name: p, allow: [publish, retain], who: [all], topics: ["p/#"], max_payload: 1KiB}
  - {name: p-deny, deny: [publish], who: [all], topics: ["p/secret"]}
  - {allow: [subscribe], who: [all], topics: ["free/#"]}
`)
	u := user("u")
	checks := []check{
		{s: u, a: Subscribe, topic: "q/1", qos: 2, allow: true, rule: "rules[0] q", max: 1},
		{s: u, a: Subscribe, topic: "q/#", qos: 0, allow: true, rule: "rules[0] q", max: 1},
		{s: u, a: Receive, topic: "q/1", qos: 2, allow: true, rule: "rules[0] q", max: 1},
		{s: u, a: Publish, topic: "q/1", qos: 1, allow: true, rule: "rules[0] q", max: 1},
		{s: u, a: Publish, topic: "q/1", qos: 2, rule: "rules[0] q: QoS above max_qos 1"},
		{s: u, a: Retain, topic: "q/1", qos: 2, rule: "rules[0] q: QoS above max_qos 1"},
		{s: u, a: Publish, topic: "q/1", qos: 3, rule: ruleBadQoS},
		{s: u, a: Subscribe, topic: "free/x", qos: 2, allow: true, rule: "rules[3]", max: 2},
		{s: u, a: Publish, topic: "p/a", size: 1024, allow: true, rule: "rules[1] p", max: 2},
		{s: u, a: Publish, topic: "p/a", size: 1025, rule: "rules[1] p: payload above max_payload 1024 bytes"},
		{s: u, a: Retain, topic: "p/a", size: 1 << 20, rule: "rules[1] p: payload above max_payload 1024 bytes"},
		{s: u, a: Publish, topic: "p/a", size: 0, allow: true, rule: "rules[1] p", max: 2},
		{s: u, a: Publish, topic: "p/secret", size: 1, rule: "rules[2] p-deny"},
	}
	runChecks(t, p, checks)
}

func TestSubscribeCovers(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: status, allow: [subscribe], who: [all], topics: ["s/+/status", "t/#"]}
  - {name: own, allow: [subscribe], who: [authenticated], topics: ["u/%u/#"]}
  - {name: all-plus, allow: [subscribe], who: ["user:wide"], topics: ["+/#"]}
`)
	u := user("alice")
	checks := []check{
		{s: u, a: Subscribe, topic: "s/1/status", allow: true, rule: "rules[0] status", max: 2},
		{s: u, a: Subscribe, topic: "s/+/status", allow: true, rule: "rules[0] status", max: 2},
		{s: u, a: Subscribe, topic: "s/#", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "s/1/#", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "s/1/+", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "+/+/status", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "t", allow: true, max: 2},
		{s: u, a: Subscribe, topic: "t/#", allow: true, max: 2},
		{s: u, a: Subscribe, topic: "t/+/x/#", allow: true, max: 2},
		{s: u, a: Subscribe, topic: "#", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "u/alice/#", allow: true, rule: "rules[1] own", max: 2},
		{s: u, a: Subscribe, topic: "u/alice", allow: true, rule: "rules[1] own", max: 2},
		{s: u, a: Subscribe, topic: "u/+/#", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "u/#", rule: ruleNoMatch},
		// Shared subscriptions are judged by their inner filter.
		{s: u, a: Subscribe, topic: "$share/g/s/1/status", allow: true, rule: "rules[0] status", max: 2},
		{s: u, a: Subscribe, topic: "$share/g/u/alice/x", allow: true, rule: "rules[1] own", max: 2},
		{s: u, a: Subscribe, topic: "$share/g/#", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "$share/g/u/+/#", rule: ruleNoMatch},
		{s: u, a: Subscribe, topic: "$share//s/1/status", rule: ruleBadTopic},
		{s: u, a: Subscribe, topic: "$share/g", rule: ruleBadTopic},
		{s: u, a: Subscribe, topic: "a/#/b", rule: ruleBadTopic},
		// +/# covers everything but '$' filters.
		{s: user("wide"), a: Subscribe, topic: "#", rule: ruleNoMatch}, // '+' does not cover '#'
		{s: user("wide"), a: Subscribe, topic: "a/#", allow: true, rule: "rules[2] all-plus", max: 2},
		{s: user("wide"), a: Subscribe, topic: "+", allow: true, rule: "rules[2] all-plus", max: 2},
		{s: user("wide"), a: Subscribe, topic: "$SYS/#", rule: ruleNoMatch},
		{s: user("wide"), a: Subscribe, topic: "$share/g/$SYS/x", rule: ruleNoMatch},
	}
	runChecks(t, p, checks)
}

func TestDollarTopics(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: everything, allow: [all], who: [all], topics: ["#"]}
  - {name: plus, allow: [all], who: [all], topics: ["+/x"]}
  - {name: ctl, allow: [publish, retain], who: ["user:admin"], topics: ["$ctl/#"]}
  - {name: sys-write, allow: [publish, retain], who: ["user:admin"], topics: ["$SYS/#"]}
  - {name: sys-read, allow: [subscribe, receive], who: ["user:mon"], topics: ["$SYS/#"]}
  - {name: dollar-user, allow: [publish], who: [all], topics: ["%u/x"]}
  - {name: moat, allow: [all], who: ["user:admin"], topics: ["$moat/#"]}
`)
	admin, mon, anon := user("admin"), user("mon"), anonymous("c")
	checks := []check{
		{s: anon, a: Publish, topic: "a/b", allow: true, rule: "rules[0] everything", max: 2},
		{s: anon, a: Publish, topic: "$ctl/x", rule: ruleNoMatch},
		{s: anon, a: Publish, topic: "$a/x", rule: ruleNoMatch},
		{s: anon, a: Receive, topic: "$SYS/uptime", rule: ruleNoMatch},
		{s: anon, a: Subscribe, topic: "$SYS/#", rule: ruleNoMatch},
		{s: anon, a: Subscribe, topic: "$SYS/uptime", rule: ruleNoMatch},
		{s: admin, a: Publish, topic: "$ctl/x", allow: true, rule: "rules[2] ctl", max: 2},
		{s: admin, a: Retain, topic: "$ctl/x", allow: true, rule: "rules[2] ctl", max: 2},
		{s: admin, a: Publish, topic: "$SYS/x", rule: ruleSYS},
		{s: admin, a: Retain, topic: "$SYS/broker/uptime", rule: ruleSYS},
		{s: admin, a: Publish, topic: "$SYS", rule: ruleSYS},
		{s: admin, a: Publish, topic: "$moat/keys/valve-7", rule: ruleKeys},
		{s: admin, a: Retain, topic: "$moat/keys/valve-7", rule: ruleKeys},
		{s: admin, a: Receive, topic: "$moat/keys/valve-7", allow: true, rule: "rules[6] moat", max: 2},
		{s: admin, a: Publish, topic: "$moat/other", allow: true, rule: "rules[6] moat", max: 2},
		{s: mon, a: Subscribe, topic: "$SYS/#", allow: true, rule: "rules[4] sys-read", max: 2},
		{s: mon, a: Receive, topic: "$SYS/uptime", allow: true, rule: "rules[4] sys-read", max: 2},
		{s: mon, a: Subscribe, topic: "$share/g/$SYS/#", allow: true, rule: "rules[4] sys-read", max: 2},
		// A name starting with '$' never lands in a '$' topic through %u.
		{s: user("$ctl"), a: Publish, topic: "$ctl/x", rule: ruleNoMatch},
	}
	runChecks(t, p, checks)
}

// TestHostileIdentities covers substitution safety: names and client
// identifiers that would widen a pattern or move it to another level or a
// '$' tree match nothing (the class of CVE-2017-7650).
func TestHostileIdentities(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: own, allow: [all], who: [all], topics: ["%u/#", "devices/%u/+", "t-%u/x", "c/%c/#", "in/x-%c-y/#"]}
`)
	long := strings.Repeat("n", 64<<10)
	fits := strings.Repeat("n", 65000)
	var checks []check
	for _, name := range []string{"#", "+", "a/#", "a/+", "$SYS", "", "ü/x", "a\x00b", "/", "+/#", "a/b"} {
		s := user(name)
		checks = append(checks,
			check{s: s, a: Subscribe, topic: "#", rule: ruleNoMatch},
			check{s: s, a: Subscribe, topic: "+/#", rule: ruleNoMatch},
			check{s: s, a: Subscribe, topic: "devices/+", rule: ruleNoMatch},
			check{s: s, a: Subscribe, topic: "$SYS/#", rule: ruleNoMatch},
			check{s: s, a: Receive, topic: "a/b/c", rule: ruleNoMatch},
			check{s: s, a: Receive, topic: "/x", rule: ruleNoMatch},
			check{s: s, a: Receive, topic: "devices/a/b", rule: ruleNoMatch},
			check{s: s, a: Receive, topic: "devices/x", rule: ruleNoMatch},
			check{s: s, a: Receive, topic: "t-/x", rule: ruleNoMatch},
			check{s: s, a: Publish, topic: "$SYS/x", rule: ruleSYS},
			check{s: s, a: Receive, topic: "$SYS/x", rule: ruleNoMatch},
		)
		if !strings.ContainsAny(name, "+#\x00") && name != "" {
			checks = append(checks,
				check{s: s, a: Receive, topic: name + "/x", rule: ruleNoMatch},
				check{s: s, a: Receive, topic: "devices/" + name + "/x", rule: ruleNoMatch},
				check{s: s, a: Subscribe, topic: name + "/#", rule: ruleNoMatch})
		}
		cs := withClient(user("ok"), name)
		checks = append(checks,
			check{s: cs, a: Receive, topic: "c/a/b", rule: ruleNoMatch},
			check{s: cs, a: Subscribe, topic: "c/#", rule: ruleNoMatch},
			check{s: cs, a: Subscribe, topic: "in/x--y/#", rule: ruleNoMatch},
			check{s: cs, a: Receive, topic: "c//x", rule: ruleNoMatch})
	}
	// Safe names work, non-ASCII included.
	checks = append(checks,
		check{s: user("ü"), a: Receive, topic: "ü/x", allow: true, rule: "rules[0] own", max: 2},
		check{s: user("ü"), a: Receive, topic: "t-ü/x", allow: true, rule: "rules[0] own", max: 2},
		check{s: user("alice"), a: Subscribe, topic: "alice/#", allow: true, max: 2},
		check{s: user("alice"), a: Subscribe, topic: "devices/alice/+", allow: true, max: 2},
		check{s: user("alice"), a: Subscribe, topic: "devices/alice/#", rule: ruleNoMatch},
		check{s: user("alice"), a: Receive, topic: "t-alice/x", allow: true, max: 2},
		check{s: user("alice"), a: Receive, topic: "t-alicex/x", rule: ruleNoMatch},
		check{s: user("alice"), a: Receive, topic: "t-bob/x", rule: ruleNoMatch},
		check{s: withClient(user("x"), "dev-1"), a: Receive, topic: "c/dev-1/z", allow: true, max: 2},
		check{s: withClient(user("x"), "dev-1"), a: Receive, topic: "in/x-dev-1-y/z", allow: true, max: 2},
		check{s: withClient(user("x"), "dev-1"), a: Receive, topic: "in/x-dev-1-/z", rule: ruleNoMatch},
		check{s: withClient(user("x"), "dev-1"), a: Receive, topic: "c/dev-2/z", rule: ruleNoMatch},
		// %u matches nothing for anonymous clients, whatever their name.
		check{s: anonymous("c"), a: Receive, topic: "anonymous/x", rule: ruleNoMatch},
		check{s: &Subject{ClientID: "c"}, a: Receive, topic: "/x", rule: ruleNoMatch},
		// %c works for anonymous clients with a safe client identifier.
		check{s: anonymous("dev-9"), a: Receive, topic: "c/dev-9", allow: true, max: 2},
		// Very long names: matched when the topic fits, refused when not.
		check{s: user(fits), a: Receive, topic: fits + "/x", allow: true, max: 2},
		check{s: user(long), a: Receive, topic: long + "/x", rule: ruleBadTopic},
		check{s: user(long), a: Subscribe, topic: long, rule: ruleBadTopic},
		check{s: user(long), a: Receive, topic: "devices/x/y", rule: ruleNoMatch},
	)
	runChecks(t, p, checks)
}

// TestCVE20177650 is the Mosquitto case: a user named "#" or "+" with the
// pattern "%u/#" must not gain every topic.
func TestCVE20177650(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {allow: [subscribe, receive, publish], who: [authenticated], topics: ["%u/#"]}
`)
	for _, name := range []string{"#", "+", "+/+", "#/#"} {
		s := user(name)
		runChecks(t, p, []check{
			{s: s, a: Subscribe, topic: "#", rule: ruleNoMatch},
			{s: s, a: Subscribe, topic: "+/#", rule: ruleNoMatch},
			{s: s, a: Subscribe, topic: "victim/#", rule: ruleNoMatch},
			{s: s, a: Receive, topic: "victim/secret", rule: ruleNoMatch},
			{s: s, a: Publish, topic: "victim/cmd", rule: ruleNoMatch},
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	p := mustParse(t, rulesHead+"  - {allow: [all], who: [all], topics: [\"#\"]}\n")
	u := user("u")
	runChecks(t, p, []check{
		{s: u, a: 0, topic: "a", rule: ruleBadAction},
		{s: u, a: 9, topic: "a", rule: ruleBadAction},
		{s: u, a: Publish, topic: "", rule: ruleBadTopic},
		{s: u, a: Publish, topic: "a/+", rule: ruleBadTopic},
		{s: u, a: Receive, topic: "a/#", rule: ruleBadTopic},
		{s: u, a: Retain, topic: "a\x00", rule: ruleBadTopic},
		{s: u, a: Subscribe, topic: "", rule: ruleBadTopic},
		{s: u, a: Subscribe, topic: "a+", rule: ruleBadTopic},
		{s: u, a: Publish, topic: "a/", allow: true, max: 2},
		{s: u, a: Publish, topic: "/", allow: true, max: 2},
	})
	var nilPolicy *Policy
	if res := nilPolicy.Authorize(u, Request{Action: Publish, Topic: "a"}); res.Allowed || res.Rule != ruleNoPolicy {
		t.Errorf("nil policy: %+v", res)
	}
}

func TestDefaultDeny(t *testing.T) {
	p := mustParse(t, "version: 1\nrules: []\n")
	for a := Publish; a <= Retain; a++ {
		res := p.Authorize(user("u"), Request{Action: a, Topic: "a", QoS: 0})
		if res != (Result{Rule: ruleNoMatch}) {
			t.Errorf("%v: %+v", a, res)
		}
	}
}

func TestExplain(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: wide, allow: [publish], who: [all], topics: ["#"]}
  - {name: narrow, deny: [publish], who: ["user:u"], topics: ["a/#"]}
  - {allow: [publish], who: [authenticated], topics: ["a/b"]}
`)
	res, lines := p.Explain(user("u"), Request{Action: Publish, Topic: "a/b"})
	if !res.Allowed || res.Rule != "rules[2]" || len(lines) != 3 {
		t.Fatalf("%+v %q", res, lines)
	}
	want := []string{
		`allow rules[2]: pattern "a/b", who "authenticated" (2 literal levels, no trailing #, 0 '+' levels, who rank 1) <- decides: rules[2]`,
		`deny rules[1] narrow: pattern "a/#", who "user:u" (1 literal levels, trailing #, 0 '+' levels, who rank 3)`,
		`allow rules[0] wide: pattern "#", who "all" (0 literal levels, trailing #, 0 '+' levels, who rank 0)`,
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n%s\nwant\n%s", i, lines[i], want[i])
		}
	}
	if _, lines := p.Explain(user("u"), Request{Action: Subscribe, Topic: "a"}); len(lines) != 1 || lines[0] != ruleNoMatch {
		t.Errorf("no match: %q", lines)
	}
	if _, lines := p.Explain(user("u"), Request{Action: Publish, Topic: "$SYS/x"}); len(lines) != 1 || lines[0] != ruleSYS {
		t.Errorf("builtin: %q", lines)
	}
}

// TestAuthorizeAllocs checks that a decision does not allocate.
func TestAuthorizeAllocs(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {allow: [all], who: [authenticated], topics: ["devices/%u/#", "t-%c/+"]}
  - {deny: [publish], who: ["group:g"], topics: ["devices/+/cmd"], }
  - {allow: [publish], who: ["user:u"], topics: ["x/y"], max_qos: 1, max_payload: 10}
`)
	s := user("u", "g")
	for _, r := range []Request{
		{Action: Publish, Topic: "devices/u/cmd", QoS: 1},
		{Action: Publish, Topic: "x/y", QoS: 2},
		{Action: Subscribe, Topic: "$share/g/devices/u/#"},
		{Action: Receive, Topic: "t-cid-u/z"},
	} {
		if n := testing.AllocsPerRun(100, func() { p.Authorize(s, r) }); n != 0 {
			t.Errorf("%+v: %v allocs", r, n)
		}
	}
}
