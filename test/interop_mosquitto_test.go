package test

// Interop with Debian's mosquitto-clients: mosquitto_pub and mosquitto_sub
// over MQTT 3.1.1 and MQTT 5. mosquitto_sub runs with -d so the test can
// wait for its SUBACK before publishing, and with -F so every message
// prints as one parseable line with its flags and MQTT 5 properties.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mosqFormat is the -F format of mosquitto_sub (see mosquitto_sub(1)):
// topic, QoS, retain, payload length, user properties ("k:v k2:v2"),
// content type, response topic, correlation data, message expiry, payload
// format indicator, and the payload last so it may contain '|'.
const (
	mosqFormat   = "MSG|%t|%q|%r|%l|%P|%C|%R|%D|%E|%F|%p"
	mosqFields   = 12
	mosqWaitSecs = "20" // mosquitto_sub -W: exit if the expected messages never come
)

// mosqWait bounds each wait of the test on a mosquitto program.
const mosqWait = 15 * time.Second

// mosqMsg is one message line printed by mosquitto_sub.
type mosqMsg struct {
	Topic         string
	QoS           int
	Retain        bool
	Len           int
	UserProps     string
	ContentType   string
	ResponseTopic string
	Correlation   string
	Expiry        string
	Format        string
	Payload       string
}

func (m mosqMsg) String() string {
	return fmt.Sprintf("%s qos=%d retain=%v %q props=[user=%q ct=%q rt=%q cd=%q exp=%q pfi=%q]",
		m.Topic, m.QoS, m.Retain, m.Payload, m.UserProps, m.ContentType, m.ResponseTopic,
		m.Correlation, m.Expiry, m.Format)
}

func parseMosqLine(line string) (mosqMsg, error) {
	f := strings.SplitN(line, "|", mosqFields)
	if len(f) != mosqFields || f[0] != "MSG" {
		return mosqMsg{}, fmt.Errorf("not a message line: %q", line)
	}
	qos, err1 := strconv.Atoi(f[2])
	n, err2 := strconv.Atoi(f[4])
	if err1 != nil || err2 != nil || (f[3] != "0" && f[3] != "1") {
		return mosqMsg{}, fmt.Errorf("bad message line: %q", line)
	}
	return mosqMsg{Topic: f[1], QoS: qos, Retain: f[3] == "1", Len: n, UserProps: f[5],
		ContentType: f[6], ResponseTopic: f[7], Correlation: f[8], Expiry: f[9], Format: f[10],
		Payload: f[11]}, nil
}

// mosqClients runs mosquitto_pub and mosquitto_sub against one broker with
// one protocol version ("mqttv311" or "mqttv5").
type mosqClients struct {
	host, port, version string
}

func (m mosqClients) args(extra ...string) []string {
	return append([]string{"-h", m.host, "-p", m.port, "-V", m.version, "-d"}, extra...)
}

// pub runs mosquitto_pub to completion, fails the test unless it exits 0,
// and returns its debug output.
func (m mosqClients) pub(t *testing.T, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mosqWait)
	defer cancel()
	args := m.args(extra...)
	cmd := exec.CommandContext(ctx, "mosquitto_pub", args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mosqSub is a running mosquitto_sub whose output is collected line by line.
type mosqSub struct {
	args       []string
	cmd        *exec.Cmd
	stderr     bytes.Buffer // written by exec until exited is closed
	mu         sync.Mutex
	lines      []string
	msgs       int           // message lines so far
	changed    chan struct{} // closed and replaced when a line arrives
	subscribed chan struct{} // closed on "received SUBACK"
	exited     chan struct{} // closed once the process was waited for
	waitErr    error         // valid after exited is closed
}

// sub starts mosquitto_sub and returns once it has received its SUBACK.
// Pass -C N so it exits after N messages; wait collects them.
func (m mosqClients) sub(t *testing.T, extra ...string) *mosqSub {
	t.Helper()
	s := &mosqSub{
		args:       m.args(append([]string{"-F", mosqFormat, "-W", mosqWaitSecs}, extra...)...),
		changed:    make(chan struct{}),
		subscribed: make(chan struct{}),
		exited:     make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*mosqWait)
	// mosquitto_sub flushes stdout after each message but not after its
	// debug lines; stdbuf (coreutils) makes a pipe line-buffered so the
	// SUBACK line shows up when it happens. stdbuf execs the program, so
	// the process is mosquitto_sub itself (kill hits it directly).
	s.cmd = exec.CommandContext(ctx, "stdbuf", append([]string{"-oL", "mosquitto_sub"}, s.args...)...)
	s.cmd.WaitDelay = time.Second
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start mosquitto_sub: %v", err)
	}
	go s.read(stdout)
	t.Cleanup(func() {
		cancel()
		<-s.exited
	})

	select {
	case <-s.subscribed:
	case <-s.exited:
		select {
		case <-s.subscribed: // -E: subscribed, then exited at once
		default:
			t.Fatalf("mosquitto_sub exited before its SUBACK: %v\n%s", s.waitErr, s.output())
		}
	case <-time.After(mosqWait):
		t.Fatalf("mosquitto_sub got no SUBACK within %v\n%s", mosqWait, s.output())
	}
	return s
}

