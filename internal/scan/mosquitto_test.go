package scan

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil"
	"github.com/moatmq/moat/internal/testutil/syncbuf"

	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/doctor"
)

// mosquittoBin is Debian's broker; the tests that need it skip without.
const mosquittoBin = "/usr/sbin/mosquitto"

// startMosquitto runs mosquitto with the configuration conf (a listener
// line on the returned port is prepended by the caller through %d) until
// the test ends, and waits until it accepts connections.
func startMosquitto(t *testing.T, conf string) string {
	t.Helper()
	requireMosquitto(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "mosquitto.conf")
	body := fmt.Sprintf("user root\npersistence false\nlog_dest stderr\nlistener %d 127.0.0.1\n", port) + conf
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, mosquittoBin, "-c", path)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", logs.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s:\n%s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireMosquitto skips the test without Debian's mosquitto, and fails
// it in CI (CI set), where scripts/deps installs it.
func requireMosquitto(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mosquitto not installed (%s); scripts/deps installs it in CI", mosquittoBin)
		}
		t.Skipf("mosquitto not installed (%s)", mosquittoBin)
	}
}

// syncBuffer is a buffer safe for concurrent writers.
type syncBuffer = syncbuf.Buffer

// mosquittoHash is a Mosquitto 2 password hash ($7$, PBKDF2-SHA512).
func mosquittoHash(t *testing.T, pw string) string {
	t.Helper()
	salt := make([]byte, 12)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha512.New, pw, salt, 101, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	return "$7$101$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(key)
}

// TestScanMosquittoInsecure: a Mosquitto that lets anyone in, with no
// TLS and retained data, is reported for each: the scanner works on
// brokers other than Moat.
func TestScanMosquittoInsecure(t *testing.T) {
	t.Parallel()
	addr := startMosquitto(t, "allow_anonymous true\nsys_interval 1\n")
	publishRetained(t, addr, "", "", "factory/line1/config", "do-not-print-this")
	waitRetained(t, addr, "$SYS/broker/version")
	res := run(t, Options{Publish: true, IdleWait: -1, Listen: 1500 * time.Millisecond}, addr)
	want(t, res.Findings, doctor.IDAnonymousExposed, doctor.IDACLAllowAll, doctor.IDScanRetained, doctor.IDPlainText,
		doctor.IDACLBroadGrant, doctor.IDScanVersion, doctor.IDMQTT31, doctor.IDScanPublish, doctor.IDScanRetainWrite,
		doctor.IDLimitPacketSize, doctor.IDScanInventory)
	if f, _ := find(res.Findings, doctor.IDScanRetained); !strings.Contains(f.Message, "factory/line1/config") {
		t.Errorf("retained exposure: %s", f)
	}
	for _, f := range res.Findings {
		if strings.Contains(f.Message, "do-not-print") {
			t.Errorf("payload in the report: %s", f)
		}
	}
}

// TestScanMosquittoSecure: with a password file, an ACL and TLS, the
// same holes are reported fixed; the intrusive probes find Mosquitto's
// lack of a brute-force defence and compare two accounts.
func TestScanMosquittoSecure(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	dir := t.TempDir()
	ca, err := certs.NewCA(filepath.Join(dir, "ca"), certs.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.IssueServer(certs.LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A second, plain listener on loopback only seeds retained data; the
	// scan targets the TLS one. $SYS is published every second.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedAddr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`allow_anonymous false
password_file %s
acl_file %s
sys_interval 1
cafile %s
certfile %s
keyfile %s
tls_version tlsv1.2
ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305
listener %d 127.0.0.1
`, write("passwd", "bob:"+mosquittoHash(t, "bob-pw")+"\ncarol:"+mosquittoHash(t, "carol-pw")+"\n"),
		write("acl", "user bob\ntopic readwrite devices/bob/#\nuser carol\ntopic readwrite devices/carol/#\n"),
		filepath.Join(dir, "ca", "ca.crt"), write("server.crt", string(crt)), write("server.key", string(key)),
		ln.Addr().(*net.TCPAddr).Port)
	addr := startMosquitto(t, conf)
	testutil.Eventually(t, 10*time.Second, "the seeding listener does not answer", func() bool {
		c, err := net.DialTimeout("tcp", seedAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// Another account's retained state: the scan must not read it.
	publishRetained(t, seedAddr, "carol", "carol-pw", "devices/carol/state", "do-not-print-this")
	if !hasRetainedAs(seedAddr, "carol", "carol-pw", "devices/carol/state") {
		t.Fatal("the seeded retained message is not there")
	}
	res := run(t, Options{CAFile: filepath.Join(dir, "ca", "ca.crt"), ServerName: "localhost", Username: "bob", Password: "bob-pw",
		Username2: "carol", Password2: "carol-pw", Intrusive: true, IdleWait: -1, Listen: 500 * time.Millisecond}, addr)
	if len(res.Failed) > 0 {
		t.Fatalf("failed: %v", res.Failed)
	}
	// The insecure configuration's findings (TestScanMosquittoInsecure)
	// are fixed: no anonymous or any-credentials access, nothing read
	// through "#" or "$SYS/#" (retained data and $SYS are there), no
	// write outside the account's subtree, TLS 1.2+ with a trusted
	// certificate.
	none(t, res.Findings, doctor.IDAnonymousExposed, doctor.IDAnyCredentials, doctor.IDACLAllowAll, doctor.IDScanRetained,
		doctor.IDPlainText, doctor.IDACLBroadGrant, doctor.IDScanVersion, doctor.IDACLDollarMatch, doctor.IDScanPublish,
		doctor.IDScanRetainWrite, doctor.IDScanSysWrite, doctor.IDCertUntrusted, doctor.IDTLSOldVersion, doctor.IDTLSWeakSuite,
		doctor.IDDefaultCreds, doctor.IDProxyTrustAll, doctor.IDACLSharedBypass, doctor.IDACLWillBypass)
	for _, f := range res.Findings {
		if strings.Contains(f.Message, "do-not-print") || strings.Contains(f.Message, "devices/carol") {
			t.Errorf("another account's data in the report: %s", f)
		}
	}
	// Mosquitto has no brute-force defence, and by default lets any
	// account use any client id: it takes over the connection and resumes
	// the persistent session of another account (its documentation points
	// to use_username_as_clientid). The intrusive probes must see both.
	want(t, res.Findings, doctor.IDBruteForceOff, doctor.IDScanTakeover, doctor.IDScanHijack, doctor.IDScanInventory)
	if !strings.Contains(strings.Join(res.Notes, "\n"), `granted "#" (SUBACK`) {
		t.Errorf("Mosquitto's grant of # that delivers nothing is not noted: %v", res.Notes)
	}
}
