package httpauth

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

func TestAuthenticateAllowSendsTheRequest(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	tok := writeFile(t, "token", "Bearer tok-123\n")
	b := newBackend(t, Options{AuthURL: f.srv.URL + "/auth",
		Headers: []Header{{Name: "Authorization", File: tok}, {Name: "X-Moat", Value: "1"}}})

	res := authenticate(t, b, userReq("alice", "pw"))
	if res.Decision != auth.Allow || res.Identity == nil {
		t.Fatalf("got %+v, want allow", res)
	}
	if id := res.Identity; id.Name != "alice" || id.Method != "http" || len(id.Groups) != 0 || id.Anonymous {
		t.Errorf("identity = %+v", id)
	}
	body, h := f.last()
	want := map[string]any{
		"listener": "tcp", "remote": "192.0.2.7:40000", "client_id": "c1", "username": "alice",
		"password": "pw", "cert_identity": nil, "protocol_version": float64(5),
	}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", body, want)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer tok-123", "X-Moat": "1"} {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestAuthenticateDeny(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "deny", "reason": "account\nlocked"}))
	b := newBackend(t, Options{AuthURL: f.srv.URL})
	res := authenticate(t, b, userReq("alice", "pw"))
	if res.Decision != auth.Deny || res.Reason != packet.BadUserNameOrPassword {
		t.Fatalf("got %+v, want deny 0x86", res)
	}
	if res.Detail != "http: denied by the backend: account?locked" {
		t.Errorf("detail = %q", res.Detail)
	}
}

func TestAuthenticateIdentityMapping(t *testing.T) {
	for _, tc := range []struct {
		name       string
		answer     map[string]any
		req        *auth.Request
		wantName   string
		wantGroups []string
	}{
		{"override and groups", map[string]any{"result": "allow", "identity": "alice@corp", "groups": []string{"ops", "dev"}},
			userReq("alice", "pw"), "alice@corp", []string{"ops", "dev"}},
		{"user name", map[string]any{"result": "allow"}, userReq("bob", "pw"), "bob", nil},
		{"certificate only", map[string]any{"result": "allow", "groups": []string{"devices"}},
			&auth.Request{ClientID: "c", CertIdentity: "dev-7.example"}, "dev-7.example", []string{"devices"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend(t, answer(tc.answer))
			b := newBackend(t, Options{AuthURL: f.srv.URL})
			res := authenticate(t, b, tc.req)
			if res.Decision != auth.Allow {
				t.Fatalf("got %+v, want allow", res)
			}
			if res.Identity.Name != tc.wantName || !slices.Equal(res.Identity.Groups, tc.wantGroups) {
				t.Errorf("identity = %+v, want %s %v", res.Identity, tc.wantName, tc.wantGroups)
			}
			// A cached answer gives an identity of its own.
			res.Identity.Groups = append(res.Identity.Groups[:0:0], "mutated")
			again := authenticate(t, b, tc.req)
			if f.hits.Load() != 1 || !slices.Equal(again.Identity.Groups, tc.wantGroups) {
				t.Errorf("second answer: hits %d, groups %v", f.hits.Load(), again.Identity.Groups)
			}
		})
	}
}

func TestAuthenticateAbstains(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	b := newBackend(t, Options{AuthURL: f.srv.URL})
	enhanced := userReq("alice", "pw")
	enhanced.Method = "SCRAM-SHA-256"
	for name, r := range map[string]*auth.Request{
		"enhanced auth":            enhanced,
		"no user name, no cert":    {ClientID: "c", Password: []byte("pw"), HasPassword: true},
		"nothing at all":           {ClientID: "c"},
		"empty cert, no user name": {ClientID: "c", CertIdentity: ""},
	} {
		if res := authenticate(t, b, r); res.Decision != auth.Abstain {
			t.Errorf("%s: got %v, want abstain", name, res.Decision)
		}
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("backend asked %d times", n)
	}
}