func (s *mosqSub) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.lines = append(s.lines, line)
		if strings.HasPrefix(line, "MSG|") {
			s.msgs++
		}
		if strings.Contains(line, "received SUBACK") {
			select {
			case <-s.subscribed:
			default:
				close(s.subscribed)
			}
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
	s.waitErr = s.cmd.Wait()
	close(s.exited)
}

// output is everything the program printed so far, for failure messages.
func (s *mosqSub) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := "command: mosquitto_sub " + strings.Join(s.args, " ") + "\nstdout:\n" + strings.Join(s.lines, "\n")
	select {
	case <-s.exited:
		out += "\nstderr:\n" + s.stderr.String()
	default:
	}
	return out
}

// waitMsgs blocks until at least n message lines were printed.
func (s *mosqSub) waitMsgs(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(mosqWait)
	for {
		s.mu.Lock()
		got, changed := s.msgs, s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-s.exited:
			s.mu.Lock()
			got = s.msgs
			s.mu.Unlock()
			if got < n {
				t.Fatalf("mosquitto_sub exited after %d of %d messages: %v\n%s", got, n, s.waitErr, s.output())
			}
			return
		case <-timeout:
			t.Fatalf("mosquitto_sub printed %d of %d messages within %v\n%s", got, n, mosqWait, s.output())
		}
	}
}

// wait waits for the program to exit on its own (-C count reached, -E),
// fails the test unless it exited 0, and returns the messages it printed.
func (s *mosqSub) wait(t *testing.T) []mosqMsg {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(mosqWait):
		t.Fatalf("mosquitto_sub did not exit within %v\n%s", mosqWait, s.output())
	}
	if s.waitErr != nil {
		t.Fatalf("mosquitto_sub failed: %v\n%s", s.waitErr, s.output())
	}
	return s.messages(t)
}

