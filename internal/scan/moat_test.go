package scan

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/firstrun"
	"github.com/moatmq/moat/internal/testutil"
)

// TestScanMisconfiguredMoat: a Moat with anonymous plain text and no ACL
// (testutil's default) is reported for each hole, retained data included,
// without a payload in the report.
func TestScanMisconfiguredMoat(t *testing.T) {
	t.Parallel()
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.MQTT.ConnectTimeout = config.Duration(time.Second)
		c.MQTT.SysInterval = config.Duration(500 * time.Millisecond)
	})
	publishRetained(t, addr, "", "", "plant/boiler/state", "secret-payload-do-not-print")
	waitRetained(t, addr, "$SYS/broker/version")
	res := run(t, Options{Publish: true, IdleWait: 3 * time.Second, Listen: 500 * time.Millisecond}, addr)
	fs := res.Findings
	want(t, fs, doctor.IDPlainText, doctor.IDAnonymousExposed, doctor.IDACLAllowAll, doctor.IDScanRetained,
		doctor.IDACLBroadGrant, doctor.IDScanVersion, doctor.IDScanPublish, doctor.IDScanRetainWrite,
		doctor.IDMQTT31, doctor.IDScanInventory, doctor.IDScanCapabilities)
	none(t, fs, doctor.IDACLDollarMatch, doctor.IDScanSysWrite, doctor.IDLimitConnect, doctor.IDAnyCredentials,
		doctor.IDLimitPacketSize)
	for _, f := range fs {
		if strings.Contains(f.Message, "secret-payload") {
			t.Errorf("a payload leaked into the report: %s", f)
		}
		if f.Target != addr {
			t.Errorf("finding without its target: %s", f)
		}
	}
	if f, _ := find(fs, doctor.IDAnonymousExposed); f.Severity != doctor.SeverityHigh {
		t.Errorf("anonymous access on loopback: severity %s, want high", f.Severity)
	}
	if f, _ := find(fs, doctor.IDScanRetained); !strings.Contains(f.Message, "plant/boiler/state") {
		t.Errorf("retained exposure does not name the topic: %s", f)
	}
	if f, _ := find(fs, doctor.IDScanInventory); !strings.Contains(f.Message, "dropped after 1") {
		t.Errorf("inventory does not report the CONNECT deadline: %s", f)
	}
	if v, _ := find(fs, doctor.IDScanVersion); strings.Contains(v.Message, "moat") {
		t.Errorf("the version was printed without --show-payloads: %s", v)
	}
}