func TestAuthenticateFailuresDeny(t *testing.T) {
	big := `{"result":"allow","reason":"` + strings.Repeat("x", MaxResponseSize) + `"}`
	for _, tc := range []struct {
		name, detail string
		h            handler
	}{
		{"500", "answered HTTP 500", raw(500, `{"result":"allow"}`)},
		{"503", "answered HTTP 503", raw(503, "")},
		{"404", "answered HTTP 404", raw(404, "")},
		{"204", "answered HTTP 204", raw(204, "")},
		{"malformed JSON", "malformed answer", raw(200, `{"result":"allow"`)},
		{"trailing data", "malformed answer", raw(200, `{"result":"allow"} {}`)},
		{"not an object", "malformed answer", raw(200, `["allow"]`)},
		{"wrong type", "malformed answer", raw(200, `{"result":"allow","groups":"ops"}`)},
		{"empty body", "malformed answer", raw(200, "")},
		{"null", "neither", raw(200, "null")},
		{"unknown result", "neither", raw(200, `{"result":"ALLOW"}`)},
		{"no result", "neither", raw(200, `{"identity":"root"}`)},
		{"empty group", "empty group", raw(200, `{"result":"allow","groups":[""]}`)},
		{"oversized, with length", "more than 65536 bytes", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write([]byte(big))
		}},
		{"oversized, chunked", "more than 65536 bytes", func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
			for i := 0; i < len(big); i += 4096 {
				_, _ = w.Write([]byte(big[i:min(i+4096, len(big))]))
				w.(http.Flusher).Flush()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend(t, tc.h)
			b := newBackend(t, Options{AuthURL: f.srv.URL})
			for i := range 2 {
				res := authenticate(t, b, userReq("alice", "pw"))
				if res.Decision != auth.Deny || res.Reason != packet.NotAuthorized || !strings.Contains(res.Detail, tc.detail) {
					t.Fatalf("got %+v, want deny 0x87 with %q", res, tc.detail)
				}
				if got := f.hits.Load(); got != int64(i+1) {
					t.Fatalf("hits = %d after %d questions: a failure was cached", got, i+1)
				}
			}
		})
	}
}

func TestAuthenticateTimeoutDenies(t *testing.T) {
	f := newFakeBackend(t, blockUntilCanceled(t))
	b := newBackend(t, Options{AuthURL: f.srv.URL, Timeout: 50 * time.Millisecond})
	res := authenticate(t, b, userReq("alice", "pw"))
	if res.Decision != auth.Deny || res.Reason != packet.NotAuthorized || !strings.Contains(res.Detail, "did not answer in time") {
		t.Fatalf("got %+v, want deny on timeout", res)
	}
}

func TestAuthenticateHonoursContext(t *testing.T) {
	entered := make(chan struct{}, 1)
	block := blockUntilCanceled(t)
	f := newFakeBackend(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		entered <- struct{}{}
		block(w, r, body)
	})
	b := newBackend(t, Options{AuthURL: f.srv.URL, Timeout: MaxTimeout})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-entered
		cancel()
	}()
	res, err := b.Authenticate(ctx, userReq("alice", "pw"))
	if err != nil || res.Decision != auth.Deny || !strings.Contains(res.Detail, "canceled") {
		t.Fatalf("got %+v, %v; want deny on cancel", res, err)
	}
}

func TestAuthenticateBackendDown(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	url := f.srv.URL
	f.srv.Close()
	b := newBackend(t, Options{AuthURL: url + "/auth?token=q-secret"})
	res := authenticate(t, b, userReq("alice", "pw"))
	if res.Decision != auth.Deny || res.Reason != packet.NotAuthorized || !strings.Contains(res.Detail, "unreachable") {
		t.Fatalf("got %+v, want deny 0x87 unreachable", res)
	}
	if strings.Contains(res.Detail, "q-secret") {
		t.Errorf("detail quotes the URL query: %q", res.Detail)
	}
}

func TestAuthenticateRedirectNotFollowed(t *testing.T) {
	target := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	f := newFakeBackend(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		http.Redirect(w, r, target.srv.URL+"/ok", http.StatusTemporaryRedirect)
	})
	b := newBackend(t, Options{AuthURL: f.srv.URL})
	res := authenticate(t, b, userReq("alice", "pw"))
	if res.Decision != auth.Deny || !strings.Contains(res.Detail, "redirects are not followed") {
		t.Fatalf("got %+v, want deny on redirect", res)
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("redirect target asked %d times", n)
	}
}