func (s *mosqSub) messages(t *testing.T) []mosqMsg {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var msgs []mosqMsg
	for _, line := range s.lines {
		if !strings.HasPrefix(line, "MSG|") {
			continue
		}
		m, err := parseMosqLine(line)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// kill ends the program with SIGKILL: its connection drops without a
// DISCONNECT packet.
func (s *mosqSub) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatalf("kill mosquitto_sub: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(mosqWait):
		t.Fatalf("mosquitto_sub survived SIGKILL for %v", mosqWait)
	}
}

// byPayload indexes messages by payload and fails on duplicates.
func byPayload(t *testing.T, who string, msgs []mosqMsg) map[string]mosqMsg {
	t.Helper()
	out := make(map[string]mosqMsg, len(msgs))
	for _, m := range msgs {
		if _, dup := out[m.Payload]; dup {
			t.Fatalf("%s: payload %q received twice: %v", who, m.Payload, msgs)
		}
		out[m.Payload] = m
	}
	return out
}

var mosqVersionRE = regexp.MustCompile(`mosquitto_pub version (\S+)`)

func requireMosquitto(t *testing.T) {
	requirePeer(t, "mosquitto-clients", func(ctx context.Context) (string, error) {
		for _, p := range []string{"mosquitto_pub", "mosquitto_sub", "stdbuf"} {
			if _, err := exec.LookPath(p); err != nil {
				return "", err
			}
		}
		// --help prints the version and exits 1.
		out, _ := exec.CommandContext(ctx, "mosquitto_pub", "--help").CombinedOutput()
		m := mosqVersionRE.FindSubmatch(out)
		if m == nil {
			return "", fmt.Errorf("mosquitto_pub --help printed no version: %.200s", out)
		}
		return string(m[1]), nil
	})
}

// TestInterop_Mosquitto_MQTTv311 drives mosquitto_pub/mosquitto_sub with
// -V mqttv311.
func TestInterop_Mosquitto_MQTTv311(t *testing.T) {
	runMosquittoChecks(t, "mqttv311")
}

// TestInterop_Mosquitto_MQTTv5 drives mosquitto_pub/mosquitto_sub with
// -V mqttv5, adding properties and a v5/v3.1.1 mix.
func TestInterop_Mosquitto_MQTTv5(t *testing.T) {
	runMosquittoChecks(t, "mqttv5")
}

// mosqCheck is one subtest: run gets the clients and a topic prefix of its own.
type mosqCheck struct {
	name string
	run  func(t *testing.T, m mosqClients, base string)
}

func runMosquittoChecks(t *testing.T, version string) {
	t.Parallel()
	requireMosquitto(t)
	host, port, base := interopBroker(t, "interop/mosq/"+version)
	m := mosqClients{host: host, port: port, version: version}
	checks := []mosqCheck{
		{"connect", mosqConnect},
		{"qos", mosqQoS},
		{"retain", mosqRetain},
		{"will", mosqWill},
	}
	if version == "mqttv5" {
		checks = append(checks, mosqCheck{"properties", mosqProperties}, mosqCheck{"mixed", mosqMixed})
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, m, base+"/"+c.name)
		})
	}
}

// mosqConnect: CONNECT with an explicit and with an empty client id.
func mosqConnect(t *testing.T, m mosqClients, base string) {
	id := "mosq-" + m.version
	out := m.pub(t, "-i", id, "-t", base+"/named", "-m", "hello", "-q", "1")
	for _, want := range []string{"Client " + id + " received CONNACK (0)", "received PUBACK"} {
		if !strings.Contains(out, want) {
			t.Errorf("mosquitto_pub -i %s: output lacks %q:\n%s", id, want, out)
		}
	}

	// mosquitto 2 clients send an empty client id when -i is not given.
	out = m.pub(t, "-t", base+"/anon", "-m", "hello", "-q", "1")
	if !strings.Contains(out, "received CONNACK (0)") {
		t.Errorf("empty client id refused:\n%s", out)
	}
	if m.version == "mqttv5" && strings.Contains(out, "Client (null) received CONNACK") {
		// [MQTT-3.2.2-16] a zero-length client id is answered with an
		// Assigned Client Identifier.
		t.Errorf("CONNACK to an empty client id carries no Assigned Client Identifier:\n%s", out)
	}

	s := m.sub(t, "-t", base+"/sub", "-q", "2", "-E")
	s.wait(t)
	if out := s.output(); !strings.Contains(out, "Subscribed (mid: 1): 2") {
		t.Errorf("SUBSCRIBE at QoS 2 not granted QoS 2:\n%s", out)
	}
}

