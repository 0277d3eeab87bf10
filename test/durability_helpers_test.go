package test

// Helpers of the durability tests (durability_e2e_test.go): one broker
// installation (the moat binary, a data directory, a configuration file
// and a fixed port) that is started, stopped with SIGTERM, killed with
// SIGKILL and started again at the same address; persistent subscribers
// set up over raw sockets; publishers that record what the broker
// acknowledged; and the checks of what a subscriber received against it.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// The one account of the durability tests' clients.
const (
	durUser = "durable"
	durPass = "pw-durability-e2e"
)

// startLimit bounds a broker start (open and load the store, listen) and
// a refused start (exit); stopLimit bounds the exit after SIGTERM or
// SIGKILL.
const (
	startLimit = 20 * time.Second
	stopLimit  = 10 * time.Second
)

// durEnv is one broker installation. Every start uses the same data
// directory, configuration file and address.
type durEnv struct {
	bin     string
	dir     string // the working directory: configuration, ACL
	dataDir string
	cfgPath string
	pwFile  string
	addr    string
	store   string // the store: section of the configuration
	extra   string // further top-level YAML (acl:, ...)
}

// newDurEnv writes a password file (durUser) and a configuration whose
// store section is storeYAML ("" leaves the store's defaults) for a broker
// on a free port of 127.0.0.1.
func newDurEnv(t *testing.T, bin, storeYAML string) *durEnv {
	t.Helper()
	dir := t.TempDir()
	e := &durEnv{
		bin:     bin,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		cfgPath: filepath.Join(dir, "moat.yaml"),
		pwFile:  writeUsers(t, map[string]string{durUser: durPass}),
		addr:    "127.0.0.1:" + freePort(t),
		store:   storeYAML,
	}
	e.writeConfig(t, "")
	return e
}

// config is the configuration file's text; listenerExtra is appended to
// the listener's entry (indented by four spaces).
func (e *durEnv) config(listenerExtra string) string {
	return "data_dir: " + e.dataDir + "\n" +
		"auth:\n  password_file: " + e.pwFile + "\n" +
		// Room for every message a test queues: a full queue drops, which
		// is not what these tests are about.
		"mqtt:\n  max_queued_messages: 100000\n  max_session_expiry: 1h\n" +
		"listeners:\n  - name: plain\n    address: " + e.addr + "\n" + listenerExtra +
		e.extra + e.store
}

// writeConfig writes the configuration file.
func (e *durEnv) writeConfig(t *testing.T, listenerExtra string) {
	t.Helper()
	if err := os.WriteFile(e.cfgPath, []byte(e.config(listenerExtra)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// launch runs `moat serve --config` with env added to the environment
// (without any MOAT_STORE_KEY of the caller's). The process is killed at
// the end of the test if it still runs.
func (e *durEnv) launch(t *testing.T, env ...string) *moatProcess {
	t.Helper()
	m := &moatProcess{done: make(chan struct{})}
	m.cmd = exec.Command(e.bin, "serve", "--config", e.cfgPath)
	m.cmd.Dir = e.dir
	m.cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "MOAT_STORE_KEY=") })
	m.cmd.Env = append(m.cmd.Env, env...)
	m.cmd.Stdout, m.cmd.Stderr = m, m
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start moat: %v", err)
	}
	go func() { m.err = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		if !m.exited() {
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	})
	return m
}

