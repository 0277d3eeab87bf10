package doctor

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/firstrun"
)

// now is the time every test judges certificates at.
var now = time.Now()

// safePolicy grants the administrator everything and devices their own
// subtree.
const safePolicy = `version: 1
rules:
  - name: admin
    allow: [all]
    who: [user:admin]
    topics: ["#"]
  - name: admin-sys
    allow: [subscribe, receive]
    who: [user:admin]
    topics: ["$SYS/#"]
  - name: own
    allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["devices/%u/#"]
`

// fixture is a data directory with a password file, a policy and TLS
// material, and a configuration that uses them on loopback listeners.
type fixture struct {
	t   *testing.T
	dir string
	ca  *certs.CA
	cfg *config.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	chmod(t, dir, 0o700) // as the first run makes it
	ca, err := certs.NewCA(filepath.Join(dir, "ca"), certs.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, dir: dir, ca: ca}
	crt, key := fx.issue("server", certs.LeafOptions{DNSNames: []string{"localhost"}})
	pw := password.NewFile()
	if err := pw.Set("admin", adminHash()); err != nil {
		t.Fatal(err)
	}
	fx.write("passwd", string(pw.Bytes()), 0o600)
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.ACL.File = fx.write("acl.yaml", safePolicy, 0o600)
	cfg.MQTT.AllowMQTT31 = ptr(false)
	cfg.Listeners = []config.Listener{
		{Name: "tls", Address: "127.0.0.1:8883", Transport: "tls", TLS: config.TLS{Cert: crt, Key: key, MinVersion: "1.3"}},
		{Name: "local", Address: "127.0.0.1:1883", Transport: "tcp"},
	}
	cfg.ApplyDefaults()
	fx.cfg = cfg
	return fx
}

func ptr[T any](v T) *T { return &v }

// adminHash is one argon2id hash at the default parameters, computed once:
// they cost 64 MiB each.
var adminHash = sync.OnceValue(func() string {
	enc, err := password.Hash([]byte("correct horse battery"), password.DefaultParams())
	if err != nil {
		panic(err)
	}
	return enc
})

// write creates name in the fixture's directory with mode and returns
// its path.
func (fx *fixture) write(name, content string, mode os.FileMode) string {
	fx.t.Helper()
	p := filepath.Join(fx.dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		fx.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		fx.t.Fatal(err)
	}
	return p
}

// issue writes a server certificate and its key (0600) from the
// fixture's CA.
func (fx *fixture) issue(name string, o certs.LeafOptions) (crt, key string) {
	fx.t.Helper()
	c, k, err := fx.ca.IssueServer(o)
	if err != nil {
		fx.t.Fatal(err)
	}
	return fx.write(name+".crt", string(c), 0o644), fx.write(name+".key", string(k), 0o600)
}

// check runs Check on the fixture's configuration after mutate.
func (fx *fixture) check(mutate func(*fixture, *config.Config), opts Options) []Finding {
	fx.t.Helper()
	if mutate != nil {
		mutate(fx, fx.cfg)
		fx.cfg.ApplyDefaults()
	}
	opts.Now = now
	return Check(fx.cfg, opts)
}

// has reports whether fs holds a finding of id whose path (or file) is at.
func has(fs []Finding, id, at string) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool {
		return f.ID == id && (at == "" || f.Path == at || f.File == at || strings.HasSuffix(f.File, at))
	})
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return b.String()
}

// TestBaselineIsClean: the fixture itself has nothing above low.
func TestBaselineIsClean(t *testing.T) {
	fx := newFixture(t)
	fs := fx.check(nil, Options{})
	if bad := AtLeast(fs, SeverityMedium); len(bad) > 0 {
		t.Fatalf("baseline has findings at medium or above:%s", dump(bad))
	}
}

