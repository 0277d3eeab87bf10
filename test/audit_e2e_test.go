package test

// The audit log end to end: a broker with authentication and an ACL
// records refused logins and denied publishes in its hash-chained file,
// which `auditlog.Verify` (the code behind `moat audit verify`) accepts;
// no password reaches the audit file or the log.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/audit/auditlog"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

func TestAudit_RecordsRefusalsWithoutSecrets(t *testing.T) {
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["own/%u/#"]
`
	policyFile := filepath.Join(t.TempDir(), "acl.yaml")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := testutil.Secret("wrong-Password-7731")
	pw := writeUsers(t, map[string]string{"alice": aclPassword("alice")})
	var logs logBuffer
	var auditFile string
	addr, srv := testutil.StartLogged(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = pw
		c.ACL.File = policyFile
		auditFile = c.AuditFile()
	}, &logs)

	bad := dialRaw(t, addr, true)
	user := "alice"
	bad.send(rawConnect{Version: 5, ClientID: "intruder", Clean: true, Username: &user, Password: []byte(wrong)}.bytes())
	if ca := parseConnack(t, bad.expect(tCONNACK), true); ca.Code != 0x86 {
		t.Fatalf("wrong password: CONNACK %#x", ca.Code)
	}
	c := dialRaw(t, addr, true)
	c.connect(aclRawConnect(true, "alice-1", "alice"))
	if code := c.aclPublish(1, "own/bob/x", 1, false, "x"); code != 0x87 {
		t.Fatalf("publish to another user's topic: %#x, want 0x87", code)
	}

	flusher, ok := srv.Audit().(interface{ Flush() error })
	if !ok {
		t.Fatalf("the server's audit sink %T is not the audit log", srv.Audit())
	}
	if err := flusher.Flush(); err != nil {
		t.Fatal(err)
	}
	rep, err := auditlog.Verify(auditFile)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{`"kind":"audit.opened"`, `"kind":"auth.failure"`, `"client_id":"intruder"`,
		`"kind":"acl.denied"`, `own/bob/x`} {
		if !strings.Contains(text, want) {
			t.Errorf("audit file lacks %s:\n%s", want, text)
		}
	}
	for _, secret := range []string{wrong, aclPassword("alice")} {
		if strings.Contains(text, secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("a password reached the audit file or the log")
		}
	}
	if rep.Records < 3 {
		t.Errorf("verified %d records", rep.Records)
	}
	if fi, err := os.Stat(auditFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode: %v %v", fi, err)
	}
}
