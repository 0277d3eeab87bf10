package test

// SCRAM-SHA-256 and SCRAM-SHA-512 over MQTT 5 AUTH with the paho.golang
// client's auth handler: the password never crosses the wire, the client
// verifies the server's signature, and re-authentication works.

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/auth/scram"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// scramAuther drives one SCRAM exchange for paho.golang; a re-authentication
// needs a fresh one.
type scramAuther struct {
	mu    sync.Mutex
	c     *scram.Client
	err   error
	steps int
}

func (a *scramAuther) Authenticate(p *paho.Auth) *paho.Auth {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.steps++
	fin, err := a.c.Final(p.Properties.AuthData)
	if err != nil {
		a.err = err
		return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: a.c.Mechanism}}
	}
	return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: a.c.Mechanism, AuthData: fin}}
}

func (a *scramAuther) Authenticated() {}

// scramUsersFile writes a password file with SCRAM keys for user.
func scramUsersFile(t *testing.T, user, pw string) string {
	t.Helper()
	path := writeUsers(t, map[string]string{user: pw})
	f, err := password.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var creds []password.SCRAMCredential
	for _, mech := range password.SCRAMMechanisms() {
		c, err := password.NewSCRAMCredential(mech, []byte(pw), password.MinSCRAMIterations)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, c)
	}
	if err := f.SetSCRAM(user, creds...); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "passwd")
	if err := f.Save(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuth_SCRAM(t *testing.T) {
	pwFile := scramUsersFile(t, "sensor-7", "correct horse")
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = pwFile
	})
	for _, mech := range password.SCRAMMechanisms() {
		t.Run(mech, func(t *testing.T) {
			sc := &scram.Client{Mechanism: mech, User: "sensor-7", Password: "correct horse"}
			a := &scramAuther{c: sc}
			cp := cleanConnect("scram-" + mech)
			cp.Properties = &paho.ConnectProperties{AuthMethod: mech, AuthData: sc.First()}
			c, err := dial5(t, addr, cp, func(cc *paho.ClientConfig) { cc.AuthHandler = a })
			a.mu.Lock()
			if err != nil || a.err != nil || a.steps != 1 {
				t.Fatalf("SCRAM login: %v %v after %d AUTH rounds (want 1)", err, a.err, a.steps)
			}
			a.mu.Unlock()
			if err := sc.Verify(c.Connack.Properties.AuthData); err != nil {
				t.Fatalf("server signature: %v", err)
			}
			c.sub(t, "scram/"+mech, 1)
			c.pubs(t, "scram/"+mech, 1, "signed in")
			c.Inbox.waitPayload(t, "signed in")

			// Re-authentication (AUTH 0x19) with a fresh exchange.
			re := &scram.Client{Mechanism: mech, User: "sensor-7", Password: "correct horse"}
			a.mu.Lock()
			a.c = re
			a.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			resp, err := c.Authenticate(ctx, &paho.Auth{ReasonCode: 0x19,
				Properties: &paho.AuthProperties{AuthMethod: mech, AuthData: re.First()}})
			if err != nil || !resp.Success {
				t.Fatalf("re-authentication: %+v %v", resp, err)
			}
			// paho.golang v0.23 drops the Authentication Data of the final
			// AUTH 0x00, so the re-authentication's server signature is
			// checked by internal/auth/scram's tests instead.
			c.pubs(t, "scram/"+mech, 1, "still in")
			c.Inbox.waitPayload(t, "still in")
		})
	}
	// A wrong password fails at the proof: CONNACK 0x87.
	sc := &scram.Client{Mechanism: password.SCRAMSHA256, User: "sensor-7", Password: "wrong"}
	cp := cleanConnect("scram-wrong")
	cp.Properties = &paho.ConnectProperties{AuthMethod: sc.Mechanism, AuthData: sc.First()}
	c, err := dial5(t, addr, cp, func(cc *paho.ClientConfig) { cc.AuthHandler = &scramAuther{c: sc} })
	if err == nil || c == nil || c.Connack == nil || c.Connack.ReasonCode != 0x87 {
		t.Fatalf("wrong SCRAM password: %v, want CONNACK 0x87", err)
	}
	// An unsupported SCRAM method: 0x8C.
	cp = cleanConnect("scram-sha1")
	cp.Properties = &paho.ConnectProperties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("n,,n=sensor-7,r=abc")}
	c, err = dial5(t, addr, cp, func(cc *paho.ClientConfig) { cc.AuthHandler = &scramAuther{c: sc} })
	if err == nil || c == nil || c.Connack == nil || c.Connack.ReasonCode != 0x8C {
		t.Fatalf("SCRAM-SHA-1: %v, want CONNACK 0x8C", err)
	}
}
