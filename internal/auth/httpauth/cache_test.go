package httpauth

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
)

func key(b byte) cacheKey { return cacheKey{b} }

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache[int](3)
	for i := range byte(3) {
		c.put(key(i), int(i), time.Minute, now)
	}
	if _, ok := c.get(key(0), now); !ok { // 0 becomes the most recent
		t.Fatal("0 missing")
	}
	c.put(key(3), 3, time.Minute, now) // evicts 1
	for k, want := range map[byte]bool{0: true, 1: false, 2: true, 3: true} {
		if _, ok := c.get(key(k), now); ok != want {
			t.Errorf("key %d present = %v, want %v", k, ok, want)
		}
	}
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
	for i := range byte(100) {
		c.put(key(10+i), int(i), time.Minute, now)
	}
	if c.len() != 3 {
		t.Errorf("len = %d after many puts, want the bound 3", c.len())
	}
}

func TestCacheExpiryAndReplace(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCache[string](2)
	c.put(key(1), "a", time.Second, now)
	if v, ok := c.get(key(1), now.Add(time.Second-1)); !ok || v != "a" {
		t.Fatalf("get before expiry = %q, %v", v, ok)
	}
	if _, ok := c.get(key(1), now.Add(time.Second)); ok {
		t.Fatal("hit at expiry")
	}
	if c.len() != 0 {
		t.Errorf("expired entry kept: len %d", c.len())
	}
	c.put(key(2), "b", time.Second, now)
	c.put(key(2), "c", time.Minute, now)
	if v, ok := c.get(key(2), now.Add(time.Second)); !ok || v != "c" {
		t.Errorf("replaced entry = %q, %v", v, ok)
	}
	c.put(key(2), "d", 0, now) // a zero ttl drops what was there
	if _, ok := c.get(key(2), now); ok || c.len() != 0 {
		t.Errorf("zero ttl kept the entry")
	}
	var none *cache[string]
	none.put(key(1), "x", time.Minute, now)
	if _, ok := none.get(key(1), now); ok || none.len() != 0 {
		t.Error("nil cache hit")
	}
}

func TestKeyerSeparatesFields(t *testing.T) {
	k := newKeyer([]byte("test key"))
	sum := func(domain byte, fields ...string) cacheKey {
		s := k.start(domain)
		for _, f := range fields {
			s.str(f)
		}
		return k.sum(s)
	}
	long := string(bytes.Repeat([]byte("t"), 1000))
	seen := map[cacheKey]string{}
	for name, got := range map[string]cacheKey{
		"ab|c":     sum('A', "ab", "c"),
		"a|bc":     sum('A', "a", "bc"),
		"abc":      sum('A', "abc"),
		"abc|":     sum('A', "abc", ""),
		"C:ab|c":   sum('C', "ab", "c"),
		"long":     sum('A', long),
		"long+one": sum('A', long+"t"),
	} {
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s share a key", name, other)
		}
		seen[got] = name
	}
	first, second := sum('A', "x", long), sum('A', "x", long)
	if first != second {
		t.Error("keys are not deterministic")
	}
	if newKeyer([]byte("other key")).sum(newKeyer([]byte("other key")).start('A')) == k.sum(k.start('A')) {
		t.Error("the HMAC key does not matter")
	}
}

func FuzzParseAuthAnswer(f *testing.F) {
	for _, s := range []string{`{"result":"allow"}`, `{"result":"deny","reason":"x"}`,
		`{"result":"allow","identity":"a","groups":["g"]}`, `null`, `{"result":"allow"} x`, `{"groups":[""]}`} {
		f.Add([]byte(s))
	}
	r := userReq("alice", "pw")
	f.Fuzz(func(t *testing.T, body []byte) {
		e, fail := parseAuthAnswer(body, r)
		var a struct{ Result string }
		strictAllow := json.Unmarshal(body, &a) == nil && a.Result == "allow"
		if e.allow && (fail != "" || !strictAllow) {
			t.Fatalf("allowed %q", body)
		}
		if fail == "" && e.result("").Decision == auth.Allow && e.name == "" {
			t.Fatalf("allow without a name for %q", body)
		}
	})
}

func FuzzParseACLAnswer(f *testing.F) {
	for _, s := range []string{`{"result":"allow","max_qos":1}`, `{"result":"deny"}`, `{"result":"allow","max_qos":3}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, fail := parseACLAnswer(body)
		if res.Allowed && (fail != "" || res.MaxQoS > 2) {
			t.Fatalf("allowed %q as %+v", body, res)
		}
		if fail != "" && (res.Allowed || res.Rule != "") {
			t.Fatalf("failure with a result for %q", body)
		}
	})
}