func TestAuthenticateCache(t *testing.T) {
	f := newFakeBackend(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		result := "deny"
		if body["password"] == "right" {
			result = "allow"
		}
		answer(map[string]any{"result": result})(w, r, body)
	})
	clk := newClock()
	b := newBackend(t, Options{AuthURL: f.srv.URL, Now: clk.Now})
	ask := func(r *auth.Request, want auth.Decision, wantHits int64) {
		t.Helper()
		if res := authenticate(t, b, r); res.Decision != want {
			t.Fatalf("got %+v, want %v", res, want)
		}
		if n := f.hits.Load(); n != wantHits {
			t.Fatalf("hits = %d, want %d", n, wantHits)
		}
	}
	ask(userReq("alice", "right"), auth.Allow, 1)
	ask(userReq("alice", "right"), auth.Allow, 1) // hit
	otherPort := userReq("alice", "right")
	otherPort.Remote = netip.MustParseAddrPort("192.0.2.7:40001")
	ask(otherPort, auth.Allow, 1) // the port is not part of the key
	ask(userReq("alice", "wrong"), auth.Deny, 2)
	noPassword := userReq("alice", "")
	noPassword.HasPassword = false
	ask(noPassword, auth.Deny, 3) // absent is not empty
	for _, change := range []func(r *auth.Request){
		func(r *auth.Request) { r.ClientID = "c2" },
		func(r *auth.Request) { r.Listener = "tls" },
		func(r *auth.Request) { r.Remote = netip.MustParseAddrPort("192.0.2.8:40000") },
		func(r *auth.Request) { r.Version = packet.V311 },
		func(r *auth.Request) { r.CertIdentity = "x" },
	} {
		r := userReq("alice", "right")
		change(r)
		before := f.hits.Load()
		ask(r, auth.Allow, before+1)
	}
	clk.Advance(DefaultCacheTTL - time.Second)
	ask(userReq("alice", "right"), auth.Allow, 8)
	clk.Advance(time.Second)
	ask(userReq("alice", "right"), auth.Allow, 9) // expired
}

func TestAuthenticateDenyTTL(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "deny"}))
	clk := newClock()
	b := newBackend(t, Options{AuthURL: f.srv.URL, Now: clk.Now})
	for i, step := range []struct {
		advance  time.Duration
		wantHits int64
	}{{0, 1}, {DefaultDenyTTL - time.Millisecond, 1}, {time.Millisecond, 2}, {0, 2}} {
		clk.Advance(step.advance)
		res := authenticate(t, b, userReq("alice", "pw"))
		if res.Decision != auth.Deny || res.Reason != packet.BadUserNameOrPassword {
			t.Fatalf("step %d: got %+v", i, res)
		}
		if n := f.hits.Load(); n != step.wantHits {
			t.Fatalf("step %d: hits = %d, want %d", i, n, step.wantHits)
		}
	}
}

func TestAuthenticateCacheDisabled(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	b := newBackend(t, Options{AuthURL: f.srv.URL, CacheSize: -1})
	authenticate(t, b, userReq("alice", "pw"))
	authenticate(t, b, userReq("alice", "pw"))
	if n := f.hits.Load(); n != 2 {
		t.Errorf("hits = %d, want 2", n)
	}
}

func TestAuthenticateConcurrencyBoundFailsClosed(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	f := newFakeBackend(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if body["username"] == "slow" {
			entered <- struct{}{}
			<-release
		}
		answer(map[string]any{"result": "allow"})(w, r, body)
	})
	b := newBackend(t, Options{AuthURL: f.srv.URL, MaxConcurrent: 1})
	slow := make(chan auth.Result)
	go func() {
		res, _ := b.Authenticate(context.Background(), userReq("slow", "pw"))
		slow <- res
	}()
	<-entered
	res := authenticate(t, b, userReq("fast", "pw"))
	if res.Decision != auth.Deny || res.Reason != packet.NotAuthorized || !strings.Contains(res.Detail, "1 backend requests already in flight") {
		t.Errorf("over the bound: got %+v, want deny", res)
	}
	close(release)
	if res := <-slow; res.Decision != auth.Allow {
		t.Errorf("within the bound: got %+v, want allow", res)
	}
	if res := authenticate(t, b, userReq("fast", "pw")); res.Decision != auth.Allow {
		t.Errorf("after the slot was freed: got %+v, want allow", res)
	}
}

