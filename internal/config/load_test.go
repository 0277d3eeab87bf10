package config

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// parseErrs parses src as moat.yaml and returns the error lines; it fails
// the test if the error is not an *Errors.
func parseErrs(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse([]byte(src), "moat.yaml")
	if err == nil {
		return nil
	}
	var es *Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	return strings.Split(err.Error(), "\n")
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "moat.yaml")
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return cfg
}

// expectErrs checks that parsing src fails with exactly the errors want,
// in order.
func expectErrs(t *testing.T, src string, want ...string) {
	t.Helper()
	got := parseErrs(t, src)
	if !slicesEqual(got, want) {
		t.Errorf("errors for\n%s\ngot:\n  %s\nwant:\n  %s", src, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEmptyFileIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n", "# nothing here\n", "---\n", "~\n", "---\n...\n"} {
		cfg := mustParse(t, src)
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", src, cfg)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	expectErrs(t, "bogus: 1\n",
		`moat.yaml:1:1: bogus: unknown key`)
	expectErrs(t, "mqtt:\n  max_qos: 1\n  max_packet_sise: 1MiB\n",
		`moat.yaml:3:3: mqtt.max_packet_sise: unknown key (did you mean "max_packet_size"?)`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1883\n    tsl: {}\n",
		`moat.yaml:3:5: listeners[0].tsl: unknown key (did you mean "tls"?)`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1883\n    transport: tls\n    tls:\n      cert: a\n      key: b\n      client_cas: c\n",
		`moat.yaml:7:7: listeners[0].tls.client_cas: unknown key (did you mean "client_ca"?)`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1883\n    transport: tls\n    tls:\n      cert: a\n      key: b\n      certificates:\n        - {cert: c, key: d, chain: e}\n",
		`moat.yaml:8:29: listeners[0].tls.certificates[0].chain: unknown key`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1883\n    transport: ws\n    websocket: {paht: /x}\n",
		`moat.yaml:4:17: listeners[0].websocket.paht: unknown key (did you mean "path"?)`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1883\n    proxy_protocol:\n      trust: [10.0.0.1]\n",
		`moat.yaml:4:7: listeners[0].proxy_protocol.trust: unknown key (did you mean "trusted"?)`)
	expectErrs(t, "auth:\n  password: x\n",
		`moat.yaml:2:3: auth.password: unknown key`)
	expectErrs(t, "auth:\n  allow_anonymus: true\n",
		`moat.yaml:2:3: auth.allow_anonymus: unknown key (did you mean "allow_anonymous"?)`)
	expectErrs(t, "dta_dir: x\n",
		`moat.yaml:1:1: dta_dir: unknown key (did you mean "data_dir"?)`)
	expectErrs(t, "log:\n  Level: info\n",
		`moat.yaml:2:3: log.Level: unknown key (did you mean "level"?)`)
}

func TestDuplicateKeys(t *testing.T) {
	expectErrs(t, "mqtt:\n  max_qos: 1\n  max_qos: 2\n",
		`moat.yaml:3:3: mqtt.max_qos: duplicate key (first set on line 2)`)
	expectErrs(t, "log: {}\nlog: {}\n",
		`moat.yaml:2:1: log: duplicate key (first set on line 1)`)
}

func TestWrongTypes(t *testing.T) {
	cases := []struct{ src, want string }{
		{"mqtt:\n  max_inflight: lots\n", `moat.yaml:2:17: mqtt.max_inflight: must be an integer, got "lots"`},
		{"mqtt:\n  max_inflight: \"10\"\n", `moat.yaml:2:17: mqtt.max_inflight: must be an integer, got "10"`},
		{"mqtt:\n  max_topic_levels: 1.5\n", `moat.yaml:2:21: mqtt.max_topic_levels: must be an integer, got 1.5`},
		{"mqtt:\n  receive_maximum: 70000\n", `moat.yaml:2:20: mqtt.receive_maximum: must be an integer between 0 and 65535, got 70000`},
		{"mqtt:\n  receive_maximum: -1\n", `moat.yaml:2:20: mqtt.receive_maximum: must be an integer between 0 and 65535, got -1`},
		{"mqtt:\n  retain_available: yes\n", `moat.yaml:2:21: mqtt.retain_available: must be true or false, got "yes"`},
		{"mqtt:\n  retain_available: 1\n", `moat.yaml:2:21: mqtt.retain_available: must be true or false, got 1`},
		{"mqtt:\n  max_qos: [1]\n", `moat.yaml:2:12: mqtt.max_qos: must be a single value, got a list`},
		{"mqtt:\n  connect_timeout: 10\n", `moat.yaml:2:20: mqtt.connect_timeout: invalid duration "10": want a number with a unit (h, m, s, ms, us, ns), e.g. "10s" or "1h30m"`},
		{"mqtt:\n  write_timeout: -5s\n", `moat.yaml:2:18: mqtt.write_timeout: must not be negative, got -5s`},
		{"mqtt:\n  max_packet_size: 1.5MiB\n", `moat.yaml:2:20: mqtt.max_packet_size: invalid size "1.5MiB": want a whole number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "512KiB"`},
		{"mqtt: 5\n", `moat.yaml:1:7: mqtt: must be a mapping of keys, got 5`},
		{"mqtt: [a]\n", `moat.yaml:1:7: mqtt: must be a mapping of keys, got a list`},
		{"listeners: 127.0.0.1:1883\n", `moat.yaml:1:12: listeners: must be a list, got "127.0.0.1:1883"`},
		{"listeners:\n  - 127.0.0.1:1883\n", `moat.yaml:2:5: listeners[0]: must be a mapping of keys, got "127.0.0.1:1883"`},
		{"allow_insecure: \"true\"\n", `moat.yaml:1:17: allow_insecure: must be true or false, got "true"`},
		{"data_dir: [a]\n", `moat.yaml:1:11: data_dir: must be a single value, got a list`},
		{"auth:\n  allow_anonymous: yes\n", `moat.yaml:2:20: auth.allow_anonymous: must be true or false, got "yes"`},
		{"auth:\n  allow_anonymous:\n", `moat.yaml:2:19: auth.allow_anonymous: missing value: write one, or remove the key to keep the default`},
		{"auth:\n  password_file: [a]\n", `moat.yaml:2:18: auth.password_file: must be a single value, got a list`},
		{"auth:\n  password_file:\n", `moat.yaml:2:17: auth.password_file: missing value: write one, or remove the key to keep the default`},
		{"auth: true\n", `moat.yaml:1:7: auth: must be a mapping of keys, got true`},
		{"listeners:\n  - address: 127.0.0.1:1\n    tls: true\n", `moat.yaml:3:10: listeners[0].tls: must be a mapping of keys, got true`},
		{"listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls: {cert: a, key: b, certificates: [a.pem]}\n",
			`moat.yaml:4:43: listeners[0].tls.certificates[0]: must be a mapping of keys, got "a.pem"`},
		{"listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls: {cert: a, key: b, crls: a.crl}\n",
			`moat.yaml:4:34: listeners[0].tls.crls: must be a list, got "a.crl"`},
		{"listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls: {cert: [a], key: b}\n",
			`moat.yaml:4:17: listeners[0].tls.cert: must be a single value, got a list`},
		{"listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls: {cert: a, key: b, require_username_match: yes}\n",
			`moat.yaml:4:52: listeners[0].tls.require_username_match: must be true or false, got "yes"`},
		{"listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls: {cert: a, key: b, handshake_timeout: 10}\n",
			`moat.yaml:4:47: listeners[0].tls.handshake_timeout: invalid duration "10": want a number with a unit (h, m, s, ms, us, ns), e.g. "10s" or "1h30m"`},
		{"listeners:\n  - address: 127.0.0.1:1\n    transport: ws\n    websocket: {allowed_origins: [[a]]}\n",
			`moat.yaml:4:35: listeners[0].websocket.allowed_origins[0]: must be a single value, got a list`},
		{"listeners:\n  - address: 127.0.0.1:1\n    proxy_protocol: {trusted: [10.0.0.1], timeout: -1s}\n",
			`moat.yaml:3:52: listeners[0].proxy_protocol.timeout: must not be negative, got -1s`},
		{"- a\n- b\n", `moat.yaml:1:1: the top level must be a mapping of keys, got a list`},
		{"just a string\n", `moat.yaml:1:1: the top level must be a mapping of keys, got "just a string"`},
		{"? [a, b]\n: 1\n", `moat.yaml:1:3: keys must be plain strings, got a list`},
	}
	for _, tc := range cases {
		expectErrs(t, tc.src, tc.want)
	}
}

func TestMissingValues(t *testing.T) {
	expectErrs(t, "mqtt:\n  max_qos:\n",
		`moat.yaml:2:11: mqtt.max_qos: missing value: write one, or remove the key to keep the default`)
	expectErrs(t, "log:\n  level: ~\n",
		`moat.yaml:2:10: log.level: missing value: write one, or remove the key to keep the default`)
	expectErrs(t, "listeners:\n",
		`moat.yaml:1:11: listeners: missing value: write a list, or remove the key to keep the default`)
	// A section with every key commented out is empty, not an error.
	cfg := mustParse(t, "mqtt:\n  # max_qos: 1\nlog:\n")
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("empty sections changed the config: %+v", cfg)
	}
}

