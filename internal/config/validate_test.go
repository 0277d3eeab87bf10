package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validErrs runs Validate on Default() after mutate and returns the
// formatted errors.
func validErrs(t *testing.T, mutate func(c *Config)) []string {
	t.Helper()
	c := Default()
	mutate(c)
	err := c.Validate()
	if err == nil {
		return nil
	}
	var es *Errors
	if !errors.As(err, &es) {
		t.Fatalf("Validate returned %T", err)
	}
	return strings.Split(err.Error(), "\n")
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRules(t *testing.T) {
	intp := func(v int) *int { return &v }
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   string // empty: valid
	}{
		{"no listeners", func(c *Config) { c.Listeners = nil }, "listeners: at least one listener is required"},
		{"empty address", func(c *Config) { c.Listeners[0].Address = "" }, `listeners[0].address: must not be empty; want host:port, e.g. "127.0.0.1:1883"`},
		{"no port", func(c *Config) { c.Listeners[0].Address = "127.0.0.1" }, `listeners[0].address: invalid address "127.0.0.1": want host:port, e.g. "127.0.0.1:1883", "[::1]:1883" or ":1883"`},
		{"bare ipv6", func(c *Config) { c.Listeners[0].Address = "::1:1883" }, `listeners[0].address: invalid address "::1:1883": want host:port, e.g. "127.0.0.1:1883", "[::1]:1883" or ":1883"`},
		{"port range", func(c *Config) { c.Listeners[0].Address = "127.0.0.1:65536" }, `listeners[0].address: invalid port "65536" in "127.0.0.1:65536": want a number from 0 to 65535`},
		{"port name", func(c *Config) { c.Listeners[0].Address = "127.0.0.1:mqtt" }, `listeners[0].address: invalid port "mqtt" in "127.0.0.1:mqtt": want a number from 0 to 65535`},
		{"empty port", func(c *Config) { c.Listeners[0].Address = "127.0.0.1:" }, `listeners[0].address: invalid port "" in "127.0.0.1:": want a number from 0 to 65535`},
		{"bad host", func(c *Config) { c.Listeners[0].Address = "a b:1" }, `listeners[0].address: invalid host "a b" in "a b:1": want an IP address or a host name`},
		{"port 0", func(c *Config) { c.Listeners[0].Address = "127.0.0.1:0" }, ""},
		{"port max", func(c *Config) { c.Listeners[0].Address = "127.0.0.1:65535" }, ""},
		{"ipv6 loopback", func(c *Config) { c.Listeners[0].Address = "[::1]:1883" }, ""},
		{"transport", func(c *Config) { c.Listeners[0].Transport = "quic" }, `listeners[0].transport: unsupported transport "quic": want tcp, tls, ws or wss`},
		{"transport case", func(c *Config) { c.Listeners[0].Transport = "TCP" }, `listeners[0].transport: unsupported transport "TCP": want tcp, tls, ws or wss`},
		{"data dir", func(c *Config) { c.DataDir = "" }, "data_dir: must not be empty"},
		{"store mode", func(c *Config) { c.Store.Mode = "async" }, `store.mode: unknown mode "async": want strict, relaxed or memory`},
		{"store relaxed", func(c *Config) { c.Store.Mode = "relaxed" }, ""},
		{"store flush", func(c *Config) { c.Store.FlushInterval = Duration(time.Hour) }, "store.flush_interval: must be between 10ms and 1m, got 1h"},
		{"store key env", func(c *Config) { c.Store.KeyEnv = "1KEY" }, `store.key_env: "1KEY" is not an environment variable name`},
		{"empty name", func(c *Config) { c.Listeners[0].Name = "" }, "listeners[0].name: must not be empty"},
		{"duplicate name", func(c *Config) {
			c.Listeners = append(c.Listeners, Listener{Name: "default", Address: "127.0.0.1:1884", Transport: "tcp"})
		}, `listeners[1].name: duplicate listener name "default" (also listeners[0])`},
		{"packet size low", func(c *Config) { c.MQTT.MaxPacketSize = 63 }, "mqtt.max_packet_size: must be between 64 and 268435460 bytes (the largest MQTT packet), got 63B"},
		{"packet size min", func(c *Config) { c.MQTT.MaxPacketSize = 64 }, ""},
		{"packet size max", func(c *Config) { c.MQTT.MaxPacketSize = 268435460 }, ""},
		{"packet size high", func(c *Config) { c.MQTT.MaxPacketSize = 268435461 }, "mqtt.max_packet_size: must be between 64 and 268435460 bytes (the largest MQTT packet), got 268435461B"},
		{"receive maximum", func(c *Config) { c.MQTT.ReceiveMaximum = 0 }, "mqtt.receive_maximum: must be between 1 and 65535, got 0"},
		{"max inflight", func(c *Config) { c.MQTT.MaxInflight = 0 }, "mqtt.max_inflight: must be between 1 and 65535, got 0"},
		{"max qos 3", func(c *Config) { c.MQTT.MaxQoS = intp(3) }, "mqtt.max_qos: must be 0, 1 or 2, got 3"},
		{"max qos -1", func(c *Config) { c.MQTT.MaxQoS = intp(-1) }, "mqtt.max_qos: must be 0, 1 or 2, got -1"},
		{"max qos 0", func(c *Config) { c.MQTT.MaxQoS = intp(0) }, ""},
		{"max qos nil", func(c *Config) { c.MQTT.MaxQoS = nil }, ""},
		{"keep alive negative", func(c *Config) { c.MQTT.MaxKeepAlive = -1 }, "mqtt.max_keep_alive: must not be negative, got -1ns"},
		{"keep alive too long", func(c *Config) { c.MQTT.MaxKeepAlive = Duration(65536 * time.Second) }, "mqtt.max_keep_alive: must be at most 18h12m15s (the largest value MQTT can carry), got 18h12m16s"},
		{"keep alive fraction", func(c *Config) { c.MQTT.MaxKeepAlive = Duration(1500 * time.Millisecond) }, "mqtt.max_keep_alive: must be a whole number of seconds (MQTT counts it in seconds), got 1.5s"},
		{"keep alive max", func(c *Config) { c.MQTT.MaxKeepAlive = Duration(65535 * time.Second) }, ""},
		{"session expiry negative", func(c *Config) { c.MQTT.MaxSessionExpiry = Duration(-time.Hour) }, "mqtt.max_session_expiry: must not be negative, got -1h"},
		{"session expiry too long", func(c *Config) { c.MQTT.MaxSessionExpiry = Duration(4294967296 * time.Second) }, "mqtt.max_session_expiry: must be at most 1193046h28m15s (the largest value MQTT can carry), got 1193046h28m16s"},
		{"session expiry zero", func(c *Config) { c.MQTT.MaxSessionExpiry = 0 }, ""},
		{"connect timeout", func(c *Config) { c.MQTT.ConnectTimeout = 0 }, "mqtt.connect_timeout: must be positive, got 0s"},
		{"write timeout", func(c *Config) { c.MQTT.WriteTimeout = Duration(-time.Second) }, "mqtt.write_timeout: must be positive, got -1s"},
		{"client id 22", func(c *Config) { c.MQTT.MaxClientIDLength = 22 }, "mqtt.max_client_id_length: must be between 23 (the length every server must accept, MQTT-3.1.3-5) and 65535, got 22"},
		{"client id 23", func(c *Config) { c.MQTT.MaxClientIDLength = 23 }, ""},
		{"client id 65536", func(c *Config) { c.MQTT.MaxClientIDLength = 65536 }, "mqtt.max_client_id_length: must be between 23 (the length every server must accept, MQTT-3.1.3-5) and 65535, got 65536"},
		{"topic length 0", func(c *Config) { c.MQTT.MaxTopicLength = 0 }, "mqtt.max_topic_length: must be between 1 and 65535, got 0"},
		{"topic length 65536", func(c *Config) { c.MQTT.MaxTopicLength = 65536 }, "mqtt.max_topic_length: must be between 1 and 65535, got 65536"},
		{"topic levels", func(c *Config) { c.MQTT.MaxTopicLevels = 0 }, "mqtt.max_topic_levels: must be at least 1, got 0"},
		{"queued messages", func(c *Config) { c.MQTT.MaxQueuedMessages = 0 }, "mqtt.max_queued_messages: must be at least 1, got 0"},
		{"queued bytes", func(c *Config) { c.MQTT.MaxQueuedBytes = 1023 }, "mqtt.max_queued_bytes: must be at least 1KiB, got 1023B"},
		{"queued bytes min", func(c *Config) { c.MQTT.MaxQueuedBytes = 1024 }, ""},
		{"subscriptions", func(c *Config) { c.MQTT.MaxSubscriptionsPerClient = 0 }, "mqtt.max_subscriptions_per_client: must be at least 1, got 0"},
		{"retained negative", func(c *Config) { c.MQTT.MaxRetainedMessages = -1 }, "mqtt.max_retained_messages: must be at least 0, got -1"},
		{"retained zero", func(c *Config) { c.MQTT.MaxRetainedMessages = 0 }, ""},
		{"client ids", func(c *Config) { c.Auth.ClientIDs = []string{"%u", "%u-*", "fleet-*", "*"} }, ""},
		{"client id empty", func(c *Config) { c.Auth.ClientIDs = []string{""} }, "auth.client_ids[0]: must not be empty"},
		{"client id inner star", func(c *Config) { c.Auth.ClientIDs = []string{"%u", "a*b"} }, `auth.client_ids[1]: * may only end a pattern, got "a*b"`},
		{"client id substitution", func(c *Config) { c.Auth.ClientIDs = []string{"%c-*"} }, `auth.client_ids[0]: the only substitution is %u, got "%c-*"`},
		{"brute force window", func(c *Config) { c.Auth.BruteForce.Window = Duration(-time.Second) }, "auth.brute_force.window: must be positive, got -1s"},
		{"brute force ban after", func(c *Config) { c.Auth.BruteForce.BanAfter = 5 }, "auth.brute_force.ban_after: must be above free_failures (5) and at most 10000, got 5"},
		{"brute force ban after max", func(c *Config) { c.Auth.BruteForce.BanAfter = 10001 }, "auth.brute_force.ban_after: must be above free_failures (5) and at most 10000, got 10001"},
		{"brute force max ban", func(c *Config) { c.Auth.BruteForce.MaxBan = Duration(time.Minute) }, "auth.brute_force.max_ban: must not be shorter than ban_for (15m), got 1m"},
		{"brute force global", func(c *Config) { c.Auth.BruteForce.GlobalPerSecond = -1 }, "auth.brute_force.global_per_second: must be at least 1, got -1"},
		{"jwt leeway", func(c *Config) { c.Auth.JWT.Leeway = Duration(6 * time.Minute) }, "auth.jwt.leeway: must be between 0s and 5m, got 6m"},
		{"jwt key", func(c *Config) { c.Auth.JWT.Keys = []string{""} }, "auth.jwt.keys[0]: must not be empty"},
		{"jwt claim", func(c *Config) { c.Auth.JWT.UsernameClaim = "" }, "auth.jwt.username_claim: must not be empty"},
		{"log level", func(c *Config) { c.Log.Level = "INFO" }, `log.level: must be one of debug, info, warn, error; got "INFO"`},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, `log.format: must be text or json, got "logfmt"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := validErrs(t, tc.mutate)
			switch {
			case tc.want == "" && got != nil:
				t.Errorf("unexpected errors:\n%s", strings.Join(got, "\n"))
			case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	got := validErrs(t, func(c *Config) {
		c.Listeners = append(c.Listeners, Listener{Name: "x", Address: "nope", Transport: "quic"})
		c.MQTT.ReceiveMaximum = 0
		c.Log.Format = ""
	})
	want := []string{
		`listeners[1].transport: unsupported transport "quic": want tcp, tls, ws or wss`,
		`listeners[1].address: invalid address "nope": want host:port, e.g. "127.0.0.1:1883", "[::1]:1883" or ":1883"`,
		"mqtt.receive_maximum: must be between 1 and 65535, got 0",
		`log.format: must be text or json, got ""`,
	}
	if !slicesEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// plainTextRefused and anonymousRefused are the two messages of the
// insecure-listener rule, for the listener address addr on host where
// ("host 0.0.0.0" or "all interfaces").
func plainTextRefused(addr, where, transport string) string {
	return fmt.Sprintf("%q listens on %s, which is not a loopback address, with transport %s: plain-text MQTT "+
		"that anyone on the path can read and alter (passwords included); use tls or wss, or set "+
		"allow_insecure: true to accept the risk", addr, where, transport)
}

func anonymousRefused(addr, where string) string {
	return fmt.Sprintf("%q listens on %s, which is not a loopback address, and auth.allow_anonymous lets anyone "+
		"connect; this is refused unless allow_insecure: true is set", addr, where)
}

func noACLRefused(addr, where string) string {
	return fmt.Sprintf("%q listens on %s, which is not a loopback address, and no ACL decides (acl.file or "+
		"auth.http.acl_url): every authenticated client could read and write every topic; set acl.file "+
		"(see docs/authorization.md), or allow_insecure: true to accept the risk", addr, where)
}

// Which addresses are loopback; a tcp listener on any other is refused
// with the plain-text message unless allow_insecure is set.
func TestInsecureListenerRule(t *testing.T) {
	cases := []struct {
		addr  string
		where string // empty: loopback
	}{
		{"127.0.0.1:1883", ""},
		{"127.1.2.3:1883", ""},
		{"[::1]:1883", ""},
		{"localhost:1883", ""},
		{"LocalHost:0", ""},
		{"[::ffff:127.0.0.1]:1883", ""},
		{"0.0.0.0:1883", "host 0.0.0.0"},
		{":1883", "all interfaces"},
		{"[::]:1883", "host ::"},
		{"192.168.1.10:1883", "host 192.168.1.10"},
		{"[fe80::1%eth0]:1883", "host fe80::1%eth0"},
		{"broker.example.com:1883", "host broker.example.com"},
		{"localhost.example.com:1883", "host localhost.example.com"},
	}
	for _, tc := range cases {
		l := Listener{Name: "l", Address: tc.addr, Transport: "tcp"}
		if got := l.IsLoopback(); got != (tc.where == "") {
			t.Errorf("IsLoopback(%s) = %v, want %v", tc.addr, got, tc.where == "")
		}
		errs := validErrs(t, func(c *Config) { c.Listeners = []Listener{l} })
		if tc.where == "" {
			if errs != nil {
				t.Errorf("%s refused: %v", tc.addr, errs)
			}
			continue
		}
		want := "listeners[0].address: " + plainTextRefused(tc.addr, tc.where, "tcp")
		if !slicesEqual(errs, []string{want}) {
			t.Errorf("%s: got %q\nwant %q", tc.addr, errs, want)
		}
		if errs := validErrs(t, func(c *Config) { c.Listeners = []Listener{l}; c.AllowInsecure = true }); errs != nil {
			t.Errorf("%s with allow_insecure refused: %v", tc.addr, errs)
		}
	}
	if (Listener{Address: "garbage"}).IsLoopback() {
		t.Error("an unparsable address is loopback")
	}
}

func TestInsecureRuleFromFile(t *testing.T) {
	expectErrs(t, "listeners:\n  - address: 0.0.0.0:1883\n",
		"moat.yaml:2:14: listeners[0].address: "+plainTextRefused("0.0.0.0:1883", "host 0.0.0.0", "tcp"))
	expectErrs(t, "listeners:\n  - address: \":1883\"\n",
		"moat.yaml:2:14: listeners[0].address: "+plainTextRefused(":1883", "all interfaces", "tcp"))
	expectErrs(t, "auth:\n  allow_anonymous: true\nlisteners:\n  - address: 0.0.0.0:8883\n    transport: tls\n    tls: {cert: c.pem, key: k.pem}\n",
		"moat.yaml:4:14: listeners[0].address: "+anonymousRefused("0.0.0.0:8883", "host 0.0.0.0"))
	cfg := mustParse(t, "allow_insecure: true\nlisteners:\n  - address: 0.0.0.0:1883\n")
	if cfg.Listeners[0].IsLoopback() || !cfg.AllowInsecure {
		t.Errorf("got %+v", cfg)
	}
	for _, addr := range []string{"127.0.0.1:1883", "\"[::1]:1883\"", "localhost:1883"} {
		mustParse(t, "listeners:\n  - address: "+addr+"\n")
		mustParse(t, "auth: {allow_anonymous: true}\nlisteners:\n  - address: "+addr+"\n")
	}
	expectErrs(t, "listeners:\n  - address: 0.0.0.0:8883\n    transport: tls\n    tls: {cert: c.pem, key: k.pem}\n",
		"moat.yaml:2:14: listeners[0].address: "+noACLRefused("0.0.0.0:8883", "host 0.0.0.0"))
	cfg = mustParse(t, "acl: {file: acl.yaml}\nlisteners:\n  - address: 0.0.0.0:8883\n    transport: tls\n    tls: {cert: c.pem, key: k.pem}\n")
	if cfg.AllowInsecure || cfg.Auth.AllowAnonymous {
		t.Errorf("got %+v", cfg)
	}
}

func TestPasswordFilePath(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"default", "", filepath.Join("moat-data", "passwd")},
		{"empty", "auth:\n  password_file: \"\"\n", filepath.Join("moat-data", "passwd")},
		{"data dir", "data_dir: /var/lib/moat\n", filepath.Join("/var/lib/moat", "passwd")},
		{"explicit", "data_dir: /var/lib/moat\nauth:\n  password_file: /etc/moat/passwd\n", "/etc/moat/passwd"},
		{"relative", "data_dir: /var/lib/moat\nauth:\n  password_file: users/passwd\n", "users/passwd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.src).PasswordFilePath(); got != tc.want {
				t.Errorf("PasswordFilePath() = %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := Default().PasswordFilePath(), filepath.Join(DefaultDataDir, "passwd"); got != want {
		t.Errorf("Default().PasswordFilePath() = %q, want %q", got, want)
	}
	if a := Default().Auth; a.PasswordFile != "" || a.AllowAnonymous || !*a.BruteForce.Enabled || a.JWT.Enabled() {
		t.Errorf("Default().Auth = %+v, want no password file override, no anonymous access, "+
			"brute-force defence on, JWT off", a)
	}
}

// Connection limits: negative values and a rate without a burst are
// refused; 0 turns a bound off; firewall entries must be addresses or
// prefixes, and are normalised.
func TestLimitsAndFirewall(t *testing.T) {
	cfg := mustParse(t, "limits: {max_connections: 0, connection_rate: 50}\nlisteners:\n  - address: 127.0.0.1:1883\n    firewall: {allow: [10.0.0.0/8, \"::ffff:192.0.2.0/120\", 2001:db8::1]}\n")
	if *cfg.Limits.MaxConnections != 0 || cfg.Limits.ConnectionBurst != 100 || *cfg.Limits.MaxConnectionsPerAddress != DefaultMaxConnectionsPerAddress {
		t.Errorf("limits: %+v", cfg.Limits)
	}
	allow, deny, err := cfg.Listeners[0].Firewall.Prefixes()
	if err != nil || len(deny) != 0 || fmt.Sprint(allow) != "[10.0.0.0/8 192.0.2.0/24 2001:db8::1/128]" {
		t.Errorf("prefixes: %v %v %v", allow, deny, err)
	}
	expectErrs(t, "limits: {max_connections_per_address: -1, connection_rate_per_address: 5, connection_burst_per_address: 0}\nlisteners:\n  - address: 127.0.0.1:1883\n    firewall: {deny: [10.0.0.0/33]}\n",
		"moat.yaml:1:39: limits.max_connections_per_address: must be at least 0, got -1",
		"moat.yaml:1:105: limits.connection_burst_per_address: must be at least 1 while connection_rate_per_address is set",
		"moat.yaml:4:15: listeners[0].firewall: deny[0]: \"10.0.0.0/33\" is not an IP address or CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)")
}
