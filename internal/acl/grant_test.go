package acl

import (
	"testing"

	"github.com/moatmq/moat/internal/auth"
)

func TestGrantedNarrows(t *testing.T) {
	g := Granted{Next: AllowAll{}}
	tok := &Subject{ClientID: "d1", Identity: &auth.Identity{Name: "d1", Method: "jwt",
		Topics: &auth.TopicGrant{Publish: []string{"devices/d1/#"}, Subscribe: []string{"cmd/d1/+"}}}}
	plain := &Subject{ClientID: "u", Identity: &auth.Identity{Name: "u", Method: "password"}}
	for _, tc := range []struct {
		s    *Subject
		r    Request
		want bool
	}{
		{tok, Request{Action: Publish, Topic: "devices/d1/temp"}, true},
		{tok, Request{Action: Retain, Topic: "devices/d1"}, true},
		{tok, Request{Action: Publish, Topic: "devices/d2/temp"}, false},
		{tok, Request{Action: Subscribe, Topic: "cmd/d1/reboot"}, true},
		{tok, Request{Action: Subscribe, Topic: "cmd/d1/+"}, true},
		{tok, Request{Action: Subscribe, Topic: "$share/g/cmd/d1/+"}, true},
		{tok, Request{Action: Subscribe, Topic: "cmd/d1/#"}, false},
		{tok, Request{Action: Subscribe, Topic: "#"}, false},
		{tok, Request{Action: Receive, Topic: "cmd/d1/x"}, true},
		{tok, Request{Action: Receive, Topic: "devices/d1/temp"}, false},
		// The policy still applies inside the grant.
		{&Subject{Identity: &auth.Identity{Name: "x", Topics: &auth.TopicGrant{Publish: []string{"#"}}}},
			Request{Action: Publish, Topic: "$SYS/x"}, false},
		{plain, Request{Action: Publish, Topic: "anything"}, true},
		{&Subject{Identity: &auth.Identity{Name: "empty", Topics: &auth.TopicGrant{}}},
			Request{Action: Subscribe, Topic: "a"}, false},
	} {
		if got := g.Authorize(tc.s, tc.r).Allowed; got != tc.want {
			t.Errorf("%s %v %q: allowed %v, want %v", tc.s.Identity.Name, tc.r.Action, tc.r.Topic, got, tc.want)
		}
	}
}