func TestValuesMeaningUnsetAreRefused(t *testing.T) {
	expectErrs(t, "mqtt:\n  receive_maximum: 0\n",
		`moat.yaml:2:20: mqtt.receive_maximum: 0 is not accepted here: it would be replaced by the default, 1024; remove the key to use the default`)
	expectErrs(t, "mqtt:\n  max_session_expiry: 0s\n",
		`moat.yaml:2:23: mqtt.max_session_expiry: 0s is not accepted here: it would be replaced by the default, 24h; remove the key to use the default`)
	expectErrs(t, "log:\n  level: \"\"\n",
		`moat.yaml:2:10: log.level: "" is not accepted here: it would be replaced by the default, "info"; remove the key to use the default`)
	expectErrs(t, "listeners:\n  - name: \"\"\n    address: 127.0.0.1:1\n    transport: \"\"\n",
		`moat.yaml:2:11: listeners[0].name: "" is not accepted here: it would be replaced by the default, "tcp:127.0.0.1:1"; remove the key to use the default`,
		`moat.yaml:4:16: listeners[0].transport: "" is not accepted here: it would be replaced by the default, "tcp"; remove the key to use the default`)
	expectErrs(t, "data_dir: \"\"\n",
		`moat.yaml:1:11: data_dir: "" is not accepted here: it would be replaced by the default, "moat-data"; remove the key to use the default`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls:\n      cert: a\n      key: b\n      min_version: \"\"\n      handshake_timeout: 0s\n",
		`moat.yaml:7:20: listeners[0].tls.min_version: "" is not accepted here: it would be replaced by the default, "1.2"; remove the key to use the default`,
		`moat.yaml:8:26: listeners[0].tls.handshake_timeout: 0s is not accepted here: it would be replaced by the default, 10s; remove the key to use the default`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1\n    transport: wss\n    tls: {cert: a, key: b, client_auth: \"\", identity: \"\"}\n    websocket: {path: \"\"}\n",
		`moat.yaml:4:41: listeners[0].tls.client_auth: "" is not accepted here: it would be replaced by the default, "none"; remove the key to use the default`,
		`moat.yaml:4:55: listeners[0].tls.identity: "" is not accepted here: it would be replaced by the default, "cn"; remove the key to use the default`,
		`moat.yaml:5:23: listeners[0].websocket.path: "" is not accepted here: it would be replaced by the default, "/mqtt"; remove the key to use the default`)
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1\n    proxy_protocol:\n      trusted: [10.0.0.1]\n      timeout: 0s\n",
		`moat.yaml:5:16: listeners[0].proxy_protocol.timeout: 0s is not accepted here: it would be replaced by the default, 5s; remove the key to use the default`)
	// Zero is a real value where no default replaces it.
	cfg := mustParse(t, "mqtt:\n  topic_alias_maximum: 0\n  max_keep_alive: 0s\n  max_qos: 0\n  retain_available: false\n")
	if cfg.MQTT.TopicAliasMaximum != 0 || cfg.MQTT.MaxKeepAlive != 0 || *cfg.MQTT.MaxQoS != 0 || *cfg.MQTT.RetainAvailable {
		t.Errorf("zero values lost: %+v", cfg.MQTT)
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	expectErrs(t, "mqtt:\n  max_qos: 1\n    bad: 2\n",
		`moat.yaml:3: invalid YAML: mapping values are not allowed in this context`)
	expectErrs(t, "listeners: [\n",
		`moat.yaml:1: invalid YAML: did not find expected node content`)
}

func TestMultipleDocuments(t *testing.T) {
	expectErrs(t, "log:\n  level: info\n---\nlog:\n  level: debug\n",
		`moat.yaml:3:1: a second YAML document starts here; a configuration file holds exactly one`)
	expectErrs(t, "log: {}\n---\n",
		`moat.yaml:2:1: a second YAML document starts here; a configuration file holds exactly one`)
}

func TestListenersReplaceDefault(t *testing.T) {
	cfg := mustParse(t, "listeners:\n  - address: \"[::1]:1884\"\n  - name: local\n    address: localhost:0\n")
	want := []Listener{
		{Name: "tcp:[::1]:1884", Address: "[::1]:1884", Transport: "tcp"},
		{Name: "local", Address: "localhost:0", Transport: "tcp"},
	}
	if !reflect.DeepEqual(cfg.Listeners, want) {
		t.Errorf("listeners = %+v, want %+v", cfg.Listeners, want)
	}
	// Without a listeners key the default listener stays.
	cfg = mustParse(t, "log:\n  level: debug\n")
	if !reflect.DeepEqual(cfg.Listeners, Default().Listeners) || cfg.Log.Level != "debug" {
		t.Errorf("got %+v", cfg)
	}
	expectErrs(t, "listeners: []\n", `moat.yaml:1:12: listeners: at least one listener is required`)
}

func TestManyErrorsTogether(t *testing.T) {
	src := `listeners:
  - name: a
    address: 0.0.0.0:1883
  - name: a
    address: 127.0.0.1:99999
    transport: quic
mqtt:
  max_qos: 3
  max_inflight: lots
  max_packet_sise: 1MiB
log:
  level: verbose
`
	expectErrs(t, src,
		"moat.yaml:3:14: listeners[0].address: "+plainTextRefused("0.0.0.0:1883", "host 0.0.0.0", "tcp"),
		`moat.yaml:4:11: listeners[1].name: duplicate listener name "a" (also listeners[0])`,
		`moat.yaml:5:14: listeners[1].address: invalid port "99999" in "127.0.0.1:99999": want a number from 0 to 65535`,
		`moat.yaml:6:16: listeners[1].transport: unsupported transport "quic": want tcp, tls, ws or wss`,
		`moat.yaml:8:12: mqtt.max_qos: must be 0, 1 or 2, got 3`,
		`moat.yaml:9:17: mqtt.max_inflight: must be an integer, got "lots"`,
		`moat.yaml:10:3: mqtt.max_packet_sise: unknown key (did you mean "max_packet_size"?)`,
		`moat.yaml:12:10: log.level: must be one of debug, info, warn, error; got "verbose"`,
	)
}

func TestErrorsUnwrap(t *testing.T) {
	_, err := Parse([]byte("mqtt:\n  max_qos: 3\n"), "moat.yaml")
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(*FieldError) failed on %v", err)
	}
	want := FieldError{File: "moat.yaml", Line: 2, Column: 12, Path: "mqtt.max_qos", Msg: "must be 0, 1 or 2, got 3"}
	if *fe != want {
		t.Errorf("got %+v, want %+v", *fe, want)
	}
}