// TestFirstRunHasNoHighFindings: the zero-configuration start, prepared
// for real, audits without a critical or high finding, with and without
// its files.
func TestFirstRunHasNoHighFindings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "moat-data")
	cfg, err := firstrun.Prepare(firstrun.Options{DataDir: dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		fs := Check(cfg, Options{SkipFiles: skip})
		if bad := AtLeast(fs, SeverityHigh); len(bad) > 0 {
			t.Errorf("first run (SkipFiles %v) has high or critical findings:%s", skip, dump(bad))
		}
		if !has(fs, IDTLS12Allowed, "listeners[0].tls.min_version") {
			t.Errorf("first run: want the info finding %s:%s", IDTLS12Allowed, dump(fs))
		}
	}
}

// TestCheckFindings: each fixture, the clean baseline with one kind of
// problem, yields exactly the expected findings (ID at key path, or at
// the file's base name for findings without a path).
func TestCheckFindings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*fixture, *config.Config)
		opts   Options
		want   [][2]string // ID, key path (or file base name)
		absent []string    // IDs that must not appear
		msgs   []string    // substrings some finding's message must hold
	}{
		{
			name: "anonymous plain text on all interfaces without ACL",
			mutate: func(_ *fixture, c *config.Config) {
				c.Listeners[1].Address = ":1883"
				c.Auth.AllowAnonymous = true
				c.ACL.File = ""
				c.AllowInsecure = true
			},
			want: [][2]string{
				{IDPlainText, "listeners[1].transport"},
				{IDAllInterfaces, "listeners[1].address"},
				{IDAnonymousExposed, "listeners[1].auth.methods"},
				{IDAnonymousLoopback, "auth.allow_anonymous"}, // the loopback TLS listener
				{IDNoACLExposed, "acl.file"},
			},
		},
		{
			name: "anonymous only on loopback, methods without anonymous elsewhere",
			mutate: func(_ *fixture, c *config.Config) {
				c.Auth.AllowAnonymous = true
				c.Listeners[0].Address = "0.0.0.0:8883"
				c.Listeners[0].Auth.Methods = []string{"password"}
			},
			want:   [][2]string{{IDAnonymousLoopback, "auth.allow_anonymous"}, {IDAllInterfaces, "listeners[0].address"}},
			absent: []string{IDAnonymousExposed},
		},
		{
			name: "signed topics: retain allowed, a bad rule, a missing registry, replay after restart",
			mutate: func(_ *fixture, c *config.Config) {
				c.SignedTopics = config.SignedTopics{Keys: "/nonexistent/keys.json", AllowReplayAfterRestart: true,
					Rules: []config.SignedRule{
						{Topics: []string{"plant/+/cmd"}, Retain: true},
						{Topics: []string{"locks/#"}, Replay: "sometimes"},
					}}
			},
			want: [][2]string{
				{IDSignedRetain, "signed_topics.rules[0].retain"},
				{IDSignedPolicy, "signed_topics.rules"},
				{IDSignedPolicy, "signed_topics.allow_replay_after_restart"},
				{IDSignedPolicy, "signed_topics.keys"},
				{IDFileMissing, "signed_topics.keys"},
			},
			msgs: []string{"delivered again to every later subscriber", "does not load"},
		},
		{
			name:   "no ACL on loopback",
			mutate: func(_ *fixture, c *config.Config) { c.ACL.File = "" },
			want:   [][2]string{{IDNoACLLoopback, "acl.file"}},
			absent: []string{IDNoACLExposed},
		},
		{
			name: "plain text behind a PROXY balancer",
			mutate: func(_ *fixture, c *config.Config) {
				c.Listeners[1].Address = "10.0.0.5:1883"
				c.Listeners[1].ProxyProtocol.Trusted = []string{"0.0.0.0/0", "198.18.0.0/15", "10.0.0.0/8"}
				c.Listeners[1].ProxyProtocol.Timeout = config.Duration(time.Minute)
			},
			want: [][2]string{
				{IDPlainText, "listeners[1].transport"},
				{IDProxyTrustAll, "listeners[1].proxy_protocol.trusted[0]"},
				{IDProxyTrustWide, "listeners[1].proxy_protocol.trusted[1]"},
				{IDLimitHandshake, "listeners[1].proxy_protocol.timeout"},
			},
		},
		{
			name: "weak TLS settings",
			mutate: func(fx *fixture, c *config.Config) {
				tl := &c.Listeners[0].TLS
				tl.MinVersion = "1.0"
				tl.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"}
				tl.ClientAuth = "optional"
				tl.ClientCA = filepath.Join(fx.dir, "ca", "ca.crt")
				tl.Groups = "ou"
				tl.HandshakeTimeout = config.Duration(time.Minute)
			},
			want: [][2]string{
				{IDTLSOldVersion, "listeners[0].tls.min_version"},
				{IDTLSWeakSuite, "listeners[0].tls.cipher_suites[1]"},
				{IDCertMapOptional, "listeners[0].tls.client_auth"},
				{IDNoCRL, "listeners[0].tls.crls"},
				{IDLimitHandshake, "listeners[0].tls.handshake_timeout"},
			},
		},
		{
			name: "private key readable, secrets readable, files writable",
			mutate: func(fx *fixture, c *config.Config) {
				chmod(fx.t, c.Listeners[0].TLS.Key, 0o644)
				chmod(fx.t, c.PasswordFilePath(), 0o640)
				chmod(fx.t, c.ACL.File, 0o666)
				chmod(fx.t, c.Listeners[0].TLS.Cert, 0o664)
			},
			opts: Options{},
			want: [][2]string{
				{IDKeyReadable, "listeners[0].tls.key"},
				{IDSecretReadable, "auth.password_file"},
				{IDFileReadable, "acl.file"},
				{IDFileWritable, "acl.file"},
				{IDFileWritable, "listeners[0].tls.cert"},
			},
		},
		{
			name: "configuration file and data directory open to others",
			mutate: func(fx *fixture, c *config.Config) {
				fx.write("moat.yaml", "{}\n", 0o644)
				chmod(fx.t, fx.dir, 0o777)
			},
			opts: Options{ConfigFile: "moat.yaml"}, // relative: resolved in TestCheckFindings
			want: [][2]string{
				{IDFileReadable, "moat.yaml"},
				{IDFileWritable, "data_dir"},
				{IDFileReadable, "data_dir"},
			},
		},
		{
			name: "missing files",
			mutate: func(fx *fixture, c *config.Config) {
				c.ACL.File = filepath.Join(fx.dir, "absent-acl.yaml")
				c.Listeners[0].TLS.Key = filepath.Join(fx.dir, "absent.key")
				c.Auth.PasswordFile = filepath.Join(fx.dir, "absent-passwd")
			},
			want: [][2]string{
				{IDFileMissing, "acl.file"},
				{IDFileMissing, "listeners[0].tls.key"},
				{IDFileMissing, "auth.password_file"},
			},
			absent: []string{IDACLInvalid, IDCertMismatch},
		},
		{
			name: "password file optional with anonymous access",
			mutate: func(fx *fixture, c *config.Config) {
				c.Auth.AllowAnonymous = true
				c.Auth.PasswordFile = filepath.Join(fx.dir, "absent-passwd")
			},
			want:   [][2]string{{IDAnonymousLoopback, "auth.allow_anonymous"}},
			absent: []string{IDFileMissing},
		},
		{
			name: "expired, expiring and mismatched certificates",
			mutate: func(fx *fixture, c *config.Config) {
				old, oldKey := fx.issue("old", certs.LeafOptions{DNSNames: []string{"localhost"},
					IssuedAt: now.Add(-400 * 24 * time.Hour), Validity: 24 * time.Hour})
				soon, _ := fx.issue("soon", certs.LeafOptions{DNSNames: []string{"localhost"}, Validity: 10 * 24 * time.Hour})
				c.Listeners[0].TLS.Cert, c.Listeners[0].TLS.Key = old, oldKey
				c.Listeners[0].TLS.Certificates = []config.CertKey{{Cert: soon, Key: oldKey}}
			},
			want: [][2]string{
				{IDCertExpired, "listeners[0].tls.cert"},
				{IDCertExpiring, "listeners[0].tls.certificates[0].cert"},
				{IDCertMismatch, "listeners[0].tls.certificates[0].key"},
			},
		},
		{
			name: "weak key",
			mutate: func(fx *fixture, c *config.Config) {
				crt, key := weakPair(fx)
				c.Listeners[0].TLS.Cert, c.Listeners[0].TLS.Key = crt, key
			},
			want: [][2]string{
				{IDCertWeakKey, "listeners[0].tls.cert"},
				{IDCertWeakKey, "listeners[0].tls.key"},
				{IDCertOther, "listeners[0].tls.cert"}, // self-signed leaf
			},
			absent: []string{IDCertMismatch},
		},
		{
			name: "legacy and weak password hashes",
			mutate: func(fx *fixture, c *config.Config) {
				lines := []string{
					"admin:" + adminHash(),
					"old6:" + mosquitto6("pw6"),
					"old7:" + mosquitto7("pw7", 101),
					"strong7:" + mosquitto7("pw7", minPBKDF2Iterations),
					"cheap:" + mustArgon(fx.t, password.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
					"bc4:" + mustBcrypt(fx.t, 4),
					"bc10:" + mustBcrypt(fx.t, 10),
				}
				fx.write("passwd", strings.Join(lines, "\n")+"\n", 0o600)
			},
			want: [][2]string{
				{IDPasswordWeak, "auth.password_file"},
				{IDPasswordLegacy, "auth.password_file"},
				{IDPasswordParams, "auth.password_file"},
			},
		},
		{
			name: "weak ACL policy",
			mutate: func(fx *fixture, c *config.Config) {
				fx.write("acl.yaml", safePolicy+`  - name: everyone-reads
    allow: [subscribe, receive]
    who: [all]
    topics: ["#"]
  - name: bob-everything
    allow: [subscribe, receive]
    who: [user:bob]
    topics: ["+/#"]
  - name: ops-sys
    allow: [subscribe]
    who: ["group:ops"]
    topics: ["$SYS/#"]
  - name: writers-dollar
    allow: [publish]
    who: ["group:writers"]
    topics: ["$internal/cmd"]
  - name: duplicate
    allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["devices/%u/#"]
`, 0o600)
			},
			want: [][2]string{
				{IDACLAllowAll, "acl.file"},
				{IDACLBroadGrant, "acl.file"},
				{IDACLDollarWrite, "acl.file"},
				{IDACLWarning, "acl.file"},
			},
		},
		{
			name: "non-admin grants on broad filters",
			mutate: func(fx *fixture, c *config.Config) {
				fx.write("acl.yaml", safePolicy+`  - name: bob-everything
    allow: [subscribe, receive]
    who: [user:bob]
    topics: ["+/#"]
  - name: ops-sys
    allow: [subscribe]
    who: ["group:ops"]
    topics: ["$SYS/#"]
  - name: everyone-sys
    allow: [subscribe]
    who: [authenticated]
    topics: ["$SYS/broker/#"]
  - name: carol-shared
    allow: [subscribe]
    who: [user:carol]
    topics: ["#"]
`, 0o600)
				fx.write("passwd", "carol:"+adminHash()+":ops\n", 0o600)
				c.ACL.RootWildcardIdentities = []string{"carol"}
			},
			want: [][2]string{{IDACLBroadGrant, "acl.file"}},
			msgs: []string{"user:bob, not an administrator, may subscribe to +/# (rules[3] bob-everything)",
				"group:ops, not an administrator, may subscribe to $SYS/# (rules[4] ops-sys)"},
			absent: []string{IDACLAllowAll},
		},
		{
			name: "invalid ACL policy",
			mutate: func(fx *fixture, c *config.Config) {
				fx.write("acl.yaml", "version: 1\nrules:\n  - allow: [fly]\n    who: [all]\n    topics: [x]\n", 0o600)
			},
			want: [][2]string{{IDACLInvalid, "acl.file"}},
		},
		{
			name: "ACL by webhook",
			mutate: func(_ *fixture, c *config.Config) {
				c.ACL.File = ""
				c.Auth.HTTP.AuthURL = "http://auth.example.com/login"
				c.Auth.HTTP.ACLURL = "http://auth.example.com/acl"
			},
			want: [][2]string{
				{IDACLWebhook, "auth.http.acl_url"},
				{IDHTTPAuthPlain, "auth.http.auth_url"},
			},
		},
		{
			name: "limits and defences off",
			mutate: func(_ *fixture, c *config.Config) {
				c.MQTT.MaxPacketSize = config.MaxPacketSizeLimit
				c.MQTT.MaxQueuedMessages = 1_000_000
				c.MQTT.MaxQueuedBytes = 1 << 30
				c.MQTT.ConnectTimeout = config.Duration(2 * time.Minute)
				c.MQTT.AllowMQTT31 = ptr(true)
				c.MQTT.AllowControlCharacters = true
				c.Limits.MaxConnections = ptr(0)
				c.Limits.MaxConnectionsPerAddress = ptr(0)
				c.Limits.ConnectionRatePerAddress = ptr(0.0)
				c.Limits.MemoryBudget = "off"
				c.Auth.BruteForce.Enabled = ptr(false)
				c.Audit.Disabled = true
				c.Store.Mode = "memory"
			},
			want: [][2]string{
				{IDLimitPacketSize, "mqtt.max_packet_size"},
				{IDLimitQueues, "mqtt.max_queued_messages"},
				{IDLimitQueues, "mqtt.max_queued_bytes"},
				{IDLimitConnect, "mqtt.connect_timeout"},
				{IDMQTT31, "mqtt.allow_mqtt31"},
				{IDControlChars, "mqtt.allow_control_characters"},
				{IDLimitConnections, "limits.max_connections"},
				{IDLimitPerAddress, "limits.max_connections_per_address"},
				{IDLimitConnRate, "limits.connection_rate_per_address"},
				{IDLimitMemory, "limits.memory_budget"},
				{IDBruteForceOff, "auth.brute_force.enabled"},
				{IDAuditOff, "audit.disabled"},
				{IDStoreNotDurable, "store.mode"},
			},
		},
		{
			name:   "lax brute-force defence",
			mutate: func(_ *fixture, c *config.Config) { c.Auth.BruteForce.BanAfter = 500 },
			want:   [][2]string{{IDBruteForceLax, "auth.brute_force.ban_after"}},
		},
		{
			name: "admin listener and WebSocket origins",
			mutate: func(fx *fixture, c *config.Config) {
				c.Admin.Listen = "0.0.0.0:9443"
				c.Admin.Cert, c.Admin.Key = c.Listeners[0].TLS.Cert, c.Listeners[0].TLS.Key
				c.Admin.PublicMetrics = true
				c.Listeners = append(c.Listeners, config.Listener{Name: "ws", Address: "127.0.0.1:8080", Transport: "ws",
					WebSocket: config.WebSocket{AllowedOrigins: []string{"https://app.example.com", "*"}}})
			},
			want: [][2]string{
				{IDAdminExposed, "admin.listen"},
				{IDPublicMetrics, "admin.public_metrics"},
				{IDWSAnyOrigin, "listeners[2].websocket.allowed_origins"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			if tc.opts.ConfigFile != "" {
				tc.opts.ConfigFile = filepath.Join(fx.dir, tc.opts.ConfigFile)
			}
			fs := fx.check(tc.mutate, tc.opts)
			got, wanted := map[string]bool{}, map[string]bool{}
			for _, f := range fs {
				at := f.Path
				if at == "" {
					at = filepath.Base(f.File)
				}
				got[f.ID+"@"+at] = true
			}
			for _, w := range tc.want {
				wanted[w[0]+"@"+w[1]] = true
			}
			if !maps.Equal(got, wanted) {
				t.Errorf("findings %v, want exactly %v:%s", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(wanted)), dump(fs))
			}
			for _, m := range tc.msgs {
				if !slices.ContainsFunc(fs, func(f Finding) bool { return strings.Contains(f.Message, m) }) {
					t.Errorf("want a finding saying %q; got:%s", m, dump(fs))
				}
			}
			for _, id := range tc.absent {
				if has(fs, id, "") {
					t.Errorf("want no %s; got:%s", id, dump(fs))
				}
			}
			for _, f := range fs {
				if f.Why == "" || f.Fix == "" || f.Message == "" {
					t.Errorf("finding without message, why or fix: %+v", f)
				}
			}
		})
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// weakPair writes a self-signed certificate with an RSA 1024 key.
func weakPair(fx *fixture) (crt, key string) {
	fx.t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		fx.t.Skipf("RSA 1024 keys unavailable: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "weak"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour), DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		fx.t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		fx.t.Fatal(err)
	}
	crt = fx.write("weak.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	key = fx.write("weak.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), 0o600)
	return crt, key
}

// mosquitto6 is a Mosquitto 1.x hash: $6$ base64(salt) $ base64(SHA-512(password || salt)).
func mosquitto6(pw string) string {
	salt := []byte("0123456789abcdef")
	d := sha512.New()
	d.Write([]byte(pw))
	d.Write(salt)
	return "$6$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(d.Sum(nil))
}

// mosquitto7 is a Mosquitto 2.x hash: $7$ iterations $ salt $ PBKDF2-SHA512.
func mosquitto7(pw string, iter int) string {
	salt := []byte("fedcba9876543210")
	key, err := pbkdf2.Key(sha512.New, pw, salt, iter, sha512.Size)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("$7$%d$%s$%s", iter, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key))
}

