package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

// fake answers with a fixed result or error and records that it was asked.
type fake struct {
	name  string
	res   auth.Result
	err   error
	calls *[]string
}

var _ auth.Authenticator = fake{}

func (f fake) Name() string { return f.name }

func (f fake) Authenticate(_ context.Context, _ *auth.Request) (auth.Result, error) {
	*f.calls = append(*f.calls, f.name)
	return f.res, f.err
}

var (
	alice = &auth.Identity{Name: "alice", Method: "password"}
	bob   = &auth.Identity{Name: "bob", Method: "token"}
)

// step describes one fake authenticator of a chain.
type step struct {
	name string
	res  auth.Result
	err  error
}

func abstain(name string) step { return step{name: name} }
func allow(name string, id *auth.Identity) step {
	return step{name: name, res: auth.Result{Decision: auth.Allow, Identity: id}}
}
func deny(name string, code packet.ReasonCode) step {
	return step{name: name, res: auth.Result{Decision: auth.Deny, Reason: code, Detail: name + " says no"}}
}

func TestChain(t *testing.T) {
	tests := []struct {
		name       string
		chain      []step
		method     string
		wantDec    auth.Decision
		wantReason packet.ReasonCode // checked on Deny
		wantID     *auth.Identity    // checked on Allow
		wantBy     string            // the deciding authenticator's name
		wantDetail string            // substring of Detail, when set
		wantCalls  []string
	}{
		{
			name:       "empty chain denies",
			wantDec:    auth.Deny,
			wantReason: packet.BadUserNameOrPassword,
			wantCalls:  []string{},
		},
		{
			name:       "empty chain with a method asked for",
			method:     "SCRAM-SHA-256",
			wantDec:    auth.Deny,
			wantReason: packet.BadAuthenticationMethod,
			wantDetail: "SCRAM-SHA-256",
			wantCalls:  []string{},
		},
		{
			name:       "all abstain denies",
			chain:      []step{abstain("a"), abstain("b")},
			wantDec:    auth.Deny,
			wantReason: packet.BadUserNameOrPassword,
			wantCalls:  []string{"a", "b"},
		},
		{
			name:       "all abstain with an enhanced method",
			chain:      []step{abstain("a"), abstain("b")},
			method:     "SCRAM-SHA-256",
			wantDec:    auth.Deny,
			wantReason: packet.BadAuthenticationMethod,
			wantDetail: "SCRAM-SHA-256",
			wantCalls:  []string{"a", "b"},
		},
		{
			name:       "an error denies and is reported",
			chain:      []step{abstain("a"), {name: "ldap", err: errors.New("directory unreachable")}, allow("c", alice)},
			wantDec:    auth.Deny,
			wantReason: packet.NotAuthorized,
			wantBy:     "ldap",
			wantDetail: "directory unreachable",
			wantCalls:  []string{"a", "ldap"},
		},
		{
			name: "an error denies even with an allow alongside",
			chain: []step{{name: "broken", err: errors.New("boom"),
				res: auth.Result{Decision: auth.Allow, Identity: alice}}},
			wantDec:    auth.Deny,
			wantReason: packet.NotAuthorized,
			wantBy:     "broken",
			wantDetail: "boom",
			wantCalls:  []string{"broken"},
		},
		{
			name:       "allow without identity denies",
			chain:      []step{{name: "sloppy", res: auth.Result{Decision: auth.Allow}}, allow("c", alice)},
			wantDec:    auth.Deny,
			wantReason: packet.NotAuthorized,
			wantBy:     "sloppy",
			wantCalls:  []string{"sloppy"},
		},
		{
			name:      "first allow decides",
			chain:     []step{abstain("a"), allow("b", alice), allow("c", bob)},
			wantDec:   auth.Allow,
			wantID:    alice,
			wantBy:    "b",
			wantCalls: []string{"a", "b"},
		},
		{
			name:       "deny before allow wins",
			chain:      []step{deny("a", packet.Banned), allow("b", alice)},
			wantDec:    auth.Deny,
			wantReason: packet.Banned,
			wantBy:     "a",
			wantDetail: "a says no",
			wantCalls:  []string{"a"},
		},
		{
			name:      "allow before deny wins",
			chain:     []step{abstain("x"), allow("a", bob), deny("b", packet.Banned)},
			wantDec:   auth.Allow,
			wantID:    bob,
			wantBy:    "a",
			wantCalls: []string{"x", "a"},
		},
		{
			name: "continue is handed back as is",
			chain: []step{abstain("a"), {name: "scram", res: auth.Result{Decision: auth.Continue,
				Data: []byte("server-first"), State: 1}}, allow("c", alice)},
			method:    "SCRAM-SHA-256",
			wantDec:   auth.Continue,
			wantBy:    "scram",
			wantCalls: []string{"a", "scram"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := []string{}
			var chain auth.Chain
			for _, s := range tc.chain {
				chain = append(chain, fake{name: s.name, res: s.res, err: s.err, calls: &calls})
			}
			req := &auth.Request{ClientID: "c1", Username: "alice", HasUsername: true, Method: tc.method}
			res, by := chain.Authenticate(context.Background(), req)
			if res.Decision != tc.wantDec {
				t.Fatalf("decision = %v, want %v (result %+v)", res.Decision, tc.wantDec, res)
			}
			if tc.wantDec == auth.Deny && res.Reason != tc.wantReason {
				t.Errorf("reason = %v, want %v", res.Reason, tc.wantReason)
			}
			if tc.wantDec != auth.Allow && res.Identity != nil {
				t.Errorf("a %v carries identity %+v", res.Decision, res.Identity)
			}
			if tc.wantDec == auth.Allow && res.Identity != tc.wantID {
				t.Errorf("identity = %+v, want %+v", res.Identity, tc.wantID)
			}
			if tc.wantDec == auth.Deny && res.Detail == "" {
				t.Error("deny without Detail")
			}
			if !strings.Contains(res.Detail, tc.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", res.Detail, tc.wantDetail)
			}
			if by != tc.wantBy {
				t.Errorf("decided by %q, want %q", by, tc.wantBy)
			}
			if !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("asked %v, want %v", calls, tc.wantCalls)
			}
		})
	}
}

