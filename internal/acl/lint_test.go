package acl

import (
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	p := mustParse(t, rulesHead+`
  - {name: read-all, allow: [subscribe, receive], who: [authenticated], topics: ["#"]}
  - {name: read-plus, allow: [receive], who: [all], topics: ["+/#", "+/status"]}
  - {name: sys-write, allow: [publish], who: ["group:ops"], topics: ["$SYS/#"]}
  - {name: dollar-admin, allow: [retain], who: ["user:admin"], topics: ["$ctl/#"]}
  - {name: anon-write, allow: [publish], who: [anonymous], topics: ["+/+", "guest/in"]}
  - {name: anon-own, allow: [subscribe], who: [anonymous], topics: ["%u/#"]}
  - {name: fine, allow: [publish, subscribe], who: ["user:alice"], topics: ["a/b"]}
  - {name: fine-again, allow: [subscribe, publish], who: ["user:alice"], topics: ["a/b"]}
  - {name: shadowed, allow: [subscribe], who: ["group:g"], topics: ["x/#"]}
  - {name: shadow, deny: [subscribe, receive], who: ["group:g"], topics: ["x/#"]}
  - {name: private, deny: [all], who: [all], topics: ["private/#"]}
`)
	want := []string{
		`critical: rules[0] read-all: everyone can read every topic: authenticated may subscribe to or receive "#"`,
		`critical: rules[1] read-plus: everyone can read every topic: all may subscribe to or receive "+/#"`,
		`warning: rules[1] read-plus: all may subscribe to or receive "+/status", across every top-level topic tree`,
		`warning: rules[2] sys-write: allows publish or retain to "$SYS/#", which the builtin rule always denies: $SYS is written only by the broker`,
		`critical: rules[2] sys-write: group:ops may publish to broker-reserved "$SYS/#"; grant '$' topics to user: or cert: subjects only`,
		`critical: rules[4] anon-write: anonymous clients (anonymous) may publish to any topic of the all-wildcard pattern "+/+"`,
		`warning: rules[4] anon-write: anonymous clients (anonymous) may publish to "guest/in"`,
		`warning: rules[5] anon-own: pattern "%u/#" never matches: %u matches nothing for anonymous clients`,
		`warning: rules[7] fine-again: duplicates rules[6] fine, which decides instead`,
		`warning: rules[8] shadowed: never decides: everything it matches, rules[9] shadow matches as specifically and wins the tie`,
	}
	var got []string
	for _, f := range Lint(p) {
		got = append(got, f.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if Lint(nil) != nil {
		t.Error("Lint(nil) found something")
	}
	if f := Lint(mustParse(t, "version: 1\nrules: []\n")); len(f) != 0 {
		t.Errorf("empty policy: %v", f)
	}
}
