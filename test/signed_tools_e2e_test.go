package test

// Signed topics with Moat's own client tools, end to end through the real
// broker: keys from `moat keys gen|bind`, messages from `moat pub
// --sign-key`, checked by `moat sub --verify`. The subscriber reports what
// fails (unsigned, replayed, moved) on a topic the broker does not
// enforce, and retain rules hold end to end.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// signedToolsEnv is a broker with signed rules and the moat binary.
type signedToolsEnv struct {
	bin, dir, registry string
	host, port         string
	pwFile             map[string]string // user -> password file
}

func startSignedTools(t *testing.T) *signedToolsEnv {
	t.Helper()
	e := &signedToolsEnv{bin: buildMoatBinary(t), dir: t.TempDir(), pwFile: map[string]string{}}
	e.registry = filepath.Join(e.dir, "keys.json")
	key := filepath.Join(e.dir, "valve.key")
	e.moat(t, 0, "keys", "gen", "--out", key)
	if out := e.moat(t, 0, "keys", "bind", "--keys", e.registry, "--identity", "valve", "--pub", key+".pub", "--kid", "valve-1"); out != "valve-1" {
		t.Fatalf("moat keys bind printed %q", out)
	}
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive, retain]
    who: [authenticated]
    topics: ["plant/#", "open/#"]