// mustArgon hashes with p, below the floor if asked (password.Hash
// refuses that).
func mustArgon(t *testing.T, p password.Params) string {
	t.Helper()
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte("pw"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func mustBcrypt(t *testing.T, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// TestAcknowledge: findings accepted by the acknowledge list or by
// allow_insecure are reported, marked, and do not block a start.
func TestAcknowledge(t *testing.T) {
	fx := newFixture(t)
	chmod(t, fx.cfg.Listeners[0].TLS.Key, 0o640)
	fx.cfg.Listeners[1].Address = "0.0.0.0:1883"
	fx.cfg.Auth.AllowAnonymous = true
	fs := fx.check(nil, Options{})
	blocking := Blocking(fs)
	for _, id := range []string{IDPlainText, IDAnonymousExposed, IDKeyReadable} {
		if !has(blocking, id, "") {
			t.Errorf("want %s blocking; got:%s", id, dump(blocking))
		}
	}
	err := CheckStart(fx.cfg, "", nil)
	var se *StartError
	if !errors.As(err, &se) || len(se.Findings) != len(blocking) {
		t.Fatalf("CheckStart = %v, want a StartError with %d findings", err, len(blocking))
	}
	if !strings.Contains(err.Error(), "acknowledge:") || !strings.Contains(err.Error(), IDKeyReadable) {
		t.Errorf("CheckStart error does not say how to acknowledge: %v", err)
	}

	// allow_insecure accepts what validation lets it accept, not a
	// readable key.
	fx.cfg.AllowInsecure = true
	err = CheckStart(fx.cfg, "", nil)
	if !errors.As(err, &se) || len(se.Findings) != 1 || se.Findings[0].ID != IDKeyReadable {
		t.Fatalf("with allow_insecure, CheckStart = %v, want only %s", err, IDKeyReadable)
	}
	key := fx.cfg.Listeners[0].TLS.Key
	if err := CheckStart(fx.cfg, "", []string{IDKeyReadable + "@" + key}); err != nil {
		t.Fatalf("acknowledged by ID@file: %v", err)
	}
	if err := CheckStart(fx.cfg, "", []string{IDKeyReadable + "@other.key"}); err == nil {
		t.Fatal("acknowledging another file accepted this one")
	}
	for _, bad := range []string{"MOAT-FILE-01", "moat-file-001", IDKeyReadable + "@"} {
		if err := CheckStart(fx.cfg, "", []string{bad}); err == nil || !strings.Contains(err.Error(), "acknowledge[0]") {
			t.Errorf("acknowledge %q: %v, want a refusal", bad, err)
		}
	}
	fs = fx.check(nil, Options{Acknowledge: []string{IDKeyReadable}})
	for _, f := range Critical(fs) {
		if !f.Acknowledged {
			t.Errorf("not acknowledged: %s", f)
		}
	}
	if f := fs[slices.IndexFunc(fs, func(f Finding) bool { return f.ID == IDPlainText })]; f.AckBy != "allow_insecure" {
		t.Errorf("%s acknowledged by %q, want allow_insecure", f.ID, f.AckBy)
	}
}

// TestCriticalOnly: the start-up checks find exactly the critical
// findings of the full audit.
func TestCriticalOnly(t *testing.T) {
	fx := newFixture(t)
	chmod(t, fx.cfg.Listeners[0].TLS.Key, 0o644)
	fx.cfg.Listeners[1].Address = "0.0.0.0:1883"
	fx.write("acl.yaml", "version: 1\nrules:\n  - allow: [subscribe, receive]\n    who: [authenticated]\n    topics: [\"#\"]\n", 0o600)
	full := fx.check(nil, Options{})
	crit := fx.check(nil, Options{CriticalOnly: true})
	if got, want := ids(crit), ids(Critical(full)); !slices.Equal(got, want) {
		t.Fatalf("CriticalOnly = %v, want %v", got, want)
	}
	if !has(crit, IDACLAllowAll, "acl.file") {
		t.Errorf("an ACL that lets everyone read # on an exposed broker is not critical:%s", dump(full))
	}
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+"@"+f.Path)
	}
	return out
}

// TestDeterministic: the same configuration yields the same findings in
// the same order.
func TestDeterministic(t *testing.T) {
	fx := newFixture(t)
	fx.cfg.Auth.AllowAnonymous = true
	fx.cfg.ACL.File = ""
	a := fx.check(nil, Options{})
	for range 5 {
		if b := fx.check(nil, Options{}); !slices.Equal(ids(a), ids(b)) {
			t.Fatalf("order changed: %v vs %v", ids(a), ids(b))
		}
	}
	for i := 1; i < len(a); i++ {
		if a[i-1].Severity < a[i].Severity {
			t.Fatalf("not sorted by severity:%s", dump(a))
		}
	}
}

// TestJSON: the JSON form of a report is stable.
func TestJSON(t *testing.T) {
	fs := []Finding{
		New(IDMQTT31, Finding{Path: "mqtt.allow_mqtt31", Message: "MQTT 3.1 (MQIsdp) clients are accepted"}),
		Complete(IDPlainText, SeverityCritical, Finding{Path: "listeners[0].transport", Message: "plain",
			Acknowledged: true, AckBy: "allow_insecure"}),
	}
	Sort(fs)
	r := &Report{Tool: "moat doctor", Subject: "moat.yaml", Findings: fs, Summary: Summarize(fs)}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	r31, _ := Lookup(IDMQTT31)
	rpt, _ := Lookup(IDPlainText)
	want := fmt.Sprintf(`{
  "tool": "moat doctor",
  "subject": "moat.yaml",
  "findings": [
    {
      "id": "MOAT-NET-001",
      "severity": "critical",
      "path": "listeners[0].transport",
      "message": "plain",
      "why": %q,
      "fix": %q,
      "acknowledged": true,
      "acknowledged_by": "allow_insecure"
    },
    {
      "id": "MOAT-MQTT-001",
      "severity": "low",
      "path": "mqtt.allow_mqtt31",
      "message": "MQTT 3.1 (MQIsdp) clients are accepted",
      "why": %q,
      "fix": %q
    }
  ],
  "summary": {
    "critical": 1,
    "high": 0,
    "medium": 0,
    "low": 1,
    "info": 0
  }
}
`, rpt.Why, rpt.Fix, r31.Why, r31.Fix)
	if got := buf.String(); got != want {
		t.Errorf("JSON:\n%s\nwant:\n%s", got, want)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Findings[0].Severity != SeverityCritical {
		t.Errorf("JSON does not read back: %v %+v", err, back)
	}
}

// TestSARIF: the SARIF log names each rule once and locates results.
func TestSARIF(t *testing.T) {
	fs := []Finding{
		New(IDKeyReadable, Finding{Path: "listeners[0].tls.key", File: "/etc/moat/server.key", Message: "mode 0644"}),
		New(IDMQTT31, Finding{Path: "mqtt.allow_mqtt31", Message: "3.1"}),
		New(IDMQTT31, Finding{Path: "mqtt.allow_mqtt31", Message: "again"}),
	}
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, &Report{Tool: "moat doctor", Findings: fs}, "moat.yaml"); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Locations []struct {
					Physical struct {
						Artifact struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if log.Version != "2.1.0" || len(run.Tool.Driver.Rules) != 2 || len(run.Results) != 3 {
		t.Fatalf("SARIF: %s", buf.String())
	}
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s points at rule %d", res.RuleID, res.RuleIndex)
		}
	}
	if run.Results[0].Level != "error" || run.Results[0].Locations[0].Physical.Artifact.URI != "file:///etc/moat/server.key" {
		t.Errorf("first result: %+v", run.Results[0])
	}
	if run.Results[1].Locations[0].Physical.Artifact.URI != "moat.yaml" || run.Results[1].Level != "note" {
		t.Errorf("second result: %+v", run.Results[1])
	}
}

// TestCatalogDocumented: every ID has a severity and texts, and a row in
// the tables of docs/doctor.md when moat doctor reports it, of
// docs/scanning.md when moat scan does (both for shared IDs); IDs follow
// MOAT-AREA-NNN. internal/scan checks that every ID its code names is a
// scan rule.
func TestCatalogDocumented(t *testing.T) {
	docs := map[Tool][]byte{}
	for tool, name := range map[Tool]string{Doctor: "doctor.md", Scan: "scanning.md"} {
		doc, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		docs[tool] = doc
	}
	for _, r := range Catalog {
		parts := strings.Split(r.ID, "-")
		if len(parts) != 3 || parts[0] != "MOAT" || len(parts[2]) != 3 {
			t.Errorf("malformed ID %q", r.ID)
		}
		if r.Title == "" || r.Why == "" || r.Fix == "" {
			t.Errorf("%s: empty title, why or fix", r.ID)
		}
		switch r.Tools {
		case Doctor, Scan, Both:
		default:
			t.Errorf("%s: unknown tools %q", r.ID, r.Tools)
		}
		for tool, name := range map[Tool]string{Doctor: "doctor.md", Scan: "scanning.md"} {
			if strings.Contains(string(r.Tools), string(tool)) && !bytes.Contains(docs[tool], []byte("| "+r.ID+" |")) {
				t.Errorf("%s (%s) is not in the tables of docs/%s", r.ID, r.Tools, name)
			}
		}
	}
}

func TestSanitize(t *testing.T) {
	if got := Sanitize("a\x1b[31mb\nc\u202e", 100); got != "a?[31mb?c?" {
		t.Errorf("Sanitize = %q", got)
	}
	if got := Sanitize("abcdef", 3); got != "abc..." {
		t.Errorf("Sanitize cut = %q", got)
	}
}

func TestParseSeverity(t *testing.T) {
	for i, n := range severityNames {
		s, err := ParseSeverity(strings.ToUpper(n))
		if err != nil || s != Severity(i) {
			t.Errorf("ParseSeverity(%q) = %v, %v", n, s, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity accepted an unknown name")
	}
}
