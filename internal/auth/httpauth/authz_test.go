package httpauth

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
)

var subject = &acl.Subject{ClientID: "c1", Username: "alice", Identity: &auth.Identity{Name: "alice@corp", Method: "http"}}

// topicPolicy allows "public/#" up to the QoS in the topic's last level
// when it is a digit, denies "private/#", and answers malformed JSON for
// "broken/#".
func topicPolicy(w http.ResponseWriter, r *http.Request, body map[string]any) {
	topic, _ := body["topic"].(string)
	switch {
	case strings.HasPrefix(topic, "public/"):
		a := map[string]any{"result": "allow"}
		if last := topic[len(topic)-1]; last >= '0' && last <= '9' {
			a["max_qos"] = int(last - '0')
		}
		answer(a)(w, r, body)
	case strings.HasPrefix(topic, "private/"):
		answer(map[string]any{"result": "deny", "reason": "private"})(w, r, body)
	default:
		raw(200, "{")(w, r, body)
	}
}

func newACLBackend(t *testing.T, h handler, o Options) (*Backend, *fakeBackend) {
	t.Helper()
	f := newFakeBackend(t, h)
	o.AuthURL, o.ACLURL = f.srv.URL+"/auth", f.srv.URL+"/acl"
	b := newBackend(t, o)
	if a, ok := b.Authorizer(); !ok || a != acl.Authorizer(b) {
		t.Fatalf("Authorizer() = %v, %v with acl_url", a, ok)
	}
	return b, f
}

func TestAuthorizeDecisions(t *testing.T) {
	b, f := newACLBackend(t, topicPolicy, Options{})
	for _, tc := range []struct {
		r    acl.Request
		want acl.Result
	}{
		{acl.Request{Action: acl.Subscribe, Topic: "public/x", QoS: 2}, acl.Result{Allowed: true, MaxQoS: 2, Rule: ruleAllow}},
		{acl.Request{Action: acl.Subscribe, Topic: "public/1", QoS: 2}, acl.Result{Allowed: true, MaxQoS: 1, Rule: ruleAllow}},
		{acl.Request{Action: acl.Publish, Topic: "public/0", QoS: 1}, acl.Result{Allowed: true, MaxQoS: 0, Rule: ruleAllow}},
		{acl.Request{Action: acl.Receive, Topic: "private/a"}, acl.Result{Rule: ruleDeny + ": private"}},
		{acl.Request{Action: acl.Subscribe, Topic: "public/7"}, acl.Result{Rule: "http: malformed answer from " + f.srv.URL + "/acl: max_qos 7 outside 0..2"}},
		{acl.Request{Action: acl.Retain, Topic: "broken/a"}, acl.Result{Rule: "http: malformed answer from " + f.srv.URL + "/acl: not a JSON object of the expected shape"}},
	} {
		if got := b.Authorize(subject, tc.r); got != tc.want {
			t.Errorf("%v %s: got %+v, want %+v", tc.r.Action, tc.r.Topic, got, tc.want)
		}
	}
	b.Authorize(subject, acl.Request{Action: acl.Retain, Topic: "public/r", QoS: 1})
	body, _ := f.last()
	want := map[string]any{"username": "alice", "identity": "alice@corp", "client_id": "c1", "action": "retain", "topic": "public/r", "qos": float64(1)}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", body, want)
	}
}

func TestAuthorizeFailsClosedLocally(t *testing.T) {
	b, f := newACLBackend(t, topicPolicy, Options{})
	for name, got := range map[string]acl.Result{
		"nil subject":    b.Authorize(nil, acl.Request{Action: acl.Publish, Topic: "public/a"}),
		"unknown action": b.Authorize(subject, acl.Request{Action: 99, Topic: "public/a"}),
	} {
		if got.Allowed || got.Rule == "" {
			t.Errorf("%s: got %+v, want deny with a rule", name, got)
		}
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("backend asked %d times", n)
	}
	noACL := newBackend(t, Options{AuthURL: f.srv.URL})
	if got := noACL.Authorize(subject, acl.Request{Action: acl.Publish, Topic: "public/a"}); got.Allowed || got.Rule != ruleNoACLURL {
		t.Errorf("without acl_url: got %+v", got)
	}
}