// start launches the broker and waits until it logs that it listens on
// e.addr and accepts a TCP connection there; it fails the test if the
// process exits first.
func (e *durEnv) start(t *testing.T, env ...string) *moatProcess {
	t.Helper()
	m := e.launch(t, env...)
	deadline := time.Now().Add(startLimit)
	for {
		if m.exited() {
			t.Fatalf("moat serve exited at start (%v)\n%s", m.err, m.output())
		}
		if out := m.output(); strings.Contains(out, "listening") && strings.Contains(out, e.addr) {
			c, err := dialTCP(e.addr)
			if err == nil {
				c.Close()
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("moat serve not listening on %s after %v\n%s", e.addr, startLimit, m.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRefused launches the broker, expects it to exit within startLimit
// and returns its exit code and output.
func (e *durEnv) startRefused(t *testing.T, env ...string) (int, string) {
	t.Helper()
	m := e.launch(t, env...)
	select {
	case <-m.done:
	case <-time.After(startLimit):
		t.Fatalf("moat serve still running %v after a start that must be refused\n%s", startLimit, m.output())
	}
	return exitCode(m), m.output()
}

// dialTCP opens a TCP connection with a short timeout.
func dialTCP(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 500*time.Millisecond)
}

// exitCode is the exit status of an ended process (-1: killed by a signal).
func exitCode(m *moatProcess) int {
	var ee *exec.ExitError
	switch {
	case m.err == nil:
		return 0
	case errors.As(m.err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// kill sends SIGKILL and waits for the process to end.
func kill(t *testing.T, m *moatProcess) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-m.done:
	case <-time.After(stopLimit):
		t.Fatalf("moat still running %v after SIGKILL", stopLimit)
	}
}

// terminate sends SIGTERM, requires exit status 0 within stopLimit and
// returns how long the exit took.
func terminate(t *testing.T, m *moatProcess) time.Duration {
	t.Helper()
	start := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-m.done:
	case <-time.After(stopLimit):
		_ = m.cmd.Process.Kill()
		<-m.done
		t.Fatalf("moat still running %v after SIGTERM\n%s", stopLimit, m.output())
	}
	took := time.Since(start)
	if code := exitCode(m); code != 0 {
		t.Fatalf("moat exited with %v after SIGTERM, want status 0\n%s", m.err, m.output())
	}
	return took
}

// moat runs a moat subcommand and returns its exit status and combined
// output.
func (e *durEnv) moat(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Dir = e.dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
	return 0, ""
}

// treeDigest lists every file under dir with its mode, size and content,
// to tell whether anything in it changed.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d %x", len(data), data)
		}
		files[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return files
}

// ---------------------------------------------------------------------------
// Clients.

// auth5 adds the test account's credentials to an MQTT 5 CONNECT.
func auth5(cp *paho.Connect) *paho.Connect {
	cp.Username, cp.UsernameFlag = durUser, true
	cp.Password, cp.PasswordFlag = []byte(durPass), true
	return cp
}

// auth3 adds the test account's credentials to MQTT 3.1.1 options.
func auth3(o *mqtt.ClientOptions) { o.SetUsername(durUser).SetPassword(durPass) }

// durSub is one subscription of a persistent subscriber.
type durSub struct {
	filter string
	qos    byte
}

// leavePersistent creates a persistent session (MQTT 5: clean start and
// a session expiry of expiry seconds; 3.1.1: clean session false) with
// subs, then disconnects and returns once the broker has closed the
// socket, so that the session is offline before anything is published.
func (e *durEnv) leavePersistent(t *testing.T, v5 bool, id string, expiry uint32, subs ...durSub) {
	t.Helper()
	c := dialRaw(t, e.addr, v5)
	user := durUser
	rc := rawConnect{Version: protoVersion(v5), ClientID: id, Clean: v5, KeepAlive: 30, Username: &user, Password: []byte(durPass)}
	if v5 {
		rc.Props = props{{ID: propSessionExpiry, N: expiry}}
	}
	c.connect(rc)
	for i, s := range subs {
		if g := c.subscribe(uint16(i+1), s.filter, s.qos, nil); g != s.qos {
			t.Fatalf("%s: subscribe %q at QoS %d granted %#x", id, s.filter, s.qos, g)
		}
	}
	c.send(rawDisconnect(v5, 0))
	if res := c.waitClosed(waitTimeout); !res.Closed || len(res.Packets) != 0 {
		t.Fatalf("%s: after DISCONNECT: closed=%v packets %v", id, res.Closed, res.Packets)
	}
}

// resume5 reconnects an MQTT 5 subscriber with clean start false.
func (e *durEnv) resume5(t *testing.T, id string, expiry uint32) *client5 {
	t.Helper()
	c, err := dial5(t, e.addr, auth5(sessionConnect(id, false, expiry)), nil)
	if err != nil {
		t.Fatalf("%s: reconnect: %v", id, err)
	}
	return c
}

// resume3 reconnects an MQTT 3.1.1 subscriber with clean session false.
func (e *durEnv) resume3(t *testing.T, id string) *client3 {
	t.Helper()
	c, err := dial3(t, e.addr, id, false, auth3)
	if err != nil {
		t.Fatalf("%s: reconnect: %v", id, err)
	}
	return c
}

// ---------------------------------------------------------------------------
// Publishers that record acknowledgements.

// durStream is one publisher's numbered messages on one topic at one QoS:
// payloads "<publisher>/<seq>", seq from 1, published in order.
type durStream struct {
	pub   string
	topic string
	qos   byte

	mu    sync.Mutex
	sent  int          // the highest seq handed to the client
	acked map[int]bool // PUBACK (QoS 1) or a successful PUBREC/PUBCOMP exchange (QoS 2)
	err   error        // what ended the stream early, if anything
}

func newStream(pub, topic string, qos byte) *durStream {
	return &durStream{pub: pub, topic: topic, qos: qos, acked: map[int]bool{}}
}

func (s *durStream) payload(seq int) []byte { return []byte(s.pub + "/" + strconv.Itoa(seq)) }

func (s *durStream) markSent(seq int) {
	s.mu.Lock()
	s.sent = max(s.sent, seq)
	s.mu.Unlock()
}

func (s *durStream) markAcked(seq int, total *atomic.Int64) {
	s.mu.Lock()
	s.acked[seq] = true
	s.mu.Unlock()
	total.Add(1)
}

func (s *durStream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// state returns the highest seq sent, the acknowledged seqs in order and
// the error that ended the stream.
func (s *durStream) state() (int, []int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acked := make([]int, 0, len(s.acked))
	for seq := range s.acked {
		acked = append(acked, seq)
	}
	slices.Sort(acked)
	return s.sent, acked, s.err
}

// durTraffic runs publishers: every stream publishes until stop is closed
// or it has sent limit messages (0: no limit), or its connection fails.
type durTraffic struct {
	streams []*durStream
	limit   int
	stop    chan struct{}
	ctx     context.Context // canceled by halt: a publish waiting for its acknowledgement gives up
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	acked   atomic.Int64
}

func newTraffic(limit int) *durTraffic {
	ctx, cancel := context.WithCancel(context.Background())
	return &durTraffic{limit: limit, stop: make(chan struct{}), ctx: ctx, cancel: cancel}
}

func (tr *durTraffic) stopped() bool {
	select {
	case <-tr.stop:
		return true
	default:
		return false
	}
}

// pub5 connects an MQTT 5 publisher (clean start) and starts one
// goroutine per QoS, each waiting for its acknowledgement before the next
// message; the topics are prefix/<id>/q<QoS>.
func (tr *durTraffic) pub5(t *testing.T, addr, prefix, id string, qoss ...byte) {
	t.Helper()
	c, err := dial5(t, addr, auth5(cleanConnect(id)), nil)
	if err != nil {
		t.Fatalf("publisher %s: %v", id, err)
	}
	for _, q := range qoss {
		s := newStream(id, fmt.Sprintf("%s/%s/q%d", prefix, id, q), q)
		tr.streams = append(tr.streams, s)
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for seq := 1; (tr.limit == 0 || seq <= tr.limit) && !tr.stopped(); seq++ {
				s.markSent(seq)
				ctx, cancel := context.WithTimeout(tr.ctx, waitTimeout)
				r, err := c.Publish(ctx, &paho.Publish{Topic: s.topic, QoS: q, Payload: s.payload(seq)})
				cancel()
				if err == nil && (r == nil || r.ReasonCode >= 0x80) {
					err = fmt.Errorf("publish %d: response %+v", seq, r)
				}
				if err != nil {
					s.fail(fmt.Errorf("publish %d: %w", seq, err))
					return
				}
				s.markAcked(seq, &tr.acked)
			}
		}()
	}
}

// pub3 connects an MQTT 3.1.1 publisher (clean session) and starts one
// goroutine per QoS, each keeping up to 16 messages in flight.
func (tr *durTraffic) pub3(t *testing.T, addr, prefix, id string, qoss ...byte) {
	t.Helper()
	c, err := dial3(t, addr, id, true, auth3)
	if err != nil {
		t.Fatalf("publisher %s: %v", id, err)
	}
	const window = 16
	type pending struct {
		seq int
		tok mqtt.Token
	}
	for _, q := range qoss {
		s := newStream(id, fmt.Sprintf("%s/%s/q%d", prefix, id, q), q)
		tr.streams = append(tr.streams, s)
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			var inflight []pending
			// complete waits for the oldest message; false once the
			// connection has failed.
			complete := func() bool {
				p := inflight[0]
				inflight = inflight[1:]
				select {
				case <-p.tok.Done():
				case <-tr.ctx.Done():
					if p.tok.WaitTimeout(0) && p.tok.Error() == nil {
						s.markAcked(p.seq, &tr.acked)
						return true
					}
					s.fail(fmt.Errorf("publish %d: abandoned", p.seq))
					return false
				case <-time.After(waitTimeout):
					s.fail(fmt.Errorf("publish %d: no acknowledgement within %v", p.seq, waitTimeout))
					return false
				}
				if err := p.tok.Error(); err != nil {
					s.fail(fmt.Errorf("publish %d: %w", p.seq, err))
					return false
				}
				s.markAcked(p.seq, &tr.acked)
				return true
			}
			ok := true
			for seq := 1; ok && (tr.limit == 0 || seq <= tr.limit) && !tr.stopped(); seq++ {
				s.markSent(seq)
				inflight = append(inflight, pending{seq, c.Publish(s.topic, q, false, s.payload(seq))})
				if len(inflight) >= window {
					ok = complete()
				}
			}
			for len(inflight) > 0 {
				complete()
			}
		}()
	}
}

// waitAcked waits until the streams together have n acknowledgements.
func (tr *durTraffic) waitAcked(t *testing.T, n int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for tr.acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledgements after %v; streams: %s", tr.acked.Load(), n, limit, tr.describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// halt stops the publishers, abandons the acknowledgements they wait for
// and waits for their goroutines.
func (tr *durTraffic) halt(t *testing.T) {
	t.Helper()
	if !tr.stopped() {
		close(tr.stop)
	}
	tr.cancel()
	tr.join(t)
}

// finish stops the publishers after the message each one is sending
// (its acknowledgement included) and waits for their goroutines.
func (tr *durTraffic) finish(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.join(t)
}

// join waits for the goroutines to end by themselves.
func (tr *durTraffic) join(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() { tr.wg.Wait(); close(done) }()
	select {
	case <-done:
		tr.cancel()
	case <-time.After(3 * waitTimeout):
		t.Fatalf("publishers still running after %v: %s", 3*waitTimeout, tr.describe())
	}
}

// requireClean fails the test if a stream ended with an error.
func (tr *durTraffic) requireClean(t *testing.T) {
	t.Helper()
	for _, s := range tr.streams {
		if _, _, err := s.state(); err != nil {
			t.Fatalf("stream %s failed: %v", s.topic, err)
		}
	}
}

func (tr *durTraffic) describe() string {
	var b strings.Builder
	for _, s := range tr.streams {
		sent, acked, err := s.state()
		fmt.Fprintf(&b, "\n  %s: sent %d, acknowledged %d", s.topic, sent, len(acked))
		if err != nil {
			fmt.Fprintf(&b, " (ended: %v)", err)
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// What a subscriber received.

// streamSeqs returns, for every stream, the seqs of the messages received
// on its topic in arrival order, with their QoS; payloads that are not
// the stream's go to bad.
func streamSeqs(got []message, streams []*durStream) (seqs map[*durStream][]int, qos map[*durStream][]byte, bad []string) {
	byTopic := map[string]*durStream{}
	for _, s := range streams {
		byTopic[s.topic] = s
	}
	seqs, qos = map[*durStream][]int{}, map[*durStream][]byte{}
	for _, m := range got {
		s, ok := byTopic[m.Topic]
		if !ok {
			continue
		}
		pub, n, found := strings.Cut(string(m.Payload), "/")
		seq, err := strconv.Atoi(n)
		if !found || pub != s.pub || err != nil {
			bad = append(bad, fmt.Sprintf("%q on %s", m.Payload, m.Topic))
			continue
		}
		seqs[s] = append(seqs[s], seq)
		qos[s] = append(qos[s], m.QoS)
	}
	return seqs, qos, bad
}

// missingAcked counts the acknowledged messages not (yet) received and
// names the first few.
func missingAcked(got []message, streams []*durStream) (int, []string) {
	seqs, _, _ := streamSeqs(got, streams)
	n := 0
	var first []string
	for _, s := range streams {
		have := map[int]bool{}
		for _, q := range seqs[s] {
			have[q] = true
		}
		_, acked, _ := s.state()
		for _, q := range acked {
			if !have[q] {
				n++
				if len(first) < 5 {
					first = append(first, fmt.Sprintf("%s %s/%d", s.topic, s.pub, q))
				}
			}
		}
	}
	return n, first
}

// waitDelivered waits until received returns every acknowledged message
// of streams.
func waitDelivered(t *testing.T, who string, received func() []message, streams []*durStream, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		n, first := missingAcked(received(), streams)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d acknowledged messages not delivered within %v, such as %v (received %d messages)",
				who, n, limit, first, len(received()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkDelivery compares what subscriber who received (subscribed at
// QoS 2 or more to every stream, so that each message arrives at its
// publish QoS) with what the streams sent and what the broker
// acknowledged: every acknowledged message arrived; nothing arrived that
// was never sent; a QoS 2 message at most once; each stream in order,
// repeats of QoS 1 messages aside.
func checkDelivery(t *testing.T, who string, got []message, streams []*durStream) {
	t.Helper()
	seqs, qos, bad := streamSeqs(got, streams)
	if len(bad) > 0 {
		t.Errorf("%s: %d messages with foreign payloads, such as %v", who, len(bad), bad[:min(len(bad), 5)])
	}
	if n, first := missingAcked(got, streams); n > 0 {
		t.Errorf("%s: %d acknowledged messages never delivered, such as %v", who, n, first)
	}
	for _, s := range streams {
		sent, _, _ := s.state()
		seen := map[int]int{}
		last := 0
		for i, seq := range seqs[s] {
			if seq < 1 || seq > sent {
				t.Errorf("%s: %s delivered %s/%d, which was never published (sent 1..%d)", who, s.topic, s.pub, seq, sent)
			}
			if qos[s][i] != s.qos {
				t.Errorf("%s: %s/%d on %s delivered at QoS %d, want %d", who, s.pub, seq, s.topic, qos[s][i], s.qos)
			}
			seen[seq]++
			if seen[seq] > 1 {
				if s.qos == 2 {
					t.Errorf("%s: QoS 2 message %s/%d delivered %d times", who, s.pub, seq, seen[seq])
				}
				continue
			}
			if seq < last {
				t.Errorf("%s: %s out of order: %s/%d after %s/%d", who, s.topic, s.pub, seq, s.pub, last)
			}
			last = seq
		}
	}
}

// noDuplicates fails for every payload received more than once.
func noDuplicates(t *testing.T, who string, got []message) {
	t.Helper()
	n := map[string]int{}
	for _, m := range got {
		n[m.Topic+" "+string(m.Payload)]++
	}
	for k, c := range n {
		if c > 1 {
			t.Errorf("%s: %s delivered %d times", who, k, c)
		}
	}
}