// mosqQoS: QoS 0, 1 and 2 publishes reach a QoS 2 subscriber at their own
// QoS and a QoS 1 subscriber at min(QoS, 1).
func mosqQoS(t *testing.T, m mosqClients, base string) {
	sub2 := m.sub(t, "-t", base+"/+", "-q", "2", "-C", "3")
	sub1 := m.sub(t, "-t", base+"/+", "-q", "1", "-C", "3")
	for q := range 3 {
		m.pub(t, "-t", fmt.Sprintf("%s/%d", base, q), "-m", fmt.Sprintf("q%d", q), "-q", strconv.Itoa(q))
	}
	for _, sc := range []struct {
		s   *mosqSub
		max int
	}{{sub2, 2}, {sub1, 1}} {
		who := fmt.Sprintf("QoS %d subscriber", sc.max)
		got := byPayload(t, who, sc.s.wait(t))
		for q := range 3 {
			msg, ok := got[fmt.Sprintf("q%d", q)]
			if !ok {
				t.Errorf("%s missed the QoS %d message; got %v", who, q, got)
				continue
			}
			if want := min(q, sc.max); msg.QoS != want { // [MQTT-3.8.4-6]
				t.Errorf("%s: QoS %d message delivered at QoS %d, want %d", who, q, msg.QoS, want)
			}
			if msg.Retain || msg.Topic != fmt.Sprintf("%s/%d", base, q) {
				t.Errorf("%s: got %v", who, msg)
			}
		}
	}
}

// mosqRetain: a retained message reaches a later subscriber with the retain
// flag; an empty retained payload deletes it.
func mosqRetain(t *testing.T, m mosqClients, topic string) {
	m.pub(t, "-t", topic, "-m", "kept", "-r", "-q", "1")
	late := m.sub(t, "-t", topic, "-q", "1", "-C", "3")
	late.waitMsgs(t, 1)

	m.pub(t, "-t", topic, "-n", "-r", "-q", "1") // -n: zero-length payload
	after := m.sub(t, "-t", topic, "-q", "1", "-C", "1")
	m.pub(t, "-t", topic, "-m", "live", "-q", "1")

	if got := after.wait(t); len(got) != 1 || got[0].Payload != "live" || got[0].Retain {
		t.Errorf("subscriber after the delete got %v, want only the live message (the retained one was deleted)", got)
	}
	got := late.wait(t)
	if len(got) != 3 {
		t.Fatalf("earlier subscriber got %d messages, want 3: %v", len(got), got)
	}
	if g := got[0]; g.Payload != "kept" || !g.Retain || g.QoS != 1 {
		t.Errorf("retained message arrived as %v, want 'kept' with retain=1 at QoS 1", g)
	}
	// The delete is forwarded to existing subscribers as a normal message
	// [MQTT-3.3.1-10] (v3.1.1), [MQTT-3.3.1-9] no retain flag on live traffic.
	if g := got[1]; g.Len != 0 || g.Retain {
		t.Errorf("empty retained publish arrived as %v, want empty payload with retain=0", g)
	}
	if g := got[2]; g.Payload != "live" || g.Retain {
		t.Errorf("live message arrived as %v", g)
	}
}

// mosqWill: a mosquitto_sub killed with SIGKILL has its will published; one
// that disconnects normally has its will discarded.
func mosqWill(t *testing.T, m mosqClients, base string) {
	dropped, clean := base+"/dropped", base+"/clean"
	will := func(topic, payload string) []string {
		args := []string{"--will-topic", topic, "--will-payload", payload, "--will-qos", "1"}
		if m.version == "mqttv5" {
			args = append(args, "-D", "will", "user-property", "why", "dropped",
				"-D", "will", "content-type", "text/plain")
		}
		return args
	}
	watcher := m.sub(t, "-t", base+"/#", "-q", "1", "-C", "2")

	// -E: exit with DISCONNECT once subscribed [MQTT-3.1.2-10].
	m.sub(t, append(will(clean, "must-not-arrive"), "-t", base+"/idle", "-E")...).wait(t)

	victim := m.sub(t, append(will(dropped, "gone"), "-t", base+"/idle", "-q", "1")...)
	victim.kill(t)
	watcher.waitMsgs(t, 1)
	// Fence: a will wrongly published for the clean client would most
	// likely arrive before this marker.
	m.pub(t, "-t", clean, "-m", "marker", "-q", "1")

	got := watcher.wait(t)
	if len(got) != 2 {
		t.Fatalf("watcher got %v, want the will and the marker", got)
	}
	w := got[0]
	if w.Topic != dropped || w.Payload != "gone" || w.QoS != 1 || w.Retain {
		t.Errorf("first message %v, want will 'gone' on %s at QoS 1 (the clean client's will must not be sent)", w, dropped)
	}
	if m.version == "mqttv5" && (w.UserProps != "why:dropped" || w.ContentType != "text/plain") {
		t.Errorf("will properties lost: %v", w)
	}
	if g := got[1]; g.Topic != clean || g.Payload != "marker" {
		t.Errorf("second message %v, want the marker on %s", g, clean)
	}
}