func TestAuthorizeTimeoutDenies(t *testing.T) {
	b, _ := newACLBackend(t, blockUntilCanceled(t), Options{Timeout: 50 * time.Millisecond})
	got := b.Authorize(subject, acl.Request{Action: acl.Publish, Topic: "public/a"})
	if got.Allowed || !strings.Contains(got.Rule, "did not answer in time") {
		t.Fatalf("got %+v, want deny on timeout", got)
	}
}

func TestAuthorizeFailureDenies(t *testing.T) {
	b, f := newACLBackend(t, raw(502, ""), Options{})
	for i := range 2 {
		got := b.Authorize(subject, acl.Request{Action: acl.Publish, Topic: "public/a"})
		if got.Allowed || !strings.Contains(got.Rule, "answered HTTP 502") {
			t.Fatalf("got %+v, want deny", got)
		}
		if n := f.hits.Load(); n != int64(i+1) {
			t.Fatalf("hits = %d: a failure was cached", n)
		}
	}
}

func TestAuthorizeCache(t *testing.T) {
	clk := newClock()
	b, f := newACLBackend(t, topicPolicy, Options{Now: clk.Now})
	ask := func(s *acl.Subject, r acl.Request, allowed bool, wantHits int64) {
		t.Helper()
		if got := b.Authorize(s, r); got.Allowed != allowed {
			t.Fatalf("%+v: got %+v", r, got)
		}
		if n := f.hits.Load(); n != wantHits {
			t.Fatalf("%+v: hits = %d, want %d", r, n, wantHits)
		}
	}
	pub := acl.Request{Action: acl.Publish, Topic: "public/a", QoS: 1, Payload: 10}
	ask(subject, pub, true, 1)
	pub.Payload = 2000
	ask(subject, pub, true, 1) // the payload size is not sent, so not keyed
	ask(subject, acl.Request{Action: acl.Publish, Topic: "public/a", QoS: 2}, true, 2)
	ask(subject, acl.Request{Action: acl.Receive, Topic: "public/a", QoS: 1}, true, 3)
	ask(subject, acl.Request{Action: acl.Publish, Topic: "public/b", QoS: 1}, true, 4)
	ask(&acl.Subject{ClientID: "c2", Username: "alice", Identity: subject.Identity}, pub, true, 5)
	ask(&acl.Subject{ClientID: "c1", Username: "alice"}, pub, true, 6)

	deny := acl.Request{Action: acl.Subscribe, Topic: "private/x"}
	ask(subject, deny, false, 7)
	clk.Advance(DefaultDenyTTL - time.Millisecond)
	ask(subject, deny, false, 7)
	clk.Advance(time.Millisecond)
	ask(subject, deny, false, 8)

	clk.Advance(DefaultCacheTTL - DefaultDenyTTL - time.Millisecond)
	ask(subject, pub, true, 8)
	clk.Advance(time.Millisecond)
	ask(subject, pub, true, 9)
}

func TestAuthorizeCachedDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	b, _ := newACLBackend(t, topicPolicy, Options{})
	r := acl.Request{Action: acl.Receive, Topic: "public/sensors/room-1/temperature", QoS: 1}
	b.Authorize(subject, r)
	if n := testing.AllocsPerRun(1000, func() { b.Authorize(subject, r) }); n != 0 {
		t.Errorf("a cache hit allocates %.1f times", n)
	}
}

func BenchmarkAuthorizeCached(b *testing.B) {
	f := newFakeBackend(b, topicPolicy)
	be, err := New(Options{AuthURL: f.srv.URL, ACLURL: f.srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	r := acl.Request{Action: acl.Receive, Topic: "public/sensors/room-1/temperature", QoS: 1}
	be.Authorize(subject, r)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			be.Authorize(subject, r)
		}
	})
}