func TestAuthenticateBinaryPasswordDenied(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	b := newBackend(t, Options{AuthURL: f.srv.URL})
	res := authenticate(t, b, userReq("alice", "\xff\xfe"))
	if res.Decision != auth.Deny || !strings.Contains(res.Detail, "not valid UTF-8") || f.hits.Load() != 0 {
		t.Errorf("got %+v after %d requests, want local deny", res, f.hits.Load())
	}
}

// TestSecretsNeverLeak runs every outcome with logging at debug level and
// checks that the password and the bearer token reach the backend but no
// Detail and no log line.
func TestSecretsNeverLeak(t *testing.T) {
	const password, token = "pw-SECRET-7f3a", "tok-SECRET-91bc"
	block := blockUntilCanceled(t)
	f := newFakeBackend(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if body["password"] != password || r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("backend did not receive the secrets: %v", body)
		}
		switch mode := body["client_id"]; mode {
		case "allow":
			answer(map[string]any{"result": "allow"})(w, r, body)
		case "deny":
			answer(map[string]any{"result": "deny", "reason": "wrong password " + password})(w, r, body)
		case "500":
			raw(500, password)(w, r, body)
		case "malformed":
			raw(200, `{"result":"`+password)(w, r, body)
		case "timeout":
			block(w, r, body)
		}
	})
	var logs logBuffer
	clk := newClock()
	b := newBackend(t, Options{
		AuthURL: f.srv.URL, Timeout: 100 * time.Millisecond, CacheSize: -1, Now: clk.Now, Logger: logs.logger(),
		Headers: []Header{{Name: "Authorization", File: writeFile(t, "tok", "Bearer "+token)}},
	})
	var details []string
	for _, mode := range []string{"allow", "deny", "500", "malformed", "timeout"} {
		clk.Advance(time.Minute) // past the failure log's rate limit
		r := userReq("alice", password)
		r.ClientID = mode
		res := authenticate(t, b, r)
		details = append(details, res.Detail)
	}
	if n := f.hits.Load(); n != 5 {
		t.Fatalf("hits = %d, want 5", n)
	}
	if !strings.Contains(logs.String(), "http auth backend failed") {
		t.Errorf("failures were not logged:\n%s", logs.String())
	}
	for _, secret := range []string{password, token} {
		for _, d := range details {
			if strings.Contains(d, secret) {
				t.Errorf("detail %q contains a secret", d)
			}
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains a secret:\n%s", logs.String())
		}
	}
}

func TestFailureLogIsRateLimited(t *testing.T) {
	f := newFakeBackend(t, raw(500, ""))
	var logs logBuffer
	clk := newClock()
	b := newBackend(t, Options{AuthURL: f.srv.URL, Now: clk.Now, Logger: logs.logger()})
	for range 3 {
		authenticate(t, b, userReq("alice", "pw"))
	}
	clk.Advance(failLogEvery)
	authenticate(t, b, userReq("alice", "pw"))
	out := logs.String()
	if n := strings.Count(out, "http auth backend failed"); n != 2 {
		t.Errorf("%d lines logged, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "suppressed=2") {
		t.Errorf("suppressed count missing:\n%s", out)
	}
}

func TestAuthenticateAllowNeedsAnIdentity(t *testing.T) {
	f := newFakeBackend(t, answer(map[string]any{"result": "allow"}))
	b := newBackend(t, Options{AuthURL: f.srv.URL})
	res := authenticate(t, b, userReq("", "pw"))
	if res.Decision != auth.Deny || !strings.Contains(res.Detail, "without an identity") {
		t.Fatalf("got %+v, want deny", res)
	}
}
