package loadgen_test

// The smoke test runs every scenario at a tiny scale against a real Moat
// broker started in the test process, with security on (password file,
// ACL policy, TLS), and checks that the generator counts exactly. It never
// asserts a speed. The broker is started through internal/testutil, which
// the generator itself must not import (TestNoBrokerImport).

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/loadgen"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil"
)

const benchPassword = "smoke-test-password"

// smokeBroker is a broker with password authentication, an ACL that lets
// group bench use bench/#, a TCP and a TLS listener.
type smokeBroker struct {
	addr, tlsAddr, caFile string
}

func startSmokeBroker(t *testing.T) smokeBroker {
	t.Helper()
	dir := t.TempDir()
	// The cheapest argon2id the password file accepts: every user's first
	// login verifies it.
	hash, err := password.Hash([]byte(benchPassword),
		password.Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	pf := password.NewFile()
	for _, u := range []string{"bench0", "bench1", "cold0", "cold1", "outsider"} {
		if err := pf.Set(u, hash); err != nil {
			t.Fatal(err)
		}
		if u != "outsider" {
			if err := pf.SetGroups(u, []string{"bench"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	passwd := filepath.Join(dir, "passwd")
	if err := pf.Save(passwd); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "acl.yaml")
	writeFile(t, policy, `version: 1
rules:
  - name: bench
    allow: [publish, subscribe, receive]
    who: ["group:bench"]
    topics: ["bench/#"]
`)
	ca, err := certs.NewCA(filepath.Join(dir, "ca"), certs.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer(certs.LeafOptions{DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := certs.WritePair(crt, certPEM, key, keyPEM, false); err != nil {
		t.Fatal(err)
	}
	_, srv := testutil.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = passwd
		c.ACL.File = policy
		c.Listeners = []config.Listener{
			{Name: "tcp", Address: "127.0.0.1:0", Transport: "tcp"},
			{Name: "tls", Address: "127.0.0.1:0", Transport: "tls", TLS: config.TLS{Cert: crt, Key: key}},
		}
	})
	return smokeBroker{addr: srv.Addrs()[0].String(), tlsAddr: srv.Addrs()[1].String(),
		caFile: filepath.Join(dir, "ca", certs.CACertFile)}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs cfg against the broker with the bench credentials.
func (b smokeBroker) run(t *testing.T, cfg loadgen.Config) *loadgen.Report {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = b.addr
	}
	if cfg.Username == "" {
		cfg.Username, cfg.Users = "bench%d", 2
	}
	cfg.Password = []byte(benchPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Scenario, err)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", text.String())
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %q", rep.Errors)
	}
	return rep
}

// checkMessages checks the counts of a message run: they add up, and QoS
// 1 and 2 lose nothing and QoS 2 repeats nothing.
func checkMessages(t *testing.T, rep *loadgen.Report, wantExpected int64) {
	t.Helper()
	m := rep.Messages
	if m == nil {
		t.Fatal("no message figures")
	}
	if m.Expected != wantExpected {
		t.Errorf("expected %d deliveries, want %d", m.Expected, wantExpected)
	}
	if m.Received+m.Lost != m.Expected {
		t.Errorf("received %d + lost %d != expected %d", m.Received, m.Lost, m.Expected)
	}
	if m.Unexpected != 0 || m.Refused != 0 {
		t.Errorf("unexpected %d, refused %d", m.Unexpected, m.Refused)
	}
	if q := rep.Params.QoS; q > 0 {
		if m.Lost != 0 || m.Received != m.Expected {
			t.Errorf("QoS %d: lost %d of %d", q, m.Lost, m.Expected)
		}
		if m.Acknowledged != m.Published {
			t.Errorf("QoS %d: %d of %d publishes acknowledged", q, m.Acknowledged, m.Published)
		}
	}
	if rep.Params.QoS == 2 && m.Duplicates != 0 {
		t.Errorf("QoS 2: %d duplicates", m.Duplicates)
	}
	if rep.Latency == nil || rep.Latency.Samples != uint64(m.Received) {
		t.Errorf("latency samples %+v, want %d", rep.Latency, m.Received)
	}
	if !rep.OK() {
		t.Errorf("failures: %q", rep.Failures)
	}
}

func TestSmokeEveryScenario(t *testing.T) {
	b := startSmokeBroker(t)
	const n = 200      // messages per publisher
	pid := os.Getpid() // the broker runs in this process
	t.Run("fanin QoS 1 MQTT 5", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.FanIn, Clients: 3, QoS: 1, Messages: n, BrokerPID: pid})
		checkMessages(t, rep, 3*n)
		if br := rep.Broker; br == nil || br.PID != pid || br.RSSEnd <= 0 || br.RSSPeak < br.RSSEnd {
			t.Errorf("broker figures %+v", br)
		}
	})
	t.Run("pairs QoS 2 MQTT 3.1.1", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.Pairs, Clients: 3, QoS: 2, Messages: n,
			Version: packet.V311, PayloadSize: 100})
		checkMessages(t, rep, 3*n)
	})
	t.Run("fanout QoS 0", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.FanOut, Clients: 5, Messages: n})
		checkMessages(t, rep, 5*n)
	})
	t.Run("shared QoS 1", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.Shared, Clients: 3, Publishers: 2, QoS: 1, Messages: n})
		checkMessages(t, rep, 2*n)
	})
	t.Run("pairs QoS 1 over TLS, rate-limited", func(t *testing.T) {
		tc, err := loadgen.TLSOptions{CAFile: b.caFile}.Config(b.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		rep := b.run(t, loadgen.Config{Scenario: loadgen.Pairs, Addr: b.tlsAddr, TLS: tc, Clients: 2, QoS: 1,
			Messages: 50, Rate: 2000})
		checkMessages(t, rep, 2*50)
	})
	t.Run("pairs QoS 0 for a duration", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.Pairs, Clients: 2, Duration: 200 * time.Millisecond,
			Rate: 1000})
		if rep.Messages.Published == 0 {
			t.Fatal("nothing published")
		}
		checkMessages(t, rep, rep.Messages.Published)
	})
	t.Run("idle", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.Idle, Clients: 20, Duration: 100 * time.Millisecond,
			KeepAlive: time.Second, BrokerPID: pid})
		c := rep.Connections
		if c.Held != 20 || c.Alive != 20 || len(c.Phases) != 1 || c.Phases[0].Connections != 20 || !rep.OK() {
			t.Errorf("connections %+v, failures %q", c, rep.Failures)
		}
	})
	t.Run("idle with settle", func(t *testing.T) {
		const settle = 400 * time.Millisecond
		began := time.Now()
		rep := b.run(t, loadgen.Config{Scenario: loadgen.Idle, Clients: 20, Duration: 100 * time.Millisecond,
			Settle: settle, BrokerPID: pid})
		took := time.Since(began)
		c := rep.Connections
		if c.Held != 20 || c.Alive != 20 || !rep.OK() {
			t.Fatalf("connections %+v, failures %q", c, rep.Failures)
		}
		// Three pauses: before the first reading, between the halves, and
		// the hold; the one between the halves is not counted in the rate.
		if took < 3*settle {
			t.Errorf("the run took %v, less than three pauses of %v", took, settle)
		}
		if c.Phases[0].Seconds >= settle.Seconds() {
			t.Errorf("the connect phase counted the pause: %.3f s", c.Phases[0].Seconds)
		}
	})
	t.Run("connrate", func(t *testing.T) {
		rep := b.run(t, loadgen.Config{Scenario: loadgen.ConnRate, Clients: 2, Username: "cold%d", Users: 2,
			Duration: 200 * time.Millisecond, SourceSpread: 16})
		c := rep.Connections
		if len(c.Phases) != 2 || c.Phases[0].Connections != 2 || c.Phases[1].Connections == 0 || !rep.OK() {
			t.Errorf("connections %+v, failures %q", c, rep.Failures)
		}
	})
	for _, v := range []string{"1.3", "1.2"} {
		t.Run("connrate over TLS "+v+", resumed", func(t *testing.T) {
			tc, err := loadgen.TLSOptions{CAFile: b.caFile, Resume: true, MaxVersion: v}.Config(b.tlsAddr)
			if err != nil {
				t.Fatal(err)
			}
			rep := b.run(t, loadgen.Config{Scenario: loadgen.ConnRate, Addr: b.tlsAddr, TLS: tc, Clients: 1,
				Username: "cold%d", Users: 1, Duration: 200 * time.Millisecond, SourceSpread: 16})
			c := rep.Connections
			if len(c.Phases) != 2 || !rep.OK() {
				t.Fatalf("connections %+v, failures %q", c, rep.Failures)
			}
			// The first handshake is full; every later one offers the
			// ticket of the previous and must resume.
			cold, warm := c.Phases[0], c.Phases[1]
			if cold.TLSResumed == nil || *cold.TLSResumed != 0 {
				t.Errorf("cold phase resumed %v, want 0", cold.TLSResumed)
			}
			if warm.Connections == 0 || warm.TLSResumed == nil || *warm.TLSResumed != warm.Connections {
				t.Errorf("warm phase: %d connections, %v resumed; want all resumed", warm.Connections, warm.TLSResumed)
			}
		})
	}
	t.Run("refusals", func(t *testing.T) { testRefusals(t, b) })
}