`
	users := []string{"valve", "ops"}
	for _, u := range users {
		e.pwFile[u] = filepath.Join(e.dir, u+".pw")
		if err := os.WriteFile(e.pwFile[u], []byte(aclPassword(u)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := startACL(t, policy, users, func(c *config.Config) {
		c.SignedTopics = config.SignedTopics{Keys: e.registry, AllowReplayAfterRestart: true, Rules: []config.SignedRule{
			{Topics: []string{"plant/+/cmd"}},                  // retain denied (the default)
			{Topics: []string{"plant/+/state"}, Retain: true}}} // retain allowed
	})
	e.host, e.port, _ = net.SplitHostPort(env.addr)
	return e
}

// moat runs the binary to completion, fails the test unless it exits with
// want, and returns its trimmed standard output.
func (e *signedToolsEnv) moat(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, errOut, code := e.run(t, args...)
	if code != want {
		t.Fatalf("moat %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

func (e *signedToolsEnv) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("moat %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(o.String()), se.String(), code
}

// conn returns the connection flags of user.
func (e *signedToolsEnv) conn(user string, extra ...string) []string {
	return append([]string{"-h", e.host, "-p", e.port, "-u", user, "--password-file", e.pwFile[user]}, extra...)
}

// pub runs moat pub as valve, signing with its key.
func (e *signedToolsEnv) pub(t *testing.T, want int, extra ...string) string {
	t.Helper()
	args := append([]string{"pub"}, e.conn("valve", "--sign-key", filepath.Join(e.dir, "valve.key"), "--kid", "valve-1", "-q", "1")...)
	_, errOut, code := e.run(t, append(args, extra...)...)
	if code != want {
		t.Fatalf("moat pub %s: exit %d, want %d\nstderr: %s", strings.Join(extra, " "), code, want, errOut)
	}
	return errOut
}

// toolSub is a running moat sub.
type toolSub struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	mu     sync.Mutex
	lines  []string
	done   chan struct{} // closed when the process was waited for
	err    error
}

// sub starts moat sub as ops and returns once it has subscribed.
func (e *signedToolsEnv) sub(t *testing.T, extra ...string) *toolSub {
	t.Helper()
	return e.subWith(t, append(e.conn("ops"), extra...)...)
}

// subWith starts moat sub with args and returns once it has subscribed.
func (e *signedToolsEnv) subWith(t *testing.T, args ...string) *toolSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	s := &toolSub{done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, e.bin, append([]string{"sub"}, args...)...)
	s.cmd.WaitDelay = time.Second
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	subscribed := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.Contains(sc.Text(), "subscribed to") {
				once.Do(func() { close(subscribed) })
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	go func() {
		wg.Wait()
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	select {
	case <-subscribed:
	case <-s.done:
		t.Fatalf("moat sub exited before subscribing: %v\n%s", s.err, s.stderr.String())
	case <-time.After(waitTimeout):
		t.Fatal("moat sub did not subscribe")
	}
	return s
}

// wait waits for moat sub to exit and returns its output lines and exit
// code.
func (s *toolSub) wait(t *testing.T) ([]string, int) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("moat sub did not exit; so far:\n%s\n%s", strings.Join(s.lines, "\n"), s.stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		code = ee.ExitCode()
	} else if s.err != nil {
		t.Fatalf("moat sub: %v", s.err)
	}
	return s.lines, code
}

// expectLines checks each line against its pattern, in order.
func expectLines(t *testing.T, lines []string, patterns ...string) {
	t.Helper()
	if len(lines) != len(patterns) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(patterns), strings.Join(lines, "\n"))
	}
	for i, p := range patterns {
		if !regexp.MustCompile(p).MatchString(lines[i]) {
			t.Errorf("line %d:\n  %s\ndoes not match\n  %s", i+1, lines[i], p)
		}
	}
}

// TestSignedTools_PubSubVerify: moat pub signs (MQTT 5 detached, MQTT 3.1.1
// envelope), the broker enforces and delivers, moat sub verifies.
func TestSignedTools_PubSubVerify(t *testing.T) {
	e := startSignedTools(t)
	sub := e.sub(t, "-t", "plant/7/cmd", "-q", "1", "--verify", "--keys", e.registry, "--count", "3")
	e.pub(t, 0, "-t", "plant/7/cmd", "-m", "open", "--repeat", "2", "--content-type", "text/plain")
	e.pub(t, 0, "-V", "311", "-t", "plant/7/cmd", "-m", "close")
	lines, code := sub.wait(t)
	const ok = `^verified topic="plant/7/cmd" identity="valve" kid="valve-1" alg=ed25519 epoch=\d+ seq=`
	expectLines(t, lines,
		ok+`1 issued=\S+Z age=\S+ retained=false payload="open"$`,
		ok+`2 issued=\S+Z age=\S+ retained=false payload="open"$`,
		ok+`1 issued=\S+Z age=\S+ envelope=true retained=false payload="close"$`)
	if code != 0 {
		t.Fatalf("moat sub exited %d with every message verified", code)
	}
}

// TestSignedTools_SubReportsFailures: on a topic the broker does not
// enforce, what an honest broker forwards is judged by the subscriber: an
// unsigned message, a captured message sent twice, and a genuine message
// moved to another topic are each reported, and moat sub exits 1.
func TestSignedTools_SubReportsFailures(t *testing.T) {
	requireMosquitto(t)
	e := startSignedTools(t)
	sub := e.sub(t, "-t", "open/#", "-q", "1", "--verify", "--keys", e.registry, "--count", "4")
	m5 := mosqClients{host: e.host, port: e.port, version: "mqttv5"}
	auth := []string{"-u", "valve", "-P", aclPassword("valve"), "-q", "1"}
	m5.pub(t, append(auth, "-t", "open/1", "-m", "plain")...)
	captured := e.moat(t, 0, "sign", "message", "--key", filepath.Join(e.dir, "valve.key"), "--kid", "valve-1",
		"--identity", "valve", "--topic", "open/1", "--epoch", "1", "--seq", "7", "--payload", "on")
	for _, topic := range []string{"open/1", "open/1", "open/2"} {
		m5.pub(t, append(auth, "-t", topic, "-m", "on", "-D", "publish", "user-property", "moat-sig", captured)...)
	}
	lines, code := sub.wait(t)
	expectLines(t, lines,
		`^FAILED topic="open/1" reason=missing retained=false payload="plain"$`,
		`^verified topic="open/1" identity="valve" kid="valve-1" alg=ed25519 epoch=1 seq=7 .*payload="on"$`,
		`^FAILED topic="open/1" reason=replayed identity="valve" kid="valve-1" alg=ed25519 epoch=1 seq=7 .*payload="on"$`,
		`^FAILED topic="open/2" reason=wrong_topic retained=false payload="on"$`)
	if code != 1 {
		t.Fatalf("moat sub exited %d after failed messages, want 1", code)
	}
}

// TestSignedTools_Retain: on a signed rule that denies retain, a signed
// retained publish is refused with 0x87 and not retained; where retain is
// allowed, a later subscriber gets the retained message and verifies it.
func TestSignedTools_Retain(t *testing.T) {
	e := startSignedTools(t)
	if out := e.pub(t, 1, "-t", "plant/7/cmd", "-m", "open", "-r"); !strings.Contains(out, "refused: 0x87") {
		t.Fatalf("retained signed publish on a retain-denied rule: %s", out)
	}
	// A later subscriber's first message is a live one, not the refused
	// retained one.
	sub := e.sub(t, "-t", "plant/7/cmd", "-q", "1", "--verify", "--keys", e.registry, "--count", "1")
	e.pub(t, 0, "-t", "plant/7/cmd", "-m", "live")
	lines, code := sub.wait(t)
	expectLines(t, lines, `^verified topic="plant/7/cmd" .* retained=false payload="live"$`)
	if code != 0 {
		t.Fatalf("moat sub exited %d", code)
	}

	e.pub(t, 0, "-t", "plant/7/state", "-m", "42", "-r")
	sub = e.sub(t, "-t", "plant/7/state", "-q", "1", "--verify", "--keys", e.registry, "--count", "1")
	lines, code = sub.wait(t)
	expectLines(t, lines, `^verified topic="plant/7/state" identity="valve" kid="valve-1" .* retained=true payload="42"$`)
	if code != 0 {
		t.Fatalf("moat sub exited %d", code)
	}
}

// TestSignedTools_CertificateKeys: with certificate_keys in the registry, a
// client authenticated by its certificate signs with the certificate's
// key (kid: its sha256: SPKI id) and no registry entry; a key that is not
// its certificate's is refused, and so is the certificate's key when the
// identity is not listed. A subscriber trusting the certificate's public
// key verifies the message.
func TestSignedTools_CertificateKeys(t *testing.T) {
	p := newTestPKI(t)
	e := &signedToolsEnv{bin: buildMoatBinary(t), dir: t.TempDir()}
	id := clientEmail(clientValid)
	e.registry = filepath.Join(e.dir, "keys.json")
	write := func(ids string) {
		t.Helper()
		if err := os.WriteFile(e.registry, []byte(`{"keys": [], "certificate_keys": [`+ids+`]}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`"` + id + `"`)
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["plant/#"]
`
	aclFile := filepath.Join(e.dir, "acl.yaml")
	if err := os.WriteFile(aclFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	pwFile := writeUsers(t, map[string]string{"ops": aclPassword("ops")})
	opsPw := filepath.Join(e.dir, "ops.pw")
	if err := os.WriteFile(opsPw, []byte(aclPassword("ops")), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{mtlsListener(p, "mtls")}
		c.Auth.PasswordFile = pwFile
		c.ACL.File = aclFile
		c.SignedTopics = config.SignedTopics{Keys: e.registry, AllowReplayAfterRestart: true,
			Rules: []config.SignedRule{{Topics: []string{"plant/+/cmd"}}}}
	})
	e.host, e.port = "127.0.0.1", b.port(0)
	tlsFlags := []string{"-h", e.host, "-p", e.port, "--cafile", p.CA, "--cert", p.clientCert(clientValid), "--key", p.clientKey(clientValid)}

	trust := filepath.Join(e.dir, "trust.json")
	entry := e.moat(t, 0, "keys", "export", "--pub", p.clientCert(clientValid), "--identity", id)
	if err := os.WriteFile(trust, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := e.subWith(t, append(tlsFlags, "-t", "plant/#", "-q", "1", "--verify", "--trust-key", trust, "--count", "1")...)

	pub := func(want int, signKey string, login ...string) string {
		t.Helper()
		if login == nil {
			login = []string{"--identity", id}
		}
		args := append(append(append([]string{"pub"}, tlsFlags...), login...), "-t", "plant/7/cmd", "-m", "open", "-q", "1",
			"--sign-key", signKey)
		_, errOut, code := e.run(t, args...)
		if code != want {
			t.Fatalf("moat pub with %s: exit %d, want %d\n%s", signKey, code, want, errOut)
		}
		return errOut
	}
	other := filepath.Join(e.dir, "other.key")
	e.moat(t, 0, "keys", "gen", "--out", other)
	if out := pub(1, other); !strings.Contains(out, "0x87") {
		t.Fatalf("a key that is not the certificate's: %s", out)
	}
	pub(0, p.clientKey(clientValid))
	lines, code := sub.wait(t)
	expectLines(t, lines, `^verified topic="plant/7/cmd" identity="`+regexp.QuoteMeta(id)+`" kid="sha256:[A-Za-z0-9_-]{43}" alg=es256 .*payload="open"$`)
	if code != 0 {
		t.Fatalf("moat sub exited %d", code)
	}

	// A client that logs in with a password as another identity, over the
	// same certificate, cannot sign with the certificate's key: the key
	// is the certificate identity's, even under "*".
	write(`"*"`)
	if err := b.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if out := pub(1, p.clientKey(clientValid), "-u", "ops", "--password-file", opsPw); !strings.Contains(out, "0x87") {
		t.Fatalf("certificate key used by a password login: %s", out)
	}

	// Not listed any more (the registry is read again on reload).
	write(`"someone-else"`)
	if err := b.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if out := pub(1, p.clientKey(clientValid)); !strings.Contains(out, "0x87") {
		t.Fatalf("certificate key of an identity not in certificate_keys: %s", out)
	}
}
