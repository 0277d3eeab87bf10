package test

// The authentication webhook end to end: a real HTTP service decides
// logins and publishes; when it is down, logins fail closed.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// webhook allows user "hook" with password "hook-pw", and publishing to
// "hook/ok" only.
func webhook(t *testing.T, calls *atomic.Int64) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var q struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res := "deny"
		if q.Username != nil && *q.Username == "hook" && q.Password != nil && *q.Password == "hook-pw" {
			res = "allow"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"result": res, "groups": []string{"hooked"}})
	})
	mux.HandleFunc("POST /acl", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Action string `json:"action"`
			Topic  string `json:"topic"`
		}
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res := "deny"
		if q.Topic == "hook/ok" || q.Action == "subscribe" || q.Action == "receive" {
			res = "allow"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"result": res})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestAuth_HTTPWebhook(t *testing.T) {
	var calls atomic.Int64
	hook := webhook(t, &calls)
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.HTTP.AuthURL = hook.URL + "/auth"
		c.Auth.HTTP.ACLURL = hook.URL + "/acl"
	})
	connect := func(user, pw string) (*rawClient, byte) {
		c := dialRaw(t, addr, true)
		c.send(rawConnect{Version: 5, ClientID: "hook-" + pw, Clean: true, Username: &user, Password: []byte(pw)}.bytes())
		return c, parseConnack(t, c.expect(tCONNACK), true).Code
	}
	if _, code := connect("hook", "wrong"); code != 0x86 {
		t.Fatalf("denied by the service: CONNACK %#x, want 0x86", code)
	}
	c, code := connect("hook", "hook-pw")
	if code != 0 {
		t.Fatalf("allowed by the service: CONNACK %#x", code)
	}
	c.send(rawPublish{Topic: "hook/ok", QoS: 1, ID: 1, Payload: []byte("x")}.bytes(true))
	if _, rc := ackID(c.expect(tPUBACK)); rc >= 0x80 {
		t.Fatalf("allowed topic: PUBACK %#x", rc)
	}
	c.send(rawPublish{Topic: "hook/other", QoS: 1, ID: 2, Payload: []byte("x")}.bytes(true))
	if _, rc := ackID(c.expect(tPUBACK)); rc != 0x87 {
		t.Fatalf("denied topic: PUBACK %#x, want 0x87", rc)
	}
	// A reconnect with the same credentials is answered from the cache.
	before := calls.Load()
	if _, code := connect("hook", "hook-pw"); code != 0 || calls.Load() != before {
		t.Fatalf("cached login: CONNACK %#x, service asked %d more times", code, calls.Load()-before)
	}
	// The service goes down: new credentials fail closed.
	hook.Close()
	if _, code := connect("hook", "other-pw"); code != 0x87 {
		t.Fatalf("service down: CONNACK %#x, want 0x87", code)
	}
}