func TestValidationErrorLocatedAtEnclosingKey(t *testing.T) {
	// The name is derived from the address, so the duplicate is reported
	// at the listener entry.
	expectErrs(t, "listeners:\n  - address: 127.0.0.1:1\n  - address: 127.0.0.1:1\n",
		`moat.yaml:3:5: listeners[1].name: duplicate listener name "tcp:127.0.0.1:1" (also listeners[0])`)
	expectErrs(t, "listeners:\n  - name: x\n",
		`moat.yaml:2:5: listeners[0].address: must not be empty; want host:port, e.g. "127.0.0.1:1883"`)
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("mqtt:\n")
	for i := range 150 {
		b.WriteString("  bogus")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(": 1\n")
	}
	lines := parseErrs(t, b.String())
	if len(lines) != maxErrors+1 || !strings.Contains(lines[maxErrors], "too many errors") {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestAliasesAndMerges(t *testing.T) {
	src := `base: &base
  transport: tcp
listeners:
  - <<: *base
    name: one
    address: 127.0.0.1:1
  - <<: *base
    name: two
    address: 127.0.0.1:2
`
	// "base" is not a key of the schema.
	expectErrs(t, src, `moat.yaml:1:1: base: unknown key`)

	src = `listeners:
  - &l
    name: one
    address: 127.0.0.1:1
  - <<: *l
    name: two
mqtt:
  max_inflight: &n 10
  receive_maximum: *n
`
	cfg := mustParse(t, src)
	if cfg.Listeners[1].Address != "127.0.0.1:1" || cfg.Listeners[1].Name != "two" ||
		cfg.MQTT.ReceiveMaximum != 10 || cfg.MQTT.MaxInflight != 10 {
		t.Errorf("got %+v", cfg)
	}
	checkAgainstYAML(t, src)

	// Unknown keys inside a merged mapping are found too.
	expectErrs(t, "listeners:\n  - &l\n    name: one\n    address: 127.0.0.1:1\n  - <<: [*l, {adress: x}]\n    name: two\n",
		`moat.yaml:5:15: listeners[1].adress: unknown key (did you mean "address"?)`)
}

// checkAgainstYAML decodes src with the YAML library's strict decoder over
// the defaults and checks that Parse produced the same configuration: the
// walk must agree with the library on every file it accepts.
func checkAgainstYAML(t *testing.T, src string) {
	t.Helper()
	got := mustParse(t, src)
	want := Default()
	var probe struct {
		Listeners yaml.Node `yaml:"listeners"`
	}
	if err := yaml.Unmarshal([]byte(src), &probe); err != nil {
		t.Fatal(err)
	}
	if !probe.Listeners.IsZero() {
		want.Listeners = nil
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(want); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("yaml strict decode: %v", err)
	}
	want.ApplyDefaults()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse and yaml disagree on\n%s\nParse: %+v\nyaml:  %+v", src, got, want)
	}
}

func TestAgreesWithYAMLLibrary(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("testdata", "moat.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tlsExample, err := os.ReadFile(filepath.Join("testdata", "moat.tls-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		string(example), string(tlsExample),
		"",
		"mqtt:\n  max_packet_size: 512 KiB\n  max_qos: 1\n  max_keep_alive: 1m\n  allow_mqtt31: false\n",
		"listeners:\n  - {name: a, address: \"[::1]:0\"}\n  - {address: \":1883\"}\nallow_insecure: true\n",
		"log: {level: debug, format: json}\nmqtt: {receive_maximum: 0x10, max_queued_bytes: 1_000_000}\n",
		"auth: {password_file: passwd, allow_anonymous: true}\nallow_insecure: true\nlisteners: [{address: '0.0.0.0:8883', transport: tls, tls: {cert: c.pem, key: k.pem}}]\n",
		"data_dir: /var/lib/moat\nlisteners:\n  - {address: \"[::1]:8883\", transport: tls, tls: {cert: c.pem, key: k.pem, curves: [X25519]}}\n" +
			"  - {address: \"[::1]:8080\", transport: ws, websocket: {allowed_origins: [\"*\"]}, proxy_protocol: {trusted: [\"::1\"]}}\n",
	} {
		checkAgainstYAML(t, src)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(path, []byte("log:\n  format: json\n  levl: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || err.Error() != path+`:3:3: log.levl: unknown key (did you mean "level"?)` {
		t.Errorf("Load error = %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	cfg := mustParse(t, "listeners:\n  - address: localhost:0\nmqtt:\n  max_packet_size: 1000\n  topic_alias_maximum: 0\n  max_qos: 1\n")
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "marshal")
	if err != nil {
		t.Fatalf("Parse(Marshal()):\n%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip changed the config:\n%s", out)
	}
	for _, want := range []string{"max_packet_size: 1KB\n", "max_session_expiry: 24h\n", "name: tcp:localhost:0\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("Marshal output lacks %q:\n%s", want, out)
		}
	}
	// Marshal shows defaults for unset fields without changing c.
	var bare Config
	bare.Listeners = []Listener{{Address: "127.0.0.1:1"}}
	out, err = bare.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(out, "marshal"); err != nil {
		t.Errorf("Parse(Marshal(bare)):\n%v\n%s", err, out)
	}
	if bare.Listeners[0].Name != "" || bare.MQTT.MaxQoS != nil {
		t.Error("Marshal modified its receiver")
	}
}

func TestMarshalRoundTripTransports(t *testing.T) {
	src := `listeners:
  - address: 127.0.0.1:8883
    transport: tls
    tls:
      cert: c.pem
      key: k.pem
      certificates: [{cert: c2.pem, key: k2.pem}]
      cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]
      client_auth: optional
      client_ca: ca.pem
      crls: [a.crl]
  - address: 127.0.0.1:8884
    transport: wss
    tls: {cert: c.pem, key: k.pem, min_version: "1.3"}
    websocket: {path: /ws, allowed_origins: ["https://a.example"]}
  - address: 127.0.0.1:8080
    transport: ws
    proxy_protocol: {trusted: [127.0.0.1, "::1/128"]}
data_dir: /var/lib/moat
`
	cfg := mustParse(t, src)
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "marshal")
	if err != nil {
		t.Fatalf("Parse(Marshal()):\n%v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip changed the config:\n%s", out)
	}
	if cfg.Listeners[2].ProxyProtocol.Timeout != Duration(5*time.Second) || cfg.Listeners[1].TLS.HandshakeTimeout != Duration(10*time.Second) {
		t.Errorf("defaults not applied: %+v", cfg.Listeners)
	}
}

// An empty list is the same as leaving the key out, so that Marshal's
// output, which writes nil lists as [], reads back equal.
func TestEmptyListIsUnset(t *testing.T) {
	cfg := mustParse(t, "listeners:\n  - address: 127.0.0.1:1\n    transport: tls\n    tls: {cert: a, key: b, crls: [], curves: []}\n"+
		"    proxy_protocol: {trusted: []}\n")
	l := cfg.Listeners[0]
	if l.TLS.CRLs != nil || l.TLS.Curves != nil || l.ProxyProtocol.Trusted != nil || l.ProxyProtocol.Timeout != 0 {
		t.Errorf("got %+v", l)
	}
	// A tcp listener may carry empty sections: they set nothing.
	mustParse(t, "listeners:\n  - address: 127.0.0.1:1\n    tls: {}\n    websocket: {allowed_origins: []}\n")
}

func TestFieldErrorFormat(t *testing.T) {
	cases := []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "f", Line: 1, Column: 2, Path: "a.b", Msg: "m"}, "f:1:2: a.b: m"},
		{FieldError{File: "f", Line: 1, Path: "a", Msg: "m"}, "f:1: a: m"},
		{FieldError{File: "f", Msg: "m"}, "f: m"},
		{FieldError{Path: "a", Msg: "m"}, "a: m"},
		{FieldError{Msg: "m"}, "m"},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
}

