package acl

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

const cachePolicy = rulesHead + `
  - {name: own, allow: [all], who: [authenticated], topics: ["devices/%u/#", "inbox/%c"]}
  - {name: group, allow: [subscribe, receive], who: ["group:g"], topics: ["fleet/#"], max_qos: 1}
  - {name: small, allow: [publish], who: [all], topics: ["small/#"], max_payload: 10, max_qos: 0}
`

func TestCachedHitsDoNotAllocate(t *testing.T) {
	c := NewCached(mustParse(t, cachePolicy), 1024)
	s := withClient(user("alice", "g", "h"), "dev-1")
	for _, r := range []Request{
		{Action: Publish, Topic: "devices/alice/temp", QoS: 1},
		{Action: Subscribe, Topic: "$share/x/fleet/+/status", QoS: 2},
		{Action: Receive, Topic: "inbox/dev-1"},
		{Action: Publish, Topic: "small/x", Payload: 11},
		{Action: Publish, Topic: "nothing/matches"},
	} {
		first := c.Authorize(s, r)
		if n := testing.AllocsPerRun(100, func() {
			if got := c.Authorize(s, r); got != first {
				t.Fatalf("hit %+v, miss %+v", got, first)
			}
		}); n != 0 {
			t.Errorf("%+v: %v allocs per hit", r, n)
		}
	}
	if st := c.Stats(); st.Hits < 500 || st.Misses != 5 || st.Entries != 5 {
		t.Errorf("stats %+v", st)
	}
}

// TestCachedKey checks that everything a decision depends on is in the
// key: the limits are applied at each call, and the subject's name,
// groups, kind and client identifier select different entries.
func TestCachedKey(t *testing.T) {
	p := mustParse(t, cachePolicy)
	c := NewCached(p, 1024)
	alice := withClient(user("alice", "g"), "dev-1")
	checks := []struct {
		s *Subject
		r Request
	}{
		{alice, Request{Action: Publish, Topic: "small/x", Payload: 10}},
		{alice, Request{Action: Publish, Topic: "small/x", Payload: 11}},
		{alice, Request{Action: Publish, Topic: "small/x", QoS: 1}},
		{alice, Request{Action: Subscribe, Topic: "fleet/x", QoS: 2}},
		{user("alice"), Request{Action: Subscribe, Topic: "fleet/x"}},
		{user("alice", "h"), Request{Action: Subscribe, Topic: "fleet/x"}},
		{user("alice", "g"), Request{Action: Subscribe, Topic: "fleet/x"}},
		{anonymous("dev-1"), Request{Action: Receive, Topic: "inbox/dev-1"}},
		{alice, Request{Action: Receive, Topic: "inbox/dev-1"}},
		{withClient(alice, "dev-2"), Request{Action: Receive, Topic: "inbox/dev-1"}},
		{certSubject("alice"), Request{Action: Receive, Topic: "devices/alice/x"}},
		{alice, Request{Action: Receive, Topic: "devices/alice/x"}},
		{user("bob"), Request{Action: Receive, Topic: "devices/alice/x"}},
		{anonymous("c"), Request{Action: Receive, Topic: "devices/alice/x"}},
		{nil, Request{Action: Receive, Topic: "devices/alice/x"}},
	}
	for round := range 3 {
		for i, ck := range checks {
			if got, want := c.Authorize(ck.s, ck.r), p.Authorize(ck.s, ck.r); got != want {
				t.Errorf("round %d #%d: cached %+v, policy %+v", round, i, got, want)
			}
		}
	}
}

func TestCachedSwap(t *testing.T) {
	allow := mustParse(t, rulesHead+"  - {name: yes, allow: [publish], who: [all], topics: [\"#\"]}\n")
	deny := mustParse(t, "version: 1\nrules: []\n")
	c := NewCached(allow, 128)
	r := Request{Action: Publish, Topic: "a"}
	if res := c.Authorize(nil, r); !res.Allowed {
		t.Fatalf("before swap: %+v", res)
	}
	c.Swap(deny)
	if c.Policy() != deny {
		t.Fatal("Policy() is not the swapped policy")
	}
	if res := c.Authorize(nil, r); res.Allowed || res.Rule != ruleNoMatch {
		t.Fatalf("after swap: %+v", res)
	}
	if st := c.Stats(); st.Entries != 1 {
		t.Errorf("entries after swap and one miss: %+v", st)
	}
	c.Swap(nil)
	if res := c.Authorize(nil, r); res.Allowed || res.Rule != ruleNoPolicy {
		t.Fatalf("nil policy: %+v", res)
	}
}

func TestCachedBounds(t *testing.T) {
	p := mustParse(t, rulesHead+"  - {allow: [receive], who: [all], topics: [\"#\"]}\n")
	for _, size := range []int{1, 10, 1000, 5000} {
		c := NewCached(p, size)
		for i := range 3 * size {
			c.Authorize(nil, Request{Action: Receive, Topic: "t/" + strconv.Itoa(i)})
		}
		if st := c.Stats(); st.Entries > size+len(c.shards) || st.Entries < size/2 {
			t.Errorf("size %d: %+v with %d shards", size, st, len(c.shards))
		}
	}
	c := NewCached(p, 16)
	long := strings.Repeat("x", maxCachedKey+1)
	if res := c.Authorize(nil, Request{Action: Receive, Topic: long}); !res.Allowed {
		t.Errorf("long topic: %+v", res)
	}
	if st := c.Stats(); st.Entries != 0 {
		t.Errorf("a key over %d bytes was stored: %+v", maxCachedKey, st)
	}
	off := NewCached(p, 0)
	if res := off.Authorize(nil, Request{Action: Receive, Topic: "a"}); !res.Allowed || off.Stats() != (CacheStats{}) {
		t.Errorf("disabled cache: %+v %+v", res, off.Stats())
	}
}

// TestCachedConcurrent runs lookups against swaps: every answer must be
// the answer of one of the two policies.
func TestCachedConcurrent(t *testing.T) {
	p1 := mustParse(t, rulesHead+"  - {name: one, allow: [all], who: [authenticated], topics: [\"a/%u/#\"]}\n")
	p2 := mustParse(t, rulesHead+"  - {name: two, deny: [all], who: [all], topics: [\"a/#\"]}\n")
	c := NewCached(p1, 256)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			s := user("u" + strconv.Itoa(g%3))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := Request{Action: Action(1 + i%4), Topic: "a/" + s.Identity.Name + "/" + strconv.Itoa(i%50)}
				got := c.Authorize(s, r)
				if got != p1.Authorize(s, r) && got != p2.Authorize(s, r) {
					t.Errorf("%+v: %+v from neither policy", r, got)
					return
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			c.Swap(p2)
		} else {
			c.Swap(p1)
		}
	}
	close(stop)
	wg.Wait()
	c.Swap(p2)
	s := user("u1")
	if res := c.Authorize(s, Request{Action: Publish, Topic: "a/u1/x"}); res.Rule != "rules[0] two" {
		t.Errorf("after the last swap: %+v", res)
	}
}
