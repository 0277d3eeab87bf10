package acl_test

import (
	"testing"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
)

func TestAllowAll(t *testing.T) {
	anon := &acl.Subject{ClientID: "c1", Identity: &auth.Identity{Name: "anonymous", Anonymous: true}}
	named := &acl.Subject{ClientID: "c2", Username: "admin", Identity: &auth.Identity{Name: "admin"}}
	tests := []struct {
		name   string
		action acl.Action
		topic  string
		want   bool
	}{
		// The broker's own topics are written only by the broker.
		{"publish $SYS", acl.Publish, "$SYS/broker/uptime", false},
		{"retain $SYS", acl.Retain, "$SYS/broker/uptime", false},
		{"publish $SYS deep", acl.Publish, "$SYS/a/b/c/d", false},
		{"publish $SYS level only", acl.Publish, "$SYS/", false},
		{"subscribe $SYS", acl.Subscribe, "$SYS/#", true},
		{"subscribe $SYS exact", acl.Subscribe, "$SYS/broker/uptime", true},
		{"receive $SYS", acl.Receive, "$SYS/broker/uptime", true},

		// Everything else is allowed.
		{"publish ordinary", acl.Publish, "sensors/1/temp", true},
		{"retain ordinary", acl.Retain, "sensors/1/temp", true},
		{"subscribe ordinary", acl.Subscribe, "sensors/+/temp", true},
		{"receive ordinary", acl.Receive, "sensors/1/temp", true},
		{"publish other $ topic", acl.Publish, "$other/x", true},
		{"publish SYS without $", acl.Publish, "SYS/x", true},
		{"publish $SYS lower case is another topic", acl.Publish, "$sys/x", true},
		{"publish $SYSTEM is another topic", acl.Publish, "$SYSTEM/x", true},
		{"publish topic containing $SYS/", acl.Publish, "a/$SYS/b", true},
	}
	subjects := []struct {
		name string
		s    *acl.Subject
	}{{"anonymous", anon}, {"named", named}, {"no subject", nil}}
	for _, subj := range subjects {
		for _, tc := range tests {
			t.Run(subj.name+"/"+tc.name, func(t *testing.T) {
				res := acl.AllowAll{}.Authorize(subj.s, acl.Request{Action: tc.action, Topic: tc.topic, QoS: 1})
				if res.Allowed != tc.want {
					t.Fatalf("%v %q: Allowed = %v, want %v (rule %q)", tc.action, tc.topic, res.Allowed, tc.want, res.Rule)
				}
				if res.Rule == "" {
					t.Error("result names no rule")
				}
				if tc.want && res.MaxQoS != 2 {
					t.Errorf("MaxQoS = %d, want 2", res.MaxQoS)
				}
				if !tc.want && res.MaxQoS != 0 {
					t.Errorf("denied with MaxQoS %d", res.MaxQoS)
				}
			})
		}
	}
}

func TestActionString(t *testing.T) {
	tests := []struct {
		a    acl.Action
		want string
	}{
		{acl.Publish, "publish"},
		{acl.Subscribe, "subscribe"},
		{acl.Receive, "receive"},
		{acl.Retain, "retain"},
		{0, "unknown"},
		{99, "unknown"},
	}
	for _, tc := range tests {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("Action(%d).String() = %q, want %q", tc.a, got, tc.want)
		}
	}
}