// FuzzParse checks that no input panics, that every failure is an *Errors
// of located problems, and that every accepted config validates and
// survives Marshal and Parse again.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "moat.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	tlsExample, err := os.ReadFile(filepath.Join("testdata", "moat.tls-example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example), string(tlsExample), "",
		"listeners: [{address: '127.0.0.1:1', transport: wss, tls: {cert: a, key: b, client_auth: optional}, websocket: {path: /}}]\n",
		"listeners: [{address: '127.0.0.1:1', transport: ws, proxy_protocol: {trusted: ['10.0.0.0/8', '::1'], timeout: 1s}}]\n",
		"listeners: [{address: '127.0.0.1:1', tls: {cert: a}, websocket: {path: x}}]\n", "mqtt: {max_qos: 3}\n", "listeners: [{address: ':1'}]\nallow_insecure: true\n",
		"a: &a [*a]\n", "listeners:\n  - &l {address: 127.0.0.1:1}\n  - <<: *l\n", "x: 1\n---\ny: 2\n",
		"mqtt:\n  max_packet_size: 1 MiB\n  connect_timeout: 1h30m\n",
		"auth: {password_file: /etc/moat/passwd, allow_anonymous: true}\nlisteners: [{address: '0.0.0.0:1', transport: tls, tls: {cert: a, key: b}}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var es *Errors
			if !errors.As(err, &es) || len(es.List) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, fe := range es.List {
				if fe.File != "fuzz.yaml" || fe.Msg == "" {
					t.Fatalf("bad FieldError %+v", *fe)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out, "marshal")
		if err != nil || !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip: %v\n%s", err, out)
		}
	})
}