// TestScanAllowAllPolicy: an ACL policy that allows everything to
// everyone is the same hole as no ACL, and reported as such.
func TestScanAllowAllPolicy(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "acl.yaml")
	if err := os.WriteFile(policy, []byte("version: 1\nrules:\n  - allow: [all]\n    who: [all]\n    topics: [\"#\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := testutil.Start(t, func(c *config.Config) { c.ACL.File = policy })
	publishRetained(t, addr, "", "", "site/1/door", "open")
	res := run(t, Options{Publish: true, IdleWait: -1, Listen: 300 * time.Millisecond}, addr)
	want(t, res.Findings, doctor.IDAnonymousExposed, doctor.IDACLAllowAll, doctor.IDScanRetained, doctor.IDScanPublish,
		doctor.IDScanRetainWrite, doctor.IDPlainText)
	none(t, res.Findings, doctor.IDScanSysWrite) // the builtin $SYS rule holds whatever the policy says
}

// secureMoat starts Moat with the zero-configuration first run, exactly
// as `moat serve` without --config does (cmd/moat/serve.go serves what
// firstrun.Prepare returns, unchanged: TLS and a loopback plain listener,
// passwords, the deny-by-default ACL, MQTT 3.1 allowed), after adding two
// ordinary users to the generated password file as `moat passwd` would.
// It returns the TLS and plain addresses and the CA.
func secureMoat(t *testing.T) (tlsAddr, plainAddr, ca string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "moat-data")
	prepared, err := firstrun.Prepare(firstrun.Options{DataDir: dir, TLSAddress: "127.0.0.1:0", PlainAddress: "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := password.Load(prepared.PasswordFilePath())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "carol"} {
		enc, err := password.Hash([]byte(u+"-password"), password.Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32})
		if err != nil {
			t.Fatal(err)
		}
		if err := pw.Set(u, enc); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(prepared.PasswordFilePath(), pw.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	_, srv := testutil.Start(t, func(c *config.Config) { *c = *prepared })
	return srv.Addrs()[0].String(), srv.Addrs()[1].String(), filepath.Join(dir, "ca", "ca.crt")
}

// TestScanFirstRunMoat: the zero-configuration first run has no high or
// critical finding, over TLS and on the loopback plain listener: scanned
// as a stranger (no account, the idle probe waiting past the CONNECT
// deadline), then with an ordinary account and the write probes. What
// it reports matches what moat doctor reports for the first run:
// MOAT-MQTT-001 (MQTT 3.1 accepted, the default) and TLS 1.2 accepted.
func TestScanFirstRunMoat(t *testing.T) {
	t.Parallel()
	tlsAddr, plainAddr, ca := secureMoat(t)
	check := func(t *testing.T, res *Result, targets ...string) {
		t.Helper()
		if len(res.Failed) > 0 {
			t.Fatalf("failed targets: %v", res.Failed)
		}
		if bad := doctor.AtLeast(res.Findings, doctor.SeverityHigh); len(bad) > 0 {
			t.Errorf("the first run has high or critical findings:%s", dump(bad))
		}
		none(t, res.Findings, doctor.IDAnonymousExposed, doctor.IDAnyCredentials, doctor.IDACLAllowAll, doctor.IDACLBroadGrant,
			doctor.IDScanRetained, doctor.IDScanVersion, doctor.IDScanPublish, doctor.IDScanRetainWrite, doctor.IDScanSysWrite,
			doctor.IDCertUntrusted, doctor.IDLimitPacketSize, doctor.IDLimitConnect, doctor.IDTLSOldVersion, doctor.IDTLSWeakSuite)
		want(t, res.Findings, doctor.IDMQTT31)
		if slices.Contains(targets, tlsAddr) {
			want(t, res.Findings, doctor.IDTLS12Allowed, doctor.IDClientCertMode)
		}
		if slices.Contains(targets, plainAddr) {
			if f, _ := find(res.Findings, doctor.IDPlainText); f.Severity != doctor.SeverityLow || f.Target != plainAddr {
				t.Errorf("plain text on loopback: %s", f)
			}
		}
	}
	// A stranger, on each listener at once: the idle probe waits past the
	// CONNECT deadline (default 10s).
	for _, addr := range []string{tlsAddr, plainAddr} {
		t.Run("stranger "+addr, func(t *testing.T) {
			t.Parallel()
			res := run(t, Options{CAFile: ca, ServerName: "localhost", IdleWait: config.DefaultConnectTimeout + 2*time.Second,
				Listen: 300 * time.Millisecond}, addr)
			check(t, res, addr)
			notesHave(t, res, "no identity could connect")
			if f, _ := find(res.Findings, doctor.IDScanInventory); !strings.Contains(f.Message, "dropped after 10") {
				t.Errorf("the idle probe did not see the CONNECT deadline: %s", f)
			}
		})
	}
	t.Run("account", func(t *testing.T) {
		t.Parallel()
		targets := []string{tlsAddr, plainAddr}
		check(t, run(t, Options{CAFile: ca, ServerName: "localhost", Username: "bob", Password: "bob-password",
			Publish: true, IdleWait: -1, Listen: 300 * time.Millisecond}, targets...), targets...)
	})
}

// TestScanIntrusiveMoat: the opt-in probes find no hole in the first run
// with two accounts: no takeover or hijack across identities, brute-force
// defence seen, malformed input closes the connection, PROXY headers
// refused, no default credentials.
func TestScanIntrusiveMoat(t *testing.T) {
	t.Parallel()
	_, plainAddr, _ := secureMoat(t)
	res := run(t, Options{Username: "bob", Password: "bob-password", Username2: "carol", Password2: "carol-password",
		Intrusive: true, IdleWait: -1, Listen: 300 * time.Millisecond}, plainAddr)
	none(t, res.Findings, doctor.IDScanTakeover, doctor.IDScanHijack, doctor.IDScanMalformed, doctor.IDBruteForceOff,
		doctor.IDProxyTrustAll, doctor.IDDefaultCreds, doctor.IDACLSharedBypass, doctor.IDLimitOversize)
	// Moat refuses a will, and a shared subscription, where the identity
	// may not publish or read: the probes conclude without a helper.
	notesHave(t, res, "brute-force defence seen", "the broker authorizes wills at CONNECT",
		`(SUBACK not authorized): not bypassed`)
}