// testRefusals checks that what the broker refuses fails the run.
func testRefusals(t *testing.T, b smokeBroker) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, tc := range map[string]struct {
		cfg  loadgen.Config
		want string
	}{
		"topic outside the policy": {loadgen.Config{Scenario: loadgen.Pairs, Clients: 1, Messages: 1, Topic: "other",
			Username: "bench0", Password: []byte(benchPassword)}, "refused"},
		"user outside the group": {loadgen.Config{Scenario: loadgen.FanIn, Clients: 1, Messages: 1,
			Username: "outsider", Password: []byte(benchPassword)}, "refused"},
		"wrong password": {loadgen.Config{Scenario: loadgen.Idle, Clients: 1,
			Username: "bench0", Password: []byte("wrong")}, "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.Addr = b.addr
			rep, err := loadgen.Run(ctx, tc.cfg)
			if err == nil && rep.OK() {
				t.Fatalf("run passed: %+v", rep)
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = strings.Join(rep.Errors, "; ")
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
}

// TestNoBrokerImport checks that the generator shares no code with the
// broker: it measures Moat from the outside, as it measures Mosquitto.
func TestNoBrokerImport(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasSuffix(p, "/internal/broker") || strings.HasSuffix(p, "/internal/server") ||
			strings.Contains(p, "/internal/broker/") || strings.Contains(p, "/internal/server/") {
			t.Errorf("internal/loadgen depends on %s", p)
		}
	}
}
