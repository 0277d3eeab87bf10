package acl

import (
	"fmt"
	"strings"
	"testing"
)

// benchPolicy writes a policy of n rules shaped like a large deployment:
// 40% per-user rules with %u and a literal inbox, 30% per-user denies on
// literal topics, 20% per-group rules, the rest shared rules.
func benchPolicy(n int) string {
	var b strings.Builder
	b.WriteString(rulesHead)
	for i := range n {
		u, g := fmt.Sprintf("u%d", i%(n/2+1)), fmt.Sprintf("g%d", i%2000)
		switch i % 10 {
		case 0, 1, 2, 3:
			fmt.Fprintf(&b, "  - {name: user-%d, allow: [publish, subscribe, receive], who: [\"user:%s\"], topics: [\"devices/%%u/#\", \"users/%s/inbox/%d\"]}\n", i, u, u, i)
		case 4, 5, 6:
			fmt.Fprintf(&b, "  - {name: user-deny-%d, deny: [publish], who: [\"user:%s\"], topics: [\"devices/%s/cmd/firmware\"]}\n", i, u, u)
		case 7, 8:
			fmt.Fprintf(&b, "  - {name: group-%d, allow: [subscribe, receive], who: [\"group:%s\"], topics: [\"groups/%s/#\", \"fleet/%s/+/status\"], max_qos: 1}\n", i, g, g, g)
		default:
			fmt.Fprintf(&b, "  - {name: shared-%d, allow: [receive], who: [authenticated], topics: [\"public/t%d/#\"]}\n", i, i)
		}
	}
	return b.String()
}

type benchCase struct {
	name string
	r    Request
	want bool
}

var benchCases = []benchCase{
	{"publish", Request{Action: Publish, Topic: "devices/UU/telemetry/temp", QoS: 1, Payload: 100}, true},
	{"publish-denied", Request{Action: Publish, Topic: "devices/UU/cmd/firmware", QoS: 1}, false},
	{"subscribe", Request{Action: Subscribe, Topic: "fleet/g8/+/status", QoS: 1}, true},
	{"receive", Request{Action: Receive, Topic: "groups/g8/alerts/x"}, true},
	{"receive-nomatch", Request{Action: Receive, Topic: "other/tree/deep/topic"}, false},
}

// benchSubject returns a user that has both allow and deny rules in a
// policy of n rules, in five groups, one of which has rules, and a request
// with its name in place of UU.
func benchSubject(n int, r Request) (*Subject, Request) {
	name := "u43" // rules 43 and 5044
	if n < 100 {
		name = "u0" // rules 0 and 6
	}
	r.Topic = strings.ReplaceAll(r.Topic, "UU", name)
	return withClient(user(name, "g1008", "g8", "g1018", "g1028", "g4"), "client-"+name), r
}

func BenchmarkAuthorize(b *testing.B) {
	for _, n := range []int{10, 10000} {
		p, err := ParsePolicy([]byte(benchPolicy(n)), "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		for _, bc := range benchCases {
			s, r := benchSubject(n, bc.r)
			b.Run(fmt.Sprintf("rules=%d/uncached/%s", n, bc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					p.Authorize(s, r)
				}
			})
			c := NewCached(p, 1<<16)
			b.Run(fmt.Sprintf("rules=%d/cached/%s", n, bc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.Authorize(s, r)
				}
			})
		}
	}
}

func BenchmarkAuthorizeCachedParallel(b *testing.B) {
	p, err := ParsePolicy([]byte(benchPolicy(10000)), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	c := NewCached(p, 1<<16)
	s, r := benchSubject(10000, benchCases[0].r)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Authorize(s, r)
		}
	})
}

func BenchmarkParsePolicy10k(b *testing.B) {
	src := []byte(benchPolicy(10000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePolicy(src, "bench.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchPolicy checks the benchmark's answers, so the benchmark
// measures what it claims to.
func TestBenchPolicy(t *testing.T) {
	for _, n := range []int{10, 10000} {
		p := mustParse(t, benchPolicy(n))
		if p.Len() != n {
			t.Fatalf("%d rules", p.Len())
		}
		for _, bc := range benchCases {
			s, r := benchSubject(n, bc.r)
			got := p.Authorize(s, r)
			if got.Allowed != bc.want || (bc.name == "publish-denied" && !strings.Contains(got.Rule, "user-deny")) {
				t.Errorf("%d rules, %s: %+v", n, bc.name, got)
			}
			if want := refAuthorize(p, s, r); got != want {
				t.Errorf("%d rules, %s: %+v, reference %+v", n, bc.name, got, want)
			}
		}
	}
}