// mosqProperties: PUBLISH properties pass through to an MQTT 5 subscriber.
func mosqProperties(t *testing.T, m mosqClients, base string) {
	topic := base + "/req"
	s := m.sub(t, "-t", topic, "-q", "1", "-C", "1")
	m.pub(t, "-t", topic, "-m", `{"ask":1}`, "-q", "1",
		"-D", "publish", "user-property", "k", "v",
		"-D", "publish", "user-property", "k2", "v2",
		"-D", "publish", "user-property", "k", "v3",
		"-D", "publish", "content-type", "application/json",
		"-D", "publish", "response-topic", base+"/resp",
		"-D", "publish", "correlation-data", "corr-42",
		"-D", "publish", "message-expiry-interval", "60",
		"-D", "publish", "payload-format-indicator", "1")
	got := s.wait(t)
	if len(got) != 1 {
		t.Fatalf("got %v, want one message", got)
	}
	g := got[0]
	t.Logf("received %v", g)
	// Order and duplicates of user properties are kept [MQTT-3.3.2-17], [MQTT-3.3.2-18].
	if g.UserProps != "k:v k2:v2 k:v3" {
		t.Errorf("user properties %q, want %q", g.UserProps, "k:v k2:v2 k:v3")
	}
	if g.ContentType != "application/json" {
		t.Errorf("content type %q", g.ContentType)
	}
	if g.ResponseTopic != base+"/resp" {
		t.Errorf("response topic %q", g.ResponseTopic)
	}
	if g.Correlation != "corr-42" {
		t.Errorf("correlation data %q", g.Correlation)
	}
	// The forwarded expiry is the remaining lifetime [MQTT-3.3.2-6].
	if exp, err := strconv.Atoi(g.Expiry); err != nil || exp < 1 || exp > 60 {
		t.Errorf("message expiry interval %q, want 1..60", g.Expiry)
	}
	if g.Format != "1" {
		t.Errorf("payload format indicator %q, want 1", g.Format)
	}
	if g.Payload != `{"ask":1}` || g.QoS != 1 || g.Retain {
		t.Errorf("message %v", g)
	}
}

// mosqMixed: an MQTT 5 publish with properties reaches an MQTT 3.1.1
// subscriber, and an MQTT 3.1.1 publish reaches an MQTT 5 subscriber.
func mosqMixed(t *testing.T, m mosqClients, topic string) {
	old := mosqClients{host: m.host, port: m.port, version: "mqttv311"}
	sOld := old.sub(t, "-t", topic, "-q", "1", "-C", "2")
	sNew := m.sub(t, "-t", topic, "-q", "1", "-C", "2")
	m.pub(t, "-t", topic, "-m", "from-v5", "-q", "1", "-D", "publish", "user-property", "k", "v")
	old.pub(t, "-t", topic, "-m", "from-v311", "-q", "1")
	for _, sc := range []struct {
		who string
		s   *mosqSub
	}{{"v3.1.1 subscriber", sOld}, {"v5 subscriber", sNew}} {
		got := byPayload(t, sc.who, sc.s.wait(t))
		for _, p := range []string{"from-v5", "from-v311"} {
			if g, ok := got[p]; !ok || g.QoS != 1 {
				t.Errorf("%s: %q arrived as %v (present: %v)", sc.who, p, g, ok)
			}
		}
		if sc.s == sNew {
			if g := got["from-v5"]; g.UserProps != "k:v" {
				t.Errorf("v5 subscriber: user property lost: %v", g)
			}
			if g := got["from-v311"]; g.UserProps != "" {
				t.Errorf("v5 subscriber: v3.1.1 message has user properties: %v", g)
			}
		}
	}
}
