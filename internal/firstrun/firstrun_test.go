package firstrun_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/firstrun"
)

func TestPrepareCreatesSecureDefaultsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "moat-data")
	var out bytes.Buffer
	cfg, err := firstrun.Prepare(firstrun.Options{DataDir: dir}, &out)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{
		"ca/ca.key": 0o600, "ca/ca.crt": 0o644, "server.key": 0o600, "server.crt": 0o644,
		"passwd": 0o600, "admin-password": 0o600, "acl.yaml": 0o600,
	}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
	}
	// The listeners: TLS everywhere, plain text on loopback only, no
	// anonymous access.
	if len(cfg.Listeners) != 2 || cfg.Listeners[0].Transport != "tls" || cfg.Listeners[0].Address != ":8883" ||
		cfg.Listeners[1].Transport != "tcp" || !cfg.Listeners[1].IsLoopback() || cfg.Auth.AllowAnonymous {
		t.Fatalf("unexpected configuration: %+v %+v", cfg.Listeners, cfg.Auth)
	}
	secret, _ := os.ReadFile(filepath.Join(dir, "admin-password"))
	pw := []byte(strings.TrimSpace(string(secret)))
	f, err := password.Load(filepath.Join(dir, "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	enc, ok := f.Lookup(firstrun.AdminUser)
	if !ok {
		t.Fatal("no admin user")
	}
	if ok, legacy, err := password.Verify(enc, pw); !ok || legacy || err != nil {
		t.Fatalf("admin password does not verify: ok=%v legacy=%v err=%v", ok, legacy, err)
	}
	if !strings.Contains(out.String(), "mosquitto_sub -h localhost -p 8883 --cafile "+filepath.Join(dir, "ca", "ca.crt")) {
		t.Fatalf("no connect command printed:\n%s", out.String())
	}
	if strings.Contains(out.String(), string(pw)) {
		t.Fatal("the password was printed")
	}
	checkFirstPolicy(t, cfg.ACL.File)
	// The server certificate is issued by the CA for localhost.
	ca, err := certs.LoadCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	crtPEM, _ := os.ReadFile(filepath.Join(dir, "server.crt"))
	crts, err := certs.ParseCertificatesPEM(crtPEM)
	if err != nil || len(crts) == 0 {
		t.Fatalf("server certificate: %v", err)
	}
	if err := crts[0].CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("server certificate not issued by the CA: %v", err)
	}
	if err := crts[0].VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}

	// A second start reuses everything.
	out.Reset()
	if _, err := firstrun.Prepare(firstrun.Options{DataDir: dir}, &out); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "admin-password"))
	if !bytes.Equal(again, secret) || strings.Contains(out.String(), "created") {
		t.Fatalf("second start changed the material:\n%s", out.String())
	}
}

func TestPrepareRefusesNonLoopbackPlainText(t *testing.T) {
	_, err := firstrun.Prepare(firstrun.Options{DataDir: t.TempDir(), PlainAddress: "0.0.0.0:1883"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "plain-text") {
		t.Fatalf("want the plain-text refusal, got %v", err)
	}
}

// checkFirstPolicy proves the first run's policy denies by default: the
// admin user may use every topic and read $SYS, any other identity gets
// nothing, and the policy has no critical lint finding.
func checkFirstPolicy(t *testing.T, path string) {
	t.Helper()
	p, err := acl.LoadPolicy(path)
	if err != nil {
		t.Fatalf("first policy %q: %v", path, err)
	}
	for _, f := range acl.Lint(p) {
		if f.Severity == "critical" {
			t.Errorf("first policy: %s", f)
		}
	}
	subject := func(name string) *acl.Subject {
		return &acl.Subject{ClientID: "c1", Username: name, Identity: &auth.Identity{Name: name, Method: "password"}}
	}
	cases := []struct {
		who    string
		action acl.Action
		topic  string
		want   bool
	}{
		{firstrun.AdminUser, acl.Publish, "sensors/temp", true},
		{firstrun.AdminUser, acl.Retain, "config/site", true},
		{firstrun.AdminUser, acl.Subscribe, "#", true},
		{firstrun.AdminUser, acl.Receive, "$SYS/broker/uptime", true},
		{firstrun.AdminUser, acl.Publish, "$SYS/broker/uptime", false},
		{"alice", acl.Publish, "sensors/temp", false},
		{"alice", acl.Subscribe, "#", false},
		{"alice", acl.Receive, "sensors/temp", false},
	}
	for _, c := range cases {
		got := p.Authorize(subject(c.who), acl.Request{Action: c.action, Topic: c.topic, QoS: 1})
		if got.Allowed != c.want {
			t.Errorf("%s %s %s: allowed=%v (rule %q), want %v", c.who, c.action, c.topic, got.Allowed, got.Rule, c.want)
		}
	}
}