func TestChainContinueKeepsData(t *testing.T) {
	calls := []string{}
	want := auth.Result{Decision: auth.Continue, Data: []byte("challenge"), State: "step-1"}
	chain := auth.Chain{fake{name: "scram", res: want, calls: &calls}}
	res, _ := chain.Authenticate(context.Background(), &auth.Request{Method: "SCRAM-SHA-256"})
	if string(res.Data) != "challenge" || res.State != "step-1" {
		t.Errorf("result = %+v, want data and state of %+v", res, want)
	}
}

func TestAnonymous(t *testing.T) {
	tests := []struct {
		name    string
		req     auth.Request
		wantDec auth.Decision
	}{
		{"no credentials", auth.Request{ClientID: "c"}, auth.Allow},
		{"user name and password", auth.Request{Username: "u", HasUsername: true, Password: []byte("p"), HasPassword: true}, auth.Allow},
		{"enhanced method", auth.Request{Method: "SCRAM-SHA-256"}, auth.Abstain},
		{"enhanced method with data", auth.Request{Method: "X", Data: []byte{1}, Step: 1}, auth.Abstain},
	}
	a := auth.Anonymous{}
	if a.Name() != "anonymous" {
		t.Errorf("Name = %q, want anonymous", a.Name())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := a.Authenticate(context.Background(), &tc.req)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if res.Decision != tc.wantDec {
				t.Fatalf("decision = %v, want %v", res.Decision, tc.wantDec)
			}
			switch tc.wantDec {
			case auth.Allow:
				id := res.Identity
				if id == nil || !id.Anonymous || id.Name != "anonymous" || id.Method != "anonymous" {
					t.Errorf("identity = %+v, want the anonymous identity", id)
				}
			case auth.Abstain:
				if res.Identity != nil {
					t.Errorf("abstain carries identity %+v", res.Identity)
				}
			}
		})
	}
}

func TestAnonymousInChain(t *testing.T) {
	chain := auth.Chain{auth.Anonymous{}}
	tests := []struct {
		name       string
		method     string
		wantDec    auth.Decision
		wantReason packet.ReasonCode
	}{
		{"plain connect allowed", "", auth.Allow, 0},
		{"unknown method refused", "SCRAM-SHA-1", auth.Deny, packet.BadAuthenticationMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := chain.Authenticate(context.Background(), &auth.Request{Method: tc.method})
			if res.Decision != tc.wantDec || (tc.wantDec == auth.Deny && res.Reason != tc.wantReason) {
				t.Errorf("result = %v %v, want %v %v", res.Decision, res.Reason, tc.wantDec, tc.wantReason)
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	tests := []struct {
		d    auth.Decision
		want string
	}{
		{auth.Abstain, "abstain"},
		{auth.Allow, "allow"},
		{auth.Deny, "deny"},
		{auth.Continue, "continue"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("Decision(%d).String() = %q, want %q", tc.d, got, tc.want)
		}
	}
	var zero auth.Decision
	if zero != auth.Abstain {
		t.Error("the zero Decision is not Abstain")
	}
}

// A listener's method list makes the chain skip the other authenticators.
func TestChainMethodsFilter(t *testing.T) {
	allowAs := func(name string) auth.Authenticator { return named{name} }
	c := auth.Chain{allowAs("password"), allowAs("certificate")}
	r := &auth.Request{Methods: []string{"certificate"}}
	res, by := c.Authenticate(context.Background(), r)
	if res.Decision != auth.Allow || by != "certificate" {
		t.Fatalf("got %v by %q, want allow by certificate", res.Decision, by)
	}
	r.Methods = []string{}
	if res, _ := c.Authenticate(context.Background(), r); res.Decision != auth.Deny {
		t.Fatalf("an empty method list must deny, got %v", res.Decision)
	}
}

// named allows with an identity named after itself.
type named struct{ name string }

func (n named) Name() string { return n.name }
func (n named) Authenticate(context.Context, *auth.Request) (auth.Result, error) {
	return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: n.name}}, nil
}
